"use client";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { DataTable } from "@/components/data-table";
import type { RouterInputs, RouterOutputs } from "@/components/router-types";
import { DateTime, QuarantinedBadge, RolloutStateBadge, rolloutStateOptions } from "@/components/status";
import { plural, StepBar, StepLegend } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";
import { useMe } from "@/components/use-me";
import { RingSteps, TextWithTimes } from "./rollout-parts";

type Row = RouterOutputs["rollouts"]["list"]["rows"][number];
type State = RouterInputs["rollouts"]["list"]["state"];

const PAGE_SIZE = 25;

function Status({ row }: { row: Row }) {
  if (row.pauseReason && row.state !== "running" && row.state !== "completed") {
    // The reason names who stopped it ("paused by …", "health gate: …", "emergency brake on …").
    return (
      <span className={`status-text ${row.state === "paused" ? `paused by-${row.pausedBy ?? "operator"}` : ""}`}>
        <TextWithTimes text={row.pauseReason} />
      </span>
    );
  }
  if (row.waitingFor) {
    return (
      <span className="status-text">
        <span className="muted">Waiting: </span>
        <TextWithTimes text={row.waitingFor} />
      </span>
    );
  }
  if (row.state === "completed") return <span className="status-text muted">Every ring done</span>;
  return <span className="muted">—</span>;
}

export function RolloutsView() {
  const trpc = useTRPC();
  const url = useUrlState();
  const { can } = useMe();
  const state = url.get("state") as State;
  const page = Math.max(0, Number.parseInt(url.get("page") ?? "0", 10) || 0);
  const rollouts = useQuery({
    ...trpc.rollouts.list.queryOptions({ state, page, pageSize: PAGE_SIZE }),
    placeholderData: keepPreviousData,
    refetchInterval: 5000,
  });

  const columns: ColumnDef<Row, unknown>[] = [
    {
      id: "release",
      header: "Release",
      cell: ({ row }) => (
        <span className="stacked">
          <Link
            href={`/rollouts/${encodeURIComponent(row.original.id)}`}
            className="strong"
            title={`${row.original.release.version} of ${row.original.release.branch.ref}`}
          >
            {row.original.release.version}
          </Link>
          <code className="muted small hide-narrow">{row.original.release.branch.ref}</code>
          {row.original.release.quarantinedAt && <QuarantinedBadge since={row.original.release.quarantinedAt} />}
        </span>
      ),
    },
    { id: "state", header: "State", cell: ({ row }) => <RolloutStateBadge state={row.original.state} /> },
    { id: "rings", header: "Rings", cell: ({ row }) => <RingSteps rings={row.original.rings} rolloutState={row.original.state} /> },
    {
      id: "progress",
      header: "Progress",
      cell: ({ row }) => (
        <div className="progress-cell">
          <StepBar
            size="small"
            steps={row.original.progress.steps}
            total={row.original.progress.total}
            label={`Rollout of ${row.original.release.version}`}
          />
        </div>
      ),
    },
    { id: "status", header: "Status", cell: ({ row }) => <Status row={row.original} /> },
    {
      id: "startedAt",
      header: "Started",
      cell: ({ row }) => (
        <span className="stacked">
          <DateTime value={row.original.startedAt ?? row.original.createdAt} stacked />
          <span className="muted small">by {row.original.createdBy}</span>
        </span>
      ),
    },
  ];

  return (
    <>
      <div className="page-header">
        <h1>Rollouts</h1>
        <p className="muted">
          {rollouts.data ? `${plural(rollouts.data.total, state ? "matching rollout" : "rollout")} · ` : ""}a release
          promoted ring by ring, wave by wave, behind a health gate
        </p>
        {can("operator") && (
          <div className="actions">
            <Link href="/rollouts/new" className="button-link primary-link">
              New rollout
            </Link>
          </div>
        )}
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          State
          <select value={state ?? ""} onChange={(e) => url.set({ state: e.target.value, page: undefined })}>
            <option value="">Any state</option>
            {rolloutStateOptions.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        <StepLegend />
      </form>
      <DataTable
        caption="Rollouts, newest first"
        columns={columns}
        rows={rollouts.data?.rows}
        rowKey={(r) => r.id}
        loading={rollouts.isFetching}
        error={rollouts.error?.message}
        empty={
          state
            ? "No rollout in this state. Pick another state, or clear the filter."
            : can("operator")
              ? "No rollouts yet. Start one with “New rollout”."
              : "No rollouts yet."
        }
        paging={{
          page,
          pageSize: PAGE_SIZE,
          total: rollouts.data?.total ?? 0,
          onPage: (p) => url.set({ page: p || undefined }),
        }}
      />
    </>
  );
}
