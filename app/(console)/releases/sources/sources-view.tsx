"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useState } from "react";
import { DataTable } from "@/components/data-table";
import { ConfirmDialog } from "@/components/dialog";
import { ErrorNotice, SuccessNotice } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { DateTime, RelativeTime, StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useMe } from "@/components/use-me";
import { AddSourceForm } from "./add-source-form";

type Source = RouterOutputs["sources"]["list"][number];

/** How each kind of key is named to an operator. */
const KEY_KINDS: Record<NonNullable<Source["key"]>["type"], string> = {
  ed25519: "ed25519",
  gpg: "GPG",
  cosign: "cosign",
};

function every(seconds: number) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function SyncState({ source }: { source: Source }) {
  if (source.syncing) return <StateBadge tone="info">Syncing</StateBadge>;
  if (!source.enabled) return <StateBadge tone="neutral">Disabled</StateBadge>;
  if (source.lastError) return <StateBadge tone="bad">Failing</StateBadge>;
  if (!source.lastSyncAt) return <StateBadge tone="neutral">Not read yet</StateBadge>;
  return <StateBadge tone="good">In sync</StateBadge>;
}

export function SourcesView() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { can } = useMe();
  // What a ring-scoped operator may change is decided by the server (the branch's rings); it says so on refusal.
  const operator = can("operator");
  const sources = useQuery({ ...trpc.sources.list.queryOptions({}), refetchInterval: 5000 });
  const [adding, setAdding] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Source | null>(null);
  const refresh = () => Promise.all([queryClient.invalidateQueries(trpc.sources.pathFilter()), queryClient.invalidateQueries(trpc.releases.pathFilter())]);
  const sync = useMutation(
    trpc.sources.sync.mutationOptions({
      onSuccess: async (results) => {
        await refresh();
        const ok = results.filter((r) => r.ok);
        const failed = results.filter((r) => !r.ok);
        setResult(ok.length ? ok.map((r) => `${r.source}: ${r.created.length ? `new release${r.created.length > 1 ? "s" : ""} ${r.created.join(", ")}` : "nothing new"}${r.rolloutStarted ? `; follow mode started a rollout of ${r.rolloutStarted.version}` : ""}`).join(" · ") : null);
        setFailure(failed.length ? failed.map((r) => `${r.source}: failed: ${r.error}`).join(" · ") : null);
      },
    }),
  );
  const update = useMutation(trpc.sources.update.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(
    trpc.sources.remove.mutationOptions({
      onSuccess: async (removed) => {
        await refresh();
        setRemoving(null);
        setResult(`Source ${removed.source} removed; its ${removed.releasesKept} release(s) stay.`);
      },
    }),
  );

  const columns: ColumnDef<Source, unknown>[] = [
    {
      id: "name",
      header: "Source",
      cell: ({ row }) => (
        <span>
          <strong>{row.original.name}</strong>
          <span className="block muted">
            {row.original.kind} → <Link href={`/releases?ref=${encodeURIComponent(row.original.branch)}`}>{row.original.branch}</Link>
          </span>
        </span>
      ),
    },
    {
      id: "where",
      header: "Repository and ref",
      cell: ({ row }) => (
        <span>
          <code className="break">{row.original.url}</code>
          <span className="block">
            <code className="break">{row.original.ref}</code>
          </span>
        </span>
      ),
    },
    {
      id: "key",
      header: "Key",
      cell: ({ row }) =>
        row.original.key ? (
          <span>
            {KEY_KINDS[row.original.key.type]} <code className="muted">{row.original.key.summary}</code>
          </span>
        ) : (
          <span className="muted">none</span>
        ),
    },
    { id: "interval", header: "Every", cell: ({ row }) => <span className="nowrap">{every(row.original.pollIntervalSeconds)}</span> },
    {
      id: "state",
      header: "Last sync",
      cell: ({ row }) => (
        <span>
          <SyncState source={row.original} />
          <span className="block muted small">
            {row.original.lastSyncAt ? <RelativeTime value={row.original.lastSyncAt} /> : "never"} · {row.original.releases} release(s)
          </span>
          {row.original.lastError && (
            <span className="block small source-error">
              {row.original.consecutiveFailures > 1 ? `${row.original.consecutiveFailures} failures in a row: ` : ""}
              {row.original.lastError}
            </span>
          )}
        </span>
      ),
    },
    {
      id: "next",
      header: "Next attempt",
      cell: ({ row }) => (row.original.enabled ? <DateTime value={row.original.nextAttemptAt} stacked /> : <span className="muted">—</span>),
    },
  ];
  if (operator) {
    columns.push({
      id: "actions",
      header: "Actions",
      cell: ({ row }) => {
        const s = row.original;
        return (
          <span className="row-actions">
            <button type="button" disabled={sync.isPending} onClick={() => sync.mutate({ source: s.name })}>
              {sync.isPending && sync.variables?.source === s.name ? "Syncing…" : "Sync now"}
            </button>
            <button type="button" disabled={update.isPending} onClick={() => update.mutate({ source: s.name, enabled: !s.enabled })}>
              {s.enabled ? "Disable" : "Enable"}
            </button>
            <button type="button" className="danger-outline" onClick={() => setRemoving(s)}>
              Remove…
            </button>
          </span>
        );
      },
    });
  }

  return (
    <>
      <div className="page-header">
        <h1>Release sources</h1>
        <p className="muted">
          Where branches read their <Link href="/releases">releases</Link> from: each new commit becomes a release, its signature checked with
          the source&apos;s key. Unsigned and wrongly signed releases are kept and shown, and never sent to machines.
        </p>
        {operator && (
          <div className="actions">
            <button type="button" className="primary" aria-expanded={adding} onClick={() => setAdding(!adding)}>
              {adding ? "Close" : "Add source"}
            </button>
          </div>
        )}
      </div>
      {result && <SuccessNotice onDismiss={() => setResult(null)}>{result}</SuccessNotice>}
      <ErrorNotice error={failure ?? sync.error?.message ?? update.error?.message} />
      {operator && adding && (
        <AddSourceForm
          onAdded={(text) => {
            setAdding(false);
            setResult(text);
          }}
          onCancel={() => setAdding(false)}
        />
      )}
      <DataTable
        caption="Release sources"
        columns={columns}
        rows={sources.data}
        rowKey={(s) => s.id}
        loading={sources.isFetching && !sources.data}
        error={sources.error?.message}
        empty={operator ? "No sources yet. Add an ostree repository or a container registry with “Add source”." : "No sources yet."}
      />
      <ConfirmDialog
        open={removing !== null}
        title="Remove this source?"
        confirmLabel="Remove source"
        tone="danger"
        busy={remove.isPending}
        error={remove.error?.message}
        onClose={() => {
          remove.reset();
          setRemoving(null);
        }}
        onConfirm={() => removing && remove.mutate({ source: removing.name })}
      >
        <p>
          <strong>{removing?.name}</strong> is no longer read. The {removing?.releases ?? 0} release(s) it brought stay.
        </p>
      </ConfirmDialog>
    </>
  );
}
