"use client";
// The emergency brake on a release: every rollout of it stops at once, and no
// machine is sent it any more. Optionally, every machine it reached goes back.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { DateTime } from "@/components/status";
import { plural } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";
import type { Row } from "./releases-view";

export function BrakeDialog({ release, onClose, onDone }: { release: Row; onClose: () => void; onDone: (message: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [revert, setRevert] = useState(false);
  const [reason, setReason] = useState("");
  const brake = useMutation(
    trpc.releases.brake.mutationOptions({
      onSuccess: async (answer) => {
        await queryClient.invalidateQueries(trpc.releases.pathFilter());
        await queryClient.invalidateQueries(trpc.rollouts.pathFilter());
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        onDone(
          `Release ${answer.version} is quarantined; ${plural(answer.rolloutsStopped, "rollout")} ${revert ? "reverted" : "stopped"}${
            revert ? `, ${plural(answer.machinesReverted, "machine")} going back to their previous deployment` : ""
          }.`,
        );
      },
    }),
  );
  const n = release.activeRollouts;
  return (
    <ConfirmDialog
      open
      title={`Emergency brake on ${release.version}?`}
      confirmLabel={revert ? "Brake and revert" : "Brake"}
      tone="danger"
      busy={brake.isPending}
      error={brake.error?.message}
      onClose={onClose}
      onConfirm={() =>
        brake.mutate({ version: release.version, ref: release.branch.ref, revert, reason: reason.trim() || undefined })
      }
    >
      <ul className="confirm-counts">
        <li>
          Pauses <strong>{plural(n, "rollout")}</strong> of {release.version} at once
          {n === 0 ? " (none is under way)" : ""}.
        </li>
        <li>
          Quarantines the release: no machine is sent <code>{release.branch.ref}</code> {release.version} any more, and no
          rollout of it can start or resume.
        </li>
      </ul>
      {release.quarantinedAt && (
        <p className="notice warning">
          Already quarantined since <DateTime value={release.quarantinedAt} />. Braking again can still revert its machines.
        </p>
      )}
      <label className="check-row">
        <input type="checkbox" checked={revert} onChange={(e) => setRevert(e.target.checked)} />
        Also revert: every machine its rollouts reached boots its previous deployment again, and the rings go back to the
        release they ran before
      </label>
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}
