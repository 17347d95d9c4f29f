"use client";
// The emergency brake on a release: every rollout of it stops at once, no
// machine is sent it any more, and machines that have not rebooted into it
// cancel (the counts come from the server: releases.brakePreview).
// Optionally, every machine it reached goes back. Lifting the quarantine
// puts the release back in reach; nothing restarts by itself.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { DateTime } from "@/components/status";
import { agree, plural } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";
import type { Row } from "./releases-view";

function useInvalidateFleet() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return async () => {
    await queryClient.invalidateQueries(trpc.releases.pathFilter());
    await queryClient.invalidateQueries(trpc.rollouts.pathFilter());
    await queryClient.invalidateQueries(trpc.rings.pathFilter());
    await queryClient.invalidateQueries(trpc.machines.pathFilter());
  };
}

export function BrakeDialog({ release, onClose, onDone }: { release: Row; onClose: () => void; onDone: (message: string) => void }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateFleet();
  const [revert, setRevert] = useState(false);
  const [reason, setReason] = useState("");
  const preview = useQuery(trpc.releases.brakePreview.queryOptions({ version: release.version, ref: release.branch.ref }));
  const brake = useMutation(
    trpc.releases.brake.mutationOptions({
      onSuccess: async (answer) => {
        await invalidate();
        onDone(
          `Release ${answer.version} is quarantined; ${plural(answer.rolloutsStopped, "rollout")} ${revert ? "reverted" : "stopped"}, ${plural(
            answer.machinesCancelled,
            "staged machine",
          )} cancelling${revert ? `, ${plural(answer.machinesReverted, "machine")} going back to their previous deployment` : ""}.`,
        );
      },
    }),
  );
  const p = preview.data;
  return (
    <ConfirmDialog
      open
      title={`Emergency brake on ${release.version}?`}
      confirmLabel={revert ? "Brake and revert" : "Brake"}
      tone="danger"
      busy={brake.isPending}
      error={brake.error?.message ?? preview.error?.message}
      onClose={onClose}
      onConfirm={() => brake.mutate({ version: release.version, ref: release.branch.ref, revert, reason: reason.trim() || undefined })}
    >
      {!p ? (
        <p className="muted">Counting the machines it reaches…</p>
      ) : (
        <ul className="confirm-counts">
          <li>
            Stops <strong>{plural(p.rollouts, "rollout")}</strong> of {release.version} at once{p.rollouts === 0 ? " (none is under way)" : ""}.
          </li>
          <li>
            Cancels <strong>{plural(p.cancel, "staged machine")}</strong>: {agree(p.cancel, "a machine", "machines")} downloading or staged{" "}
            {agree(p.cancel, "stops and removes", "stop and remove")} the staged deployment and {agree(p.cancel, "keeps", "keep")} booting what{" "}
            {agree(p.cancel, "it runs", "they run")}.
          </li>
          {p.rebooting > 0 && (
            <li>
              <strong>{plural(p.rebooting, "machine")}</strong> already granted a reboot slot may still boot it{revert ? ", and then go back" : ""}.
            </li>
          )}
          <li>
            <strong>{plural(p.booted, "machine")}</strong> booted on it {revert ? agree(p.booted, "goes back to its", "go back to their") + " previous deployment" : agree(p.booted, "stays", "stay") + " on it (tick revert to send them back)"}.
          </li>
          <li>
            Quarantines the release: no machine is sent <code>{release.branch.ref}</code> {release.version} any more, and no rollout of it can
            start or resume until the quarantine is lifted.
          </li>
        </ul>
      )}
      {release.quarantinedAt && (
        <p className="notice warning">
          Already quarantined since <DateTime value={release.quarantinedAt} />. Braking again can still revert its machines.
        </p>
      )}
      <label className="check-row">
        <input type="checkbox" checked={revert} onChange={(e) => setRevert(e.target.checked)} />
        Also revert: every machine on it boots its previous deployment again, and the rings go back to the release they ran before
      </label>
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

export function LiftQuarantineDialog({ release, onClose, onDone }: { release: Row; onClose: () => void; onDone: (message: string) => void }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateFleet();
  const [reason, setReason] = useState("");
  const lift = useMutation(
    trpc.releases.liftQuarantine.mutationOptions({
      onSuccess: async (answer) => {
        await invalidate();
        onDone(`Release ${answer.version} is no longer quarantined. Rollouts the brake stopped stay paused until someone resumes them.`);
      },
    }),
  );
  return (
    <ConfirmDialog
      open
      title={`Lift the quarantine of ${release.version}?`}
      confirmLabel="Lift quarantine"
      confirmDisabled={reason.trim() === ""}
      busy={lift.isPending}
      error={lift.error?.message}
      onClose={onClose}
      onConfirm={() => lift.mutate({ version: release.version, ref: release.branch.ref, reason: reason.trim() })}
    >
      <p>
        {release.version} goes back in reach: rings, pins and new rollouts may send it again. Nothing restarts by itself: rollouts the brake
        stopped stay paused until an operator resumes them, and rings keep their release.
      </p>
      {release.quarantineReason && <p className="muted">Quarantined because: {release.quarantineReason}</p>}
      <ReasonInput value={reason} onChange={setReason} required />
    </ConfirmDialog>
  );
}
