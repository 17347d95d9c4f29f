"use client";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useState } from "react";
import { DataTable } from "@/components/data-table";
import { SuccessNotice } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { SearchInput } from "@/components/search-input";
import { Checksum, DateTime, QuarantinedBadge, SignatureBadge, StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";
import { useMe } from "@/components/use-me";
import { AddReleaseForm } from "./add-release-form";
import { BrakeDialog, LiftQuarantineDialog } from "./brake-dialog";

export type Row = RouterOutputs["releases"]["page"]["rows"][number];

const PAGE_SIZE = 50;
const SORTS = ["createdAt", "version", "ref"] as const;
type Sort = (typeof SORTS)[number];

const baseColumns: ColumnDef<Row, unknown>[] = [
  { id: "ref", header: "Branch", cell: ({ row }) => <code>{row.original.branch.ref}</code> },
  {
    id: "version",
    header: "Version",
    cell: ({ row }) => (
      <span className="version-cell">
        <Link href={`/releases/${encodeURIComponent(row.original.id)}`} className="strong">
          {row.original.version}
        </Link>{" "}
        {row.original.quarantinedAt && (
          <QuarantinedBadge since={row.original.quarantinedAt} reason={row.original.quarantineReason} />
        )}{" "}
        {row.original.currentFor.map((ring) => (
          <StateBadge key={ring.name} tone="good">
            current in {ring.name}
          </StateBadge>
        ))}
      </span>
    ),
  },
  {
    id: "signature",
    header: "Signature",
    enableSorting: false,
    cell: ({ row }) => <SignatureBadge state={row.original.signatureState} reason={row.original.signatureReason} />,
  },
  {
    id: "running",
    header: "Running on",
    enableSorting: false,
    cell: ({ row }) =>
      row.original.bootedMachines > 0 ? (
        <Link href={`/machines?version=${encodeURIComponent(row.original.version)}`}>
          {row.original.bootedMachines.toLocaleString("en")} {row.original.bootedMachines === 1 ? "machine" : "machines"}
        </Link>
      ) : (
        <span className="muted">no machine</span>
      ),
  },
  { id: "checksum", header: "Checksum", enableSorting: false, cell: ({ row }) => <Checksum value={row.original.checksum} copyable /> },
  {
    id: "createdAt",
    header: "Added",
    cell: ({ row }) => (
      <span>
        <DateTime value={row.original.createdAt} stacked />
        <span className="block muted small">
          {row.original.source ? `from ${row.original.source.name}` : "by hand"}
          {row.original.builtAt && (
            <>
              {", built "}
              <DateTime value={row.original.builtAt} />
            </>
          )}
        </span>
      </span>
    ),
  },
  {
    id: "notes",
    header: "Notes",
    enableSorting: false,
    cell: ({ row }) =>
      row.original.notes ? <span className="notes-cell">{row.original.notes}</span> : <span className="muted">—</span>,
  },
];

export function ReleasesView() {
  const trpc = useTRPC();
  const url = useUrlState();
  const { can, canOnFleet } = useMe();
  const operator = can("operator");
  // The brake and lifting a quarantine act on every ring that runs the release: not for an operator of some rings.
  const fleetOperator = canOnFleet("operator");
  const [adding, setAdding] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [braking, setBraking] = useState<Row | null>(null);
  const [lifting, setLifting] = useState<Row | null>(null);
  const ref = url.get("ref");
  const q = url.get("q") ?? "";
  const sortParam = url.get("sort") as Sort | undefined;
  const sort: Sort = sortParam && SORTS.includes(sortParam) ? sortParam : "createdAt";
  const dir = url.get("dir") === "asc" ? "asc" : "desc";
  const page = Math.max(0, Number.parseInt(url.get("page") ?? "0", 10) || 0);

  const branchList = useQuery(trpc.releases.branches.queryOptions());
  const branches = (branchList.data ?? []).map((b) => b.ref);
  if (ref && !branches.includes(ref)) branches.push(ref);
  const releases = useQuery({
    ...trpc.releases.page.queryOptions({ ref, q: q || undefined, sort, dir, page, pageSize: PAGE_SIZE }),
    placeholderData: keepPreviousData,
  });

  const columns: ColumnDef<Row, unknown>[] = operator
    ? [
        ...baseColumns,
        {
          id: "actions",
          header: "Actions",
          enableSorting: false,
          cell: ({ row }) => (
            <span className="row-actions">
              {!row.original.quarantinedAt && row.original.sendable && (
                <Link
                  className="button-link"
                  href={`/rollouts/new?version=${encodeURIComponent(row.original.version)}&ref=${encodeURIComponent(row.original.branch.ref)}`}
                >
                  Roll out…
                </Link>
              )}
              {fleetOperator && (
                <button type="button" className="danger-outline" onClick={() => setBraking(row.original)}>
                  Emergency brake…
                </button>
              )}
              {fleetOperator && row.original.quarantinedAt && (
                <button type="button" onClick={() => setLifting(row.original)}>
                  Lift quarantine…
                </button>
              )}
            </span>
          ),
        },
      ]
    : baseColumns;

  return (
    <>
      <div className="page-header">
        <h1>Releases</h1>
        <p className="muted">
          {releases.data ? `${releases.data.total.toLocaleString()} releases · ` : ""}immutable commits of a branch: ref,
          checksum and version · <Link href="/releases/sources">Release sources</Link>
        </p>
        <div className="actions">
          <Link className="button-link" href={`/releases/paths${ref ? `?ref=${encodeURIComponent(ref)}` : ""}`}>
            Update paths
          </Link>
          {operator && (
            <button type="button" className="primary" aria-expanded={adding} onClick={() => setAdding(!adding)}>
              {adding ? "Close" : "Add release"}
            </button>
          )}
        </div>
      </div>
      {operator && !fleetOperator && (
        <p className="page-intro">
          The emergency brake stops a release on every ring, and you hold your role on some rings only: an operator of
          every ring pulls it.
        </p>
      )}
      {result && <SuccessNotice onDismiss={() => setResult(null)}>{result}</SuccessNotice>}
      {operator && adding && (
        <AddReleaseForm
          branches={branches}
          defaultRef={ref ?? branches[0]}
          onAdded={(text) => {
            setAdding(false);
            setResult(text);
          }}
          onCancel={() => setAdding(false)}
        />
      )}
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <SearchInput
          label="Search"
          placeholder="version or checksum prefix"
          value={q}
          onSearch={(text) => url.set({ q: text || undefined, page: undefined })}
        />
        <label>
          Branch
          <select value={ref ?? ""} onChange={(e) => url.set({ ref: e.target.value, page: undefined })}>
            <option value="">All branches</option>
            {branches.map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
        </label>
      </form>
      <DataTable
        caption="Releases"
        columns={columns}
        rows={releases.data?.rows}
        rowKey={(r) => r.id}
        loading={releases.isFetching}
        error={releases.error?.message}
        empty={
          q || ref
            ? "No release matches. Clear the search or pick another branch."
            : operator
              ? "No releases yet. Add the first one with “Add release”."
              : "No releases yet."
        }
        sorting={{ sort, dir, onSort: (s, d) => url.set({ sort: s, dir: d, page: undefined }) }}
        paging={{
          page,
          pageSize: PAGE_SIZE,
          total: releases.data?.total ?? 0,
          onPage: (p) => url.set({ page: p || undefined }),
        }}
      />
      {operator && braking && (
        <BrakeDialog
          release={braking}
          onClose={() => setBraking(null)}
          onDone={(text) => {
            setBraking(null);
            setResult(text);
          }}
        />
      )}
      {operator && lifting && (
        <LiftQuarantineDialog
          release={lifting}
          onClose={() => setLifting(null)}
          onDone={(text) => {
            setLifting(null);
            setResult(text);
          }}
        />
      )}
    </>
  );
}
