"use client";
// Bulk actions of the machines page, each behind a confirmation that says how
// many machines it changes. The server applies them all or none.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import type { RouterInputs } from "@/components/router-types";
import { plural } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";

export type BulkKind = "pin" | "unpin" | "move" | "rollback";

/** The machines ticked, or every machine the table's filter matches (the server resolves them, within your rings). */
export type BulkTarget = { machineIds: string[] } | { matching: RouterInputs["machines"]["pinMany"]["matching"] & object; count: number };

interface Props {
  kind: BulkKind | null;
  target: BulkTarget;
  onClose: () => void;
  onDone: (message: string) => void;
}

export function BulkDialog({ kind, target, onClose, onDone }: Props) {
  const machines = "matching" in target ? { matching: target.matching } : { machineIds: target.machineIds };
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const [releaseId, setReleaseId] = useState("");
  const [allowDowngrade, setAllowDowngrade] = useState(false);
  const [ring, setRing] = useState("");
  const releases = useQuery({ ...trpc.releases.list.queryOptions({}), enabled: kind === "pin" });
  const rings = useQuery({ ...trpc.rings.list.queryOptions(), enabled: kind === "move" });
  const n = "matching" in target ? `all ${plural(target.count, "machine")} matching the filter` : plural(target.machineIds.length, "machine");

  const finish = async (message: string) => {
    await queryClient.invalidateQueries(trpc.machines.pathFilter());
    await queryClient.invalidateQueries(trpc.rings.list.queryFilter());
    setReason("");
    setReleaseId("");
    setAllowDowngrade(false);
    setRing("");
    onDone(message);
  };
  const pin = useMutation(trpc.machines.pinMany.mutationOptions({ onSuccess: (a) => finish(`Pinned ${plural(a.count, "machine")} to ${a.pinned}.`) }));
  const unpin = useMutation(
    trpc.machines.unpinMany.mutationOptions({ onSuccess: (a) => finish(`${plural(a.count, "machine")} follow their rings and rollouts again.`) }),
  );
  const move = useMutation(trpc.machines.move.mutationOptions({ onSuccess: (a, input) => finish(`Moved ${plural(a.moved, "machine")} to ring ${input.ring}.`) }));
  const rollback = useMutation(
    trpc.machines.rollbackMany.mutationOptions({
      onSuccess: (a) => finish(`${plural(a.count, "machine")} roll back to their previous deployment and stay there until released.`),
    }),
  );
  const mutation = kind === "pin" ? pin : kind === "unpin" ? unpin : kind === "move" ? move : rollback;
  const close = () => {
    for (const m of [pin, unpin, move, rollback]) m.reset();
    onClose();
  };
  const why = reason.trim() || undefined;
  const chosen = releases.data?.find((r) => r.id === releaseId);

  const reasonField = <ReasonInput value={reason} onChange={setReason} />;

  if (kind === "pin") {
    return (
      <ConfirmDialog
        open
        title={`Pin ${n} to a release?`}
        confirmLabel={chosen ? `Pin ${n} to ${chosen.version}` : `Pin ${n}`}
        confirmDisabled={!chosen}
        busy={mutation.isPending}
        error={mutation.error?.message ?? releases.error?.message}
        onClose={close}
        onConfirm={() => chosen && pin.mutate({ ...machines, version: chosen.version, ref: chosen.branch.ref, allowDowngrade, reason: why })}
      >
        <p>
          Each of the <strong>{n}</strong> runs the release you choose and takes part in no rollout until it is unpinned.
        </p>
        <label>
          Release
          <select value={releaseId} onChange={(e) => setReleaseId(e.target.value)} required>
            <option value="">{releases.isPending ? "Loading releases…" : "Choose a release"}</option>
            {releases.data?.map((r) => (
              <option key={r.id} value={r.id} disabled={Boolean(r.quarantinedAt) || !r.sendable} title={r.unsendableReason ?? undefined}>
                {r.version} — {r.branch.ref}
                {r.quarantinedAt ? " (quarantined)" : ""}
                {r.sendable ? "" : ` (${r.signatureState === "unsigned" ? "unsigned" : "wrongly signed"}: cannot be sent)`}
              </option>
            ))}
          </select>
        </label>
        <label className="check-row">
          <input type="checkbox" checked={allowDowngrade} onChange={(e) => setAllowDowngrade(e.target.checked)} />
          <span>Allow a downgrade for machines that run a newer release</span>
        </label>
        {reasonField}
      </ConfirmDialog>
    );
  }
  if (kind === "move") {
    return (
      <ConfirmDialog
        open
        title={`Move ${n} to another ring?`}
        confirmLabel={ring ? `Move ${n} to ${ring}` : `Move ${n}`}
        confirmDisabled={!ring}
        busy={mutation.isPending}
        error={mutation.error?.message ?? rings.error?.message}
        onClose={close}
        onConfirm={() => move.mutate({ ...machines, ring, reason: why })}
      >
        <p>
          The <strong>{n}</strong> follow the new ring&apos;s branch and release, and take their place in its cohorts.
        </p>
        <label>
          New ring
          <select value={ring} onChange={(e) => setRing(e.target.value)} required>
            <option value="">{rings.isPending ? "Loading rings…" : "Choose a ring"}</option>
            {rings.data?.map((r) => (
              <option key={r.name} value={r.name}>
                {r.name} — {r.currentRelease ? r.currentRelease.version : "no release"}
              </option>
            ))}
          </select>
        </label>
        {reasonField}
      </ConfirmDialog>
    );
  }
  if (kind === "unpin") {
    return (
      <ConfirmDialog
        open
        title={`Unpin ${n}?`}
        confirmLabel={`Unpin ${n}`}
        busy={mutation.isPending}
        error={mutation.error?.message}
        onClose={close}
        onConfirm={() => unpin.mutate({ ...machines, reason: why })}
      >
        <p>
          Pins and rollback holds of the <strong>{n}</strong> are released: each follows its ring again and joins the
          rollouts that reach it.
        </p>
        {reasonField}
      </ConfirmDialog>
    );
  }
  if (kind === "rollback") {
    return (
      <ConfirmDialog
        open
        title={`Roll ${n} back?`}
        confirmLabel={`Roll back ${n}`}
        tone="danger"
        busy={mutation.isPending}
        error={mutation.error?.message}
        onClose={close}
        onConfirm={() => rollback.mutate({ ...machines, reason: why })}
      >
        <p>
          Each of the <strong>{n}</strong> reboots into its previous deployment (no download) and stays there, out of every
          rollout, until you release the hold. If one of them has no previous deployment, none is rolled back.
        </p>
        {reasonField}
      </ConfirmDialog>
    );
  }
  return null;
}
