"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useState } from "react";
import { DataTable } from "@/components/data-table";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { formatSeconds } from "@/components/format";
import { ErrorNotice, SuccessNotice } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { Checksum, DateTime, RelativeTime, UpdateStateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useMe } from "@/components/use-me";
import { CreateRingForm } from "./create-ring-form";
import { RingAppsCell, RingAppsDialog } from "./ring-apps";
import { blackoutsOf, PolicyDialog, RemoveRingDialog, RenameRingDialog, ReshuffleDialog, SetReleaseDialog, windowsOf, windowText } from "./ring-dialogs";

export type Ring = RouterOutputs["rings"]["list"][number];
type Lease = RouterOutputs["rings"]["leases"][number];

function Seconds({ value }: { value: number }) {
  return (
    <span className="nowrap" title={`${value} seconds`}>
      {formatSeconds(value)}
    </span>
  );
}

export function RingsView() {
  const trpc = useTRPC();
  const { can, canOnFleet } = useMe();
  const operator = can("operator");
  // A new ring concerns the whole fleet: not for an operator of some rings.
  const fleetOperator = canOnFleet("operator");
  const rings = useQuery({ ...trpc.rings.list.queryOptions(), refetchInterval: 10_000 });
  const [creating, setCreating] = useState(false);
  const [dialog, setDialog] = useState<{ kind: "release" | "apps" | "policy" | "reshuffle" | "rename" | "remove"; ring: Ring } | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const reorder = useMutation(
    trpc.rings.reorder.mutationOptions({
      onSuccess: async (moved) => {
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        setResult(`Rollout order: ${moved.order.join(" → ")}.`);
      },
    }),
  );
  /** Moves a ring one place up or down: before the ring above it, after the ring below it. */
  const move = (index: number, by: -1 | 1) => {
    const list = rings.data ?? [];
    const ring = list[index];
    const other = list[index + by];
    if (!ring || !other) return;
    reorder.mutate(by < 0 ? { ring: ring.name, before: other.name } : { ring: ring.name, after: other.name });
  };

  const columns: ColumnDef<Ring, unknown>[] = [
    {
      id: "name",
      header: "Ring · branch",
      cell: ({ row }) => (
        <span className="ring-name">
          <span className="order" title={`Ring ${row.index + 1} in rollout order`}>
            {row.index + 1}
          </span>
          <span className="stacked">
            <strong>{row.original.name}</strong>
            <code className="muted small" title="Branch (ostree ref) the ring follows">
              {row.original.branch.ref}
            </code>
          </span>
        </span>
      ),
    },
    {
      id: "release",
      header: "Current release · apps",
      cell: ({ row }) => (
        <span className="stacked">
          {row.original.currentRelease ? (
            <span className="stacked">
              <strong>{row.original.currentRelease.version}</strong>
              <Checksum value={row.original.currentRelease.checksum} />
            </span>
          ) : (
            <span className="muted">none set</span>
          )}
          <RingAppsCell ring={row.original} />
        </span>
      ),
    },
    {
      id: "machines",
      header: "Machines",
      cell: ({ row }) => (
        <Link className="nowrap" href={`/machines?ring=${encodeURIComponent(row.original.name)}`}>
          {row.original.machines.toLocaleString()} {row.original.machines === 1 ? "machine" : "machines"}
        </Link>
      ),
    },
    {
      id: "policy",
      header: "Slots · check-in · lease",
      cell: ({ row }) => (
        <span className="stacked small">
          <span>
            {row.original.rebootSlots} reboot {row.original.rebootSlots === 1 ? "slot" : "slots"}
            {row.original.failureDomainLabel ? ` per ${row.original.failureDomainLabel}` : ""}
          </span>
          <span>
            check-in <Seconds value={row.original.checkInIntervalSeconds} />
          </span>
          <span>
            lease <Seconds value={row.original.rebootLeaseSeconds} />
          </span>
        </span>
      ),
    },
    {
      id: "windows",
      header: "Windows",
      cell: ({ row }) => {
        const windows = windowsOf(row.original);
        const blackouts = blackoutsOf(row.original);
        return (
          <span className="windows-cell">
            {windows.length === 0 ? (
              <span>any time</span>
            ) : (
              <ul className="window-list">
                {windows.map((w, i) => (
                  <li key={i}>{windowText(w)}</li>
                ))}
              </ul>
            )}
            <span className="muted small">
              {row.original.timeZone}
              {blackouts.length > 0 ? ` · ${blackouts.length} blackout ${blackouts.length === 1 ? "date" : "dates"}` : ""}
            </span>
          </span>
        );
      },
    },
    {
      id: "follow",
      header: "Follow · rollout policy",
      cell: ({ row }) => {
        const ring = row.original;
        const p = ring.rolloutPolicy;
        return (
          <span className="stacked small">
            <span>
              {ring.follow ? <strong>follows {ring.branch.ref}</strong> : <span className="muted">no follow</span>}
              {ring.follow && ring.followApproval ? " · approval before it" : ""}
            </span>
            <span title="The ring's default rollout policy: what its follow rollouts use">
              waves {p.waves.join("/")}%{p.singleFirst ? " after one" : ""}
            </span>
            <span>
              soak <Seconds value={p.soakSeconds} /> · ≤{Math.round(p.maxFailureRate * 1000) / 10}% of {p.minSample}+ · dark <Seconds value={p.darkAfterSeconds} />
            </span>
          </span>
        );
      },
    },
  ];
  if (operator) {
    columns.push({
      id: "actions",
      header: "Actions",
      cell: ({ row }) => (
        <span className="row-actions ring-actions">
          <button type="button" onClick={() => setDialog({ kind: "release", ring: row.original })}>
            Set release…
          </button>
          <button type="button" onClick={() => setDialog({ kind: "apps", ring: row.original })}>
            Apps…
          </button>
          <button type="button" onClick={() => setDialog({ kind: "policy", ring: row.original })}>
            Policy…
          </button>
          <button type="button" onClick={() => setDialog({ kind: "reshuffle", ring: row.original })}>
            Reshuffle…
          </button>
          {fleetOperator && (
            <>
              <span className="order-buttons" role="group" aria-label={`Rollout order of ${row.original.name}`}>
              <button
                type="button"
                aria-label={`Move ${row.original.name} up`}
                title={row.original.actions.moveUp.why ?? "Earlier in the rollout order"}
                disabled={!row.original.actions.moveUp.allowed || reorder.isPending}
                onClick={() => move(row.index, -1)}
              >
                ↑
              </button>
              <button
                type="button"
                aria-label={`Move ${row.original.name} down`}
                title={row.original.actions.moveDown.why ?? "Later in the rollout order"}
                disabled={!row.original.actions.moveDown.allowed || reorder.isPending}
                onClick={() => move(row.index, 1)}
              >
                ↓
              </button>
              </span>
              <button
                type="button"
                title={row.original.actions.rename.why ?? undefined}
                disabled={!row.original.actions.rename.allowed}
                onClick={() => setDialog({ kind: "rename", ring: row.original })}
              >
                Rename…
              </button>
              <button
                type="button"
                className="danger-outline"
                title={row.original.actions.remove.why ?? undefined}
                onClick={() => setDialog({ kind: "remove", ring: row.original })}
              >
                Remove…
              </button>
            </>
          )}
        </span>
      ),
    });
  }

  const done = (message: string) => {
    setDialog(null);
    setResult(message);
  };

  return (
    <>
      <div className="page-header">
        <h1>Rings</h1>
        <p className="muted">Machines move ring by ring: the first ring gets a release first.</p>
        {fleetOperator && (
          <div className="actions">
            <button type="button" className="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
              {creating ? "Close" : "New ring"}
            </button>
          </div>
        )}
      </div>
      {result && <SuccessNotice onDismiss={() => setResult(null)}>{result}</SuccessNotice>}
      {reorder.error && <ErrorNotice error={reorder.error.message} title="The rollout order did not change" />}
      {fleetOperator && creating && (
        <CreateRingForm
          rings={rings.data ?? []}
          onCreated={(name) => {
            setCreating(false);
            setResult(`Created ring ${name}.`);
          }}
          onCancel={() => setCreating(false)}
        />
      )}
      <DataTable
        caption="Rings in rollout order"
        columns={columns}
        rows={rings.data}
        rowKey={(r) => r.name}
        loading={rings.isFetching}
        error={rings.error?.message}
        empty={operator ? "No rings yet. Create the first one with “New ring”." : "No rings yet."}
      />
      {operator && dialog?.kind === "release" && (
        <SetReleaseDialog ring={dialog.ring} onClose={() => setDialog(null)} onDone={done} />
      )}
      {operator && dialog?.kind === "apps" && <RingAppsDialog ring={dialog.ring} onClose={() => setDialog(null)} onDone={done} />}
      {operator && dialog?.kind === "policy" && (
        <PolicyDialog ring={dialog.ring} onClose={() => setDialog(null)} onDone={done} />
      )}
      {fleetOperator && dialog?.kind === "rename" && (
        <RenameRingDialog ring={dialog.ring} onClose={() => setDialog(null)} onDone={done} />
      )}
      {fleetOperator && dialog?.kind === "remove" && (
        <RemoveRingDialog ring={dialog.ring} onClose={() => setDialog(null)} onDone={done} />
      )}
      {operator && dialog?.kind === "reshuffle" && (
        <ReshuffleDialog ring={dialog.ring} onClose={() => setDialog(null)} onDone={done} />
      )}
      <RebootSlots operator={operator} onDone={setResult} />
    </>
  );
}

/** Who holds each reboot slot, since when; an operator can force one free. */
function RebootSlots({ operator, onDone }: { operator: boolean; onDone: (message: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const leases = useQuery({ ...trpc.rings.leases.queryOptions(), refetchInterval: 5000 });
  const [freeing, setFreeing] = useState<Lease | null>(null);
  const [reason, setReason] = useState("");
  const release = useMutation(
    trpc.rings.forceReleaseLease.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries(trpc.rings.leases.queryFilter());
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        onDone(`Freed the reboot slot of ${freeing?.machine.hostname ?? "the machine"}.`);
        setFreeing(null);
        setReason("");
      },
    }),
  );

  const columns: ColumnDef<Lease, unknown>[] = [
    {
      id: "ring",
      header: "Ring",
      cell: ({ row }) =>
        row.original.ring ? (
          <span className="stacked">
            <strong>{row.original.ring.name}</strong>
            <span className="muted small">{row.original.ring.rebootSlots} slots{row.original.ring.failureDomainLabel ? ` per ${row.original.ring.failureDomainLabel}` : ""}</span>
          </span>
        ) : (
          <span className="muted">no ring</span>
        ),
    },
    { id: "domain", header: "Domain", cell: ({ row }) => (row.original.domain ? <code>{row.original.domain}</code> : <span className="muted">whole ring</span>) },
    {
      id: "machine",
      header: "Machine",
      cell: ({ row }) => (
        <span className="stacked">
          <Link href={`/machines/${encodeURIComponent(row.original.machine.machineId)}`} className="strong">
            {row.original.machine.hostname}
          </Link>
          <span className="nowrap">
            <UpdateStateBadge state={row.original.machine.updateState} />{" "}
            <span className="muted small">
              seen <RelativeTime value={row.original.machine.lastSeenAt} />
            </span>
          </span>
        </span>
      ),
    },
    { id: "since", header: "Since", cell: ({ row }) => <DateTime value={row.original.acquiredAt} stacked /> },
    {
      id: "expires",
      header: "Expires",
      cell: ({ row }) => <DateTime value={row.original.expiresAt} stacked />,
    },
  ];
  if (operator) {
    columns.push({
      id: "actions",
      header: "Actions",
      cell: ({ row }) => (
        <span className="row-actions">
          <button type="button" className="danger-outline" onClick={() => setFreeing(row.original)}>
            Force free…
          </button>
        </span>
      ),
    });
  }

  const count = leases.data?.length ?? 0;
  return (
    <>
      <h2 id="slots-title">Reboot slots</h2>
      <p className="muted section-note">
        {leases.data ? `${count} ${count === 1 ? "slot" : "slots"} held now. ` : ""}A machine holds a slot from its reboot until
        it reports a healthy boot; expired slots are freed by the server.
      </p>
      <DataTable
        caption="Reboot slots held"
        columns={columns}
        rows={leases.data}
        rowKey={(l) => l.machine.machineId}
        loading={leases.isFetching}
        error={leases.error?.message}
        empty="No machine holds a reboot slot right now."
      />
      <ConfirmDialog
        open={freeing !== null}
        title={`Free the reboot slot of ${freeing?.machine.hostname ?? ""}?`}
        confirmLabel="Force free"
        tone="danger"
        busy={release.isPending}
        error={release.error?.message}
        onClose={() => {
          release.reset();
          setFreeing(null);
        }}
        onConfirm={() => freeing && release.mutate({ machineId: freeing.machine.machineId, reason: reason.trim() || undefined })}
      >
        <p>
          <strong>{freeing?.machine.hostname}</strong> has held a slot of ring <strong>{freeing?.ring?.name ?? "none"}</strong>
          {freeing?.domain ? ` (domain ${freeing.domain})` : ""} since <DateTime value={freeing?.acquiredAt} />. Freeing it lets
          another machine of the ring reboot now, even if this one is still rebooting.
        </p>
        {freeing && (
          <p className="muted">
            It reports <UpdateStateBadge state={freeing.machine.updateState} /> and was last seen{" "}
            <RelativeTime value={freeing.machine.lastSeenAt} />.
          </p>
        )}
        <ReasonInput value={reason} onChange={setReason} />
      </ConfirmDialog>
    </>
  );
}
