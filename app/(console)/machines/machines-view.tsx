"use client";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useId, useState } from "react";
import { DataTable } from "@/components/data-table";
import { SuccessNotice } from "@/components/notice";
import { SearchInput } from "@/components/search-input";
import {
  Checksum,
  HealthBadge,
  healthOptions,
  LabelChips,
  OnlineBadge,
  RelativeTime,
  StateBadge,
  UpdateStateBadge,
  updateStateOptions,
} from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { PAGE_SIZES, pageSizeOf, pageSizeParam, useUrlState } from "@/components/url-state";
import type { RouterInputs, RouterOutputs } from "@/components/router-types";
import { plural } from "@/components/step-bar";
import { useMe } from "@/components/use-me";
import { foreignUpdaterWords, isAppRef, MAX_MATCHING } from "@/server/vocabulary";
import { BulkDialog, type BulkKind } from "./bulk-actions";

type Row = RouterOutputs["machines"]["list"]["rows"][number];

const SORTS = ["hostname", "machineId", "ring", "health", "updateState", "version", "lastSeenAt", "enrolledAt"] as const;
type Sort = (typeof SORTS)[number];
type Health = "healthy" | "degraded" | "unhealthy" | "unknown";
type UpdateState = Row["updateState"];
type LastSeen = NonNullable<RouterInputs["machines"]["list"]["lastSeen"]>;

const LAST_SEEN_OPTIONS: { value: LastSeen; label: string }[] = [
  { value: "15m", label: "Within 15 min" },
  { value: "1h", label: "Silent for over 1 h" },
  { value: "24h", label: "Silent for over 24 h" },
  { value: "7d", label: "Silent for over 7 days" },
  { value: "never", label: "Never" },
];

const dataColumns: ColumnDef<Row, unknown>[] = [
  {
    id: "hostname",
    header: "Hostname",
    cell: ({ row }) => {
      const foreign = foreignUpdaterWords(row.original.backend);
      const link = (
        <Link href={`/machines/${encodeURIComponent(row.original.machineId)}`} className="strong nowrap">
          {row.original.hostname}
        </Link>
      );
      if (!foreign) return link;
      return (
        <span className="badges">
          {link}
          <StateBadge tone="info">{foreign.kind}</StateBadge>
        </span>
      );
    },
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
    id: "branch",
    header: "Branch",
    cell: ({ row }) => (row.original.bootedRef ? <code className="small">{row.original.bootedRef}</code> : <span className="muted">—</span>),
  },
  { id: "labels", header: "Labels", cell: ({ row }) => <LabelChips labels={row.original.labels} /> },
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
  const pageSize = pageSizeOf(url.get("size"));
  const version = url.get("version") ?? "";
  const branch = url.get("branch") ?? "";
  const appRef = url.get("app") ?? "";
  const appVersion = url.get("appVersion") ?? "";
  const label = url.get("label") ?? "";
  const lastSeenParam = url.get("seen") as LastSeen | undefined;
  const lastSeen = LAST_SEEN_OPTIONS.some((o) => o.value === lastSeenParam) ? lastSeenParam : undefined;
  const labelValid = !label || /^[^=\s]+=.*$/.test(label);
  const { can } = useMe();
  const operator = can("operator");
  // Ticked machines by id: kept across polls, pages and filters until acted on or cleared.
  const [selected, setSelected] = useState<Set<string>>(() => new Set());
  const [bulk, setBulk] = useState<BulkKind | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const versionsId = useId();
  const branchesId = useId();
  const appsId = useId();
  const appVersionsId = useId();
  const releases = useQuery({ ...trpc.releases.list.queryOptions({}), staleTime: 60_000 });

  const rings = useQuery(trpc.rings.list.queryOptions());
  // The table's filter: what a page shows, and what "every machine matching" acts on.
  const filter = {
    ring,
    health,
    updateState,
    version: version || undefined,
    branch: branch || undefined,
    app: appRef || undefined,
    appVersion: appRef && appVersion ? appVersion : undefined,
    label: labelValid ? label || undefined : undefined,
    lastSeen,
    q: q || undefined,
  };
  const filterKey = JSON.stringify(filter);
  // "Every machine matching": held for the filter it was chosen under, dropped when the filter changes.
  const [matchingKey, setMatchingKey] = useState<string | null>(null);
  // "Count them all": asked for the filter it was asked under (a count of a million rows takes seconds).
  const [exactKey, setExactKey] = useState<string | null>(null);
  const machines = useQuery({
    ...trpc.machines.list.queryOptions({
      ...filter,
      sort,
      dir,
      page,
      pageSize,
      exactTotal: exactKey === filterKey,
    }),
    placeholderData: keepPreviousData,
    refetchInterval: 5000,
  });

  const rows = machines.data?.rows;
  const pageIds = rows?.map((r) => r.machineId) ?? [];
  const allOnPage = pageIds.length > 0 && pageIds.every((id) => selected.has(id));
  const total = machines.data?.total ?? 0;
  // False: more than `total` (the server's cap) match.
  const totalExact = machines.data?.totalExact ?? true;
  const allMatching = matchingKey === filterKey && total > 0 && totalExact && total <= MAX_MATCHING;
  const chosen = allMatching || selected.size > 0;
  const clearSelection = () => {
    setSelected(new Set());
    setMatchingKey(null);
  };
  const someOnPage = pageIds.some((id) => selected.has(id));
  const toggle = (ids: string[], on: boolean) =>
    setSelected((prev) => {
      const next = new Set(prev);
      for (const id of ids) {
        if (on) next.add(id);
        else next.delete(id);
      }
      return next;
    });
  const selectColumn: ColumnDef<Row, unknown> = {
    id: "select",
    header: () => (
      <input
        type="checkbox"
        aria-label="Select every machine on this page"
        checked={allOnPage}
        ref={(el) => {
          if (el) el.indeterminate = someOnPage && !allOnPage;
        }}
        onChange={(e) => toggle(pageIds, e.target.checked)}
      />
    ),
    cell: ({ row }) => (
      <input
        type="checkbox"
        aria-label={`Select ${row.original.hostname}`}
        checked={selected.has(row.original.machineId)}
        onChange={(e) => toggle([row.original.machineId], e.target.checked)}
      />
    ),
  };
  const columns = operator ? [selectColumn, ...dataColumns] : dataColumns;
  const filtered = Boolean(ring || health || updateState || q || version || branch || appRef || label || lastSeen);
  // Releases of Flatpak apps (their refs are app/…) are the app filters' choices; the others the booted version's.
  const osReleases = releases.data?.filter((r) => !isAppRef(r.branch.ref)) ?? [];
  const versions = [...new Set(osReleases.map((r) => r.version))];
  const appRefs = [...new Set(releases.data?.filter((r) => isAppRef(r.branch.ref)).map((r) => r.branch.ref) ?? [])];
  const appVersions = [...new Set(releases.data?.filter((r) => r.branch.ref === appRef).map((r) => r.version) ?? [])];
  const branches = [...new Set([...(releases.data?.map((r) => r.branch.ref) ?? []), ...(rings.data?.map((r) => r.branch.ref) ?? [])])];

  return (
    <>
      <div className="page-header">
        <h1>Machines</h1>
        <p className="muted">
          {!machines.data ? (
            "\u00a0"
          ) : totalExact ? (
            plural(total, "machine")
          ) : (
            <>
              More than {plural(total, "machine")}{" "}
              <button type="button" className="link-like" onClick={() => setExactKey(filterKey)} disabled={exactKey === filterKey}>
                {exactKey === filterKey ? "counting…" : "count them all"}
              </button>
            </>
          )}
        </p>
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
        <SearchInput
          label="Version"
          type="text"
          placeholder="booted version"
          list={versionsId}
          value={version}
          onSearch={(text) => url.set({ version: text.trim() || undefined, page: undefined })}
        />
        <datalist id={versionsId}>
          {versions.map((v) => (
            <option key={v} value={v} />
          ))}
        </datalist>
        <SearchInput
          label="Branch"
          type="text"
          placeholder="ostree ref"
          list={branchesId}
          value={branch}
          onSearch={(text) => url.set({ branch: text.trim() || undefined, page: undefined })}
        />
        <datalist id={branchesId}>
          {branches.map((b) => (
            <option key={b} value={b} />
          ))}
        </datalist>
        <SearchInput
          label="App"
          type="text"
          placeholder="app/ID/ARCH/BRANCH"
          list={appsId}
          value={appRef}
          onSearch={(text) => url.set({ app: text.trim() || undefined, appVersion: undefined, page: undefined })}
        />
        <datalist id={appsId}>
          {appRefs.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        {appRef && (
          <>
            <SearchInput
              label="App version"
              type="text"
              placeholder="any version"
              list={appVersionsId}
              value={appVersion}
              onSearch={(text) => url.set({ appVersion: text.trim() || undefined, page: undefined })}
            />
            <datalist id={appVersionsId}>
              {appVersions.map((v) => (
                <option key={v} value={v} />
              ))}
            </datalist>
          </>
        )}
        <SearchInput
          label="Label"
          type="text"
          placeholder="key=value"
          value={label}
          onSearch={(text) => url.set({ label: text.trim() || undefined, page: undefined })}
        />
        <label>
          Last seen
          <select value={lastSeen ?? ""} onChange={(e) => url.set({ seen: e.target.value, page: undefined })}>
            <option value="">Any time</option>
            {LAST_SEEN_OPTIONS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        {filtered && (
          <button
            type="button"
            onClick={() =>
              url.set({ ring: undefined, health: undefined, update: undefined, q: undefined, version: undefined, branch: undefined, app: undefined, appVersion: undefined, label: undefined, seen: undefined, page: undefined })
            }
          >
            Clear filters
          </button>
        )}
      </form>
      {!labelValid && (
        <p role="alert" className="notice error">
          Label: write it as key=value, for example site=fra-1.
        </p>
      )}
      {done && <SuccessNotice onDismiss={() => setDone(null)}>{done}</SuccessNotice>}
      {operator && (
        <div className="bulk-bar" role="toolbar" aria-label="Bulk actions">
          <span className="bulk-count" aria-live="polite">
            {allMatching
              ? `All ${plural(total, "machine")} matching the filter selected`
              : selected.size === 0
                ? "Select machines to act on several at once."
                : `${plural(selected.size, "machine")} selected`}
          </span>
          {allOnPage && !allMatching && (!totalExact || total > MAX_MATCHING) && (
            <span className="muted">
              {totalExact ? plural(total, "machine") : `More than ${plural(total, "machine")}`} match the filter: narrow it to{" "}
              {MAX_MATCHING.toLocaleString()} or fewer to act on all of them.
            </span>
          )}
          {allOnPage && !allMatching && totalExact && total <= MAX_MATCHING && total > pageIds.length && (
            <button type="button" className="link-like" onClick={() => setMatchingKey(filterKey)}>
              Select all {plural(total, "machine")} matching the filter
            </button>
          )}
          <button type="button" disabled={!chosen} onClick={() => setBulk("pin")}>
            Pin…
          </button>
          <button type="button" disabled={!chosen} onClick={() => setBulk("unpin")}>
            Unpin…
          </button>
          <button type="button" disabled={!chosen} onClick={() => setBulk("move")}>
            Move to ring…
          </button>
          <button type="button" className="danger-outline" disabled={!chosen} onClick={() => setBulk("rollback")}>
            Roll back…
          </button>
          {chosen && (
            <button type="button" className="link-like" onClick={clearSelection}>
              Clear selection
            </button>
          )}
        </div>
      )}
      <BulkDialog
        kind={bulk}
        target={allMatching ? { matching: filter, count: total } : { machineIds: [...selected] }}
        onClose={() => setBulk(null)}
        onDone={(message) => {
          setBulk(null);
          clearSelection();
          setDone(message);
        }}
      />
      <DataTable
        caption="Machines"
        columns={columns}
        rows={rows}
        rowKey={(r) => r.machineId}
        loading={machines.isFetching}
        error={machines.error?.message}
        empty="No machines match. Enroll one with an enrollment token, or clear the filters."
        sorting={{ sort, dir, onSort: (s, d) => url.set({ sort: s, dir: d, page: undefined }) }}
        paging={{
          page,
          pageSize,
          total: machines.data?.total ?? 0,
          totalExact,
          more: machines.data?.nextCursor != null,
          onPage: (p) => url.set({ page: p || undefined }),
          pageSizes: PAGE_SIZES,
          // A new page size starts again at the first page.
          onPageSize: (size) => url.set({ size: pageSizeParam(size), page: undefined }),
        }}
      />
    </>
  );
}
