"use client";
// What changed in a release since the previous release of its branch, as the
// server stored it when the release's source brought it: the release page
// and the new-rollout page both show it.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useState } from "react";
import { DataTable } from "@/components/data-table";
import type { RouterOutputs } from "@/components/router-types";
import { SearchInput } from "@/components/search-input";
import { StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";

type Release = RouterOutputs["releases"]["get"];
type Changes = NonNullable<Release["changes"]>;
type Image = NonNullable<Changes["image"]>;
type Layer = Image["layersAdded"][number];
type PathRow = RouterOutputs["releases"]["changedPaths"]["rows"][number];

const CHANGE_LABEL = { A: "Added", D: "Removed", M: "Modified" } as const;
const CHANGE_TONE = { A: "good", D: "bad", M: "info" } as const;

export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  const sign = bytes < 0 ? "−" : "";
  if (abs < 1024) return `${sign}${abs} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = abs / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${sign}${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

interface KeyRow {
  key: string;
  change: "A" | "D" | "M";
  from: string | null;
  to: string | null;
}

function keyRows(added: Record<string, unknown>, removed: Record<string, unknown>, changed: Record<string, { from: unknown; to: unknown }>): KeyRow[] {
  return [
    ...Object.entries(changed).map(([key, v]) => ({ key, change: "M" as const, from: show(v.from), to: show(v.to) })),
    ...Object.entries(added).map(([key, v]) => ({ key, change: "A" as const, from: null, to: show(v) })),
    ...Object.entries(removed).map(([key, v]) => ({ key, change: "D" as const, from: show(v), to: null })),
  ].sort((a, b) => a.key.localeCompare(b.key));
}

const keyColumns: ColumnDef<KeyRow, unknown>[] = [
  { id: "change", header: "Change", cell: ({ row }) => <StateBadge tone={CHANGE_TONE[row.original.change]}>{CHANGE_LABEL[row.original.change]}</StateBadge> },
  { id: "key", header: "Key", cell: ({ row }) => <code>{row.original.key}</code> },
  { id: "from", header: "Before", cell: ({ row }) => (row.original.from === null ? <span className="muted">—</span> : <span className="detail-text">{row.original.from}</span>) },
  { id: "to", header: "After", cell: ({ row }) => (row.original.to === null ? <span className="muted">—</span> : <span className="detail-text">{row.original.to}</span>) },
];

interface LayerRow extends Layer {
  change: "added" | "removed" | "kept";
}

const layerColumns: ColumnDef<LayerRow, unknown>[] = [
  {
    id: "change",
    header: "Layer",
    cell: ({ row }) =>
      row.original.change === "added" ? (
        <StateBadge tone="good">Added</StateBadge>
      ) : row.original.change === "removed" ? (
        <StateBadge tone="bad">Removed</StateBadge>
      ) : (
        <StateBadge tone="neutral">Kept</StateBadge>
      ),
  },
  { id: "digest", header: "Digest", cell: ({ row }) => <code title={row.original.digest}>{row.original.digest.slice(0, 19)}…</code> },
  { id: "size", header: "Size", cell: ({ row }) => <span className="nowrap">{formatBytes(row.original.size)}</span> },
  { id: "mediaType", header: "Media type", cell: ({ row }) => <span className="muted small">{row.original.mediaType}</span> },
];

/** Counts, commit metadata, layers and labels; `pageLink` adds a link to the release's page (for the paths). */
export function ChangesSummary({ release, pageLink = false }: { release: Release; pageLink?: boolean }) {
  const c = release.changes;
  if (!c) {
    return (
      <section className="card changes" aria-labelledby="changes-title">
        <h2 id="changes-title">What changed</h2>
        <p className="muted">{release.changesAbsent}</p>
      </section>
    );
  }
  const base = c.base.id ? <Link href={`/releases/${encodeURIComponent(c.base.id)}`}>{c.base.version}</Link> : c.base.version;
  const metadata = c.metadata ? keyRows(c.metadata.added, c.metadata.removed, c.metadata.changed) : [];
  const labels = c.image ? keyRows(c.image.labelsAdded, c.image.labelsRemoved, c.image.labelsChanged) : [];
  const layers: LayerRow[] = c.image
    ? [
        ...c.image.layersAdded.map((l) => ({ ...l, change: "added" as const })),
        ...c.image.layersRemoved.map((l) => ({ ...l, change: "removed" as const })),
        ...c.image.layersKept.map((l) => ({ ...l, change: "kept" as const })),
      ]
    : [];
  return (
    <section className="card changes" aria-labelledby="changes-title">
      <div className="card-header">
        <h2 id="changes-title">What changed since {base}</h2>
        {pageLink && <Link href={`/releases/${encodeURIComponent(release.id)}#paths`}>Release page, every changed path</Link>}
      </div>
      {c.error && (
        <p className="notice warning" role="status">
          <strong>{c.kind === "ostree" ? "Files not compared:" : "Layers not compared:"}</strong> {c.error}
        </p>
      )}
      {c.files && (
        <p className="change-counts" aria-label="Files">
          <StateBadge tone="good">{c.files.added.toLocaleString("en")} added</StateBadge>{" "}
          <StateBadge tone="bad">{c.files.removed.toLocaleString("en")} removed</StateBadge>{" "}
          <StateBadge tone="info">{c.files.modified.toLocaleString("en")} modified</StateBadge>
          <span className="muted small"> paths, as ostree diff counts them</span>
        </p>
      )}
      {c.image && (
        <p className="change-counts" aria-label="Layers">
          <StateBadge tone="good">{c.image.layersAdded.length} layers added</StateBadge>{" "}
          <StateBadge tone="bad">{c.image.layersRemoved.length} removed</StateBadge>{" "}
          <StateBadge tone="neutral">{c.image.layersKept.length} kept</StateBadge>
          <span className="muted small">
            {" "}
            size {c.image.sizeDelta >= 0 ? "+" : ""}
            {formatBytes(c.image.sizeDelta)} (compressed)
          </span>
        </p>
      )}
      {c.metadata && (
        <>
          <h3>Commit metadata</h3>
          {metadata.length ? (
            <DataTable caption="Commit metadata changes" columns={keyColumns} rows={metadata} rowKey={(r) => r.key} />
          ) : (
            <p className="muted">The same in both commits.</p>
          )}
        </>
      )}
      {c.image && (
        <>
          <h3>Layers</h3>
          <DataTable caption="Layers" columns={layerColumns} rows={layers} rowKey={(r) => `${r.change}-${r.digest}`} empty="No layers." />
          <h3>Labels</h3>
          {labels.length ? (
            <DataTable caption="Label changes" columns={keyColumns} rows={labels} rowKey={(r) => r.key} />
          ) : (
            <p className="muted">The same in both images.</p>
          )}
        </>
      )}
    </section>
  );
}

const pathColumns: ColumnDef<PathRow, unknown>[] = [
  {
    id: "change",
    header: "Change",
    cell: ({ row }) => (
      <StateBadge tone={CHANGE_TONE[row.original.change]}>
        <span aria-hidden="true">{row.original.change}</span> <span className="sr-only">{CHANGE_LABEL[row.original.change]}</span>
      </StateBadge>
    ),
  },
  { id: "path", header: "Path", cell: ({ row }) => <code className="path">{row.original.path}</code> },
];

const PAGE_SIZE = 100;

/** The changed paths of a release, filtered and paged by the server. */
export function ChangedPaths({ release }: { release: Release }) {
  const trpc = useTRPC();
  const [q, setQ] = useState("");
  const [change, setChange] = useState<"" | "A" | "D" | "M">("");
  const [page, setPage] = useState(0);
  const files = release.changes?.files;
  const paths = useQuery({
    ...trpc.releases.changedPaths.queryOptions({ id: release.id, q: q || undefined, change: change || undefined, page, pageSize: PAGE_SIZE }),
    placeholderData: keepPreviousData,
    enabled: Boolean(files),
  });
  if (!files) return null;
  return (
    <section className="card" id="paths" aria-labelledby="paths-title">
      <div className="card-header">
        <h2 id="paths-title">Changed paths</h2>
        {files.pathsTruncated && (
          <span className="muted small">
            the first {files.pathsKept.toLocaleString("en")} paths are listed; the counts cover them all
          </span>
        )}
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <SearchInput
          label="Path contains"
          placeholder="such as /etc/"
          value={q}
          onSearch={(text) => {
            setQ(text);
            setPage(0);
          }}
        />
        <label>
          Kind of change
          <select
            value={change}
            onChange={(e) => {
              setChange(e.target.value as typeof change);
              setPage(0);
            }}
          >
            <option value="">All</option>
            <option value="A">Added</option>
            <option value="D">Removed</option>
            <option value="M">Modified</option>
          </select>
        </label>
      </form>
      <DataTable
        caption="Changed paths"
        columns={pathColumns}
        rows={paths.data?.rows}
        rowKey={(r) => r.path}
        loading={paths.isFetching}
        error={paths.error?.message}
        empty={q || change ? "No changed path matches." : "No path changed."}
        paging={{ page, pageSize: PAGE_SIZE, total: paths.data?.total ?? 0, onPage: setPage }}
      />
    </section>
  );
}
