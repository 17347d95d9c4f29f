"use client";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { DataTable } from "@/components/data-table";
import { SearchInput } from "@/components/search-input";
import {
  Checksum,
  HealthBadge,
  healthOptions,
  OnlineBadge,
  RelativeTime,
  UpdateStateBadge,
  updateStateOptions,
} from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";
import type { RouterOutputs } from "@/components/router-types";

type Row = RouterOutputs["machines"]["list"]["rows"][number];

const PAGE_SIZE = 50;
const SORTS = ["hostname", "machineId", "ring", "health", "updateState", "version", "lastSeenAt", "enrolledAt"] as const;
type Sort = (typeof SORTS)[number];
type Health = "healthy" | "degraded" | "unhealthy" | "unknown";
type UpdateState = Row["updateState"];

const columns: ColumnDef<Row, unknown>[] = [
  {
    id: "hostname",
    header: "Hostname",
    cell: ({ row }) => (
      <Link href={`/machines/${encodeURIComponent(row.original.machineId)}`} className="strong">
        {row.original.hostname}
      </Link>
    ),
  },
  { id: "machineId", header: "Machine id", cell: ({ row }) => <code>{row.original.machineId}</code> },
  { id: "ring", header: "Ring", cell: ({ row }) => row.original.ring ?? <span className="muted">none</span> },
  { id: "health", header: "Health", cell: ({ row }) => <HealthBadge status={row.original.healthStatus} /> },
  {
    id: "updateState",
    header: "Update",
    cell: ({ row }) => <UpdateStateBadge state={row.original.updateState} progress={row.original.updateProgress} />,
  },
  {
    id: "version",
    header: "Booted version",
    cell: ({ row }) => (
      <span>
        {row.original.bootedVersion ?? <span className="muted">—</span>} <Checksum value={row.original.bootedChecksum} />
      </span>
    ),
  },
  {
    id: "lastSeenAt",
    header: "Last seen",
    cell: ({ row }) => (
      <span className="nowrap">
        <OnlineBadge online={row.original.online} /> <RelativeTime value={row.original.lastSeenAt} />
      </span>
    ),
  },
];

export function MachinesView() {
  const trpc = useTRPC();
  const url = useUrlState();
  const ring = url.get("ring");
  const health = url.get("health") as Health | undefined;
  const updateState = url.get("update") as UpdateState | undefined;
  const q = url.get("q") ?? "";
  const sortParam = url.get("sort") as Sort | undefined;
  const sort: Sort = sortParam && SORTS.includes(sortParam) ? sortParam : "hostname";
  const dir = url.get("dir") === "desc" ? "desc" : "asc";
  const page = Math.max(0, Number.parseInt(url.get("page") ?? "0", 10) || 0);

  const rings = useQuery(trpc.rings.list.queryOptions());
  const machines = useQuery({
    ...trpc.machines.list.queryOptions({
      ring,
      health,
      updateState,
      q: q || undefined,
      sort,
      dir,
      page,
      pageSize: PAGE_SIZE,
    }),
    placeholderData: keepPreviousData,
    refetchInterval: 5000,
  });

  return (
    <>
      <div className="page-header">
        <h1>Machines</h1>
        <p className="muted">{machines.data ? `${machines.data.total.toLocaleString()} machines` : " "}</p>
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <SearchInput
          label="Search"
          placeholder="hostname or machine id"
          value={q}
          onSearch={(text) => url.set({ q: text || undefined, page: undefined })}
        />
        <label>
          Ring
          <select value={ring ?? ""} onChange={(e) => url.set({ ring: e.target.value, page: undefined })}>
            <option value="">All rings</option>
            {rings.data?.map((r) => (
              <option key={r.name} value={r.name}>
                {r.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Health
          <select value={health ?? ""} onChange={(e) => url.set({ health: e.target.value, page: undefined })}>
            <option value="">Any health</option>
            {healthOptions.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Update state
          <select value={updateState ?? ""} onChange={(e) => url.set({ update: e.target.value, page: undefined })}>
            <option value="">Any state</option>
            {updateStateOptions.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
      </form>
      <DataTable
        caption="Machines"
        columns={columns}
        rows={machines.data?.rows}
        rowKey={(r) => r.machineId}
        loading={machines.isFetching}
        error={machines.error?.message}
        empty="No machines match. Enroll one with an enrollment token, or clear the filters."
        sorting={{ sort, dir, onSort: (s, d) => url.set({ sort: s, dir: d, page: undefined }) }}
        paging={{
          page,
          pageSize: PAGE_SIZE,
          total: machines.data?.total ?? 0,
          onPage: (p) => url.set({ page: p || undefined }),
        }}
      />
    </>
  );
}
