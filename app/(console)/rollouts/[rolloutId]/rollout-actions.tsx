"use client";
// What an operator does to a rollout, each behind a confirmation that says
// how many machines it touches (from the rollout's step counts).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type ReactNode, useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import type { RouterOutputs } from "@/components/router-types";
import { addSteps, agree, plural, type StepCounts, sumSteps, touchedMachines } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";

export type Rollout = RouterOutputs["rollouts"]["get"];
type Ring = Rollout["rings"][number];
export type ActionKind = "pause" | "resume" | "approve" | "abort" | "revert";
export interface PendingAction {
  kind: ActionKind;
  /** Revert only this ring. */
  ring?: string;
}

export function ringSteps(ring: Ring): StepCounts {
  return addSteps(ring.waves.map((w) => w.steps));
}

/** Machines of a ring no wave has reached yet. */
export function notReached(ring: Ring) {
  if (ring.phase === "completed" || ring.phase === "reverted") return 0;
  return Math.max(0, ring.machines - sumSteps(ringSteps(ring)));
}

function inProgress(steps: StepCounts) {
  return steps.downloading + steps.staged + steps.rebooting + steps.verifying;
}

function waiting(steps: StepCounts) {
  return steps.pending + steps.assigned;
}

/** Where a rollout goes on from: the first ring not completed, with its open wave. */
function nextStep(rollout: Rollout) {
  const ring = rollout.rings.find((r) => r.phase !== "completed" && r.phase !== "reverted");
  if (!ring) return "every ring is done, so it completes";
  if (ring.phase === "pending") return `ring ${ring.ring.name} starts with its first wave`;
  if (ring.phase === "awaiting_approval") return `ring ${ring.ring.name} still waits for an approval`;
  const wave = ring.waves[Math.max(0, ring.openWave)];
  return `ring ${ring.ring.name}, wave ${wave.index + 1} (${wave.label}) goes on`;
}

const TITLES: Record<ActionKind, string> = {
  pause: "Pause this rollout?",
  resume: "Resume this rollout?",
  approve: "Approve the next ring?",
  abort: "Abort this rollout?",
  revert: "Revert this rollout?",
};

export function RolloutActionDialog({
  rollout,
  action,
  onClose,
  onDone,
}: {
  rollout: Rollout;
  action: PendingAction | null;
  onClose: () => void;
  onDone: (message: string) => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const refresh = async () => {
    await queryClient.invalidateQueries(trpc.rollouts.pathFilter());
    await queryClient.invalidateQueries(trpc.rings.pathFilter());
    await queryClient.invalidateQueries(trpc.machines.pathFilter());
  };
  const options = {
    onSuccess: async () => {
      await refresh();
      setReason("");
    },
  };
  const pause = useMutation(trpc.rollouts.pause.mutationOptions(options));
  const resume = useMutation(trpc.rollouts.resume.mutationOptions(options));
  const approve = useMutation(trpc.rollouts.approve.mutationOptions(options));
  const abort = useMutation(trpc.rollouts.abort.mutationOptions(options));
  const revert = useMutation(trpc.rollouts.revert.mutationOptions(options));
  const mutations = { pause, resume, approve, abort, revert };
  const current = action ? mutations[action.kind] : null;

  const version = rollout.release.version;
  const rings = action?.ring ? rollout.rings.filter((r) => r.ring.name === action.ring) : rollout.rings;
  const steps = addSteps(rings.map(ringSteps));
  const touched = touchedMachines(steps);
  const unreached = rings.reduce((sum, r) => sum + notReached(r), 0);
  const touchedRings = rings.filter((r) => r.phase === "active" || r.phase === "completed").map((r) => r.ring.name);
  const awaiting = rollout.rings.find((r) => r.phase === "awaiting_approval");

  let body: ReactNode = null;
  let confirmLabel = "";
  let tone: "primary" | "danger" = "primary";
  let title = action ? TITLES[action.kind] : "";
  switch (action?.kind) {
    case "pause":
      confirmLabel = "Pause rollout";
      body = (
        <>
          <p>No wave opens and no new machine is sent {version} until someone resumes it.</p>
          <ul className="confirm-counts">
            <li>
              <strong>{plural(inProgress(steps), "machine")}</strong> already on {agree(inProgress(steps), "its", "their")} way{" "}
              {agree(inProgress(steps), "finishes its", "finish their")} update.
            </li>
            <li>
              <strong>{plural(waiting(steps), "assigned machine")}</strong> that {agree(waiting(steps), "has", "have")} not
              started {agree(waiting(steps), "holds where it is", "hold where they are")}.
            </li>
          </ul>
        </>
      );
      break;
    case "resume":
      confirmLabel = "Resume rollout";
      body = (
        <>
          <p>The controller carries on: {nextStep(rollout)}.</p>
          <ul className="confirm-counts">
            <li>
              <strong>{plural(waiting(steps), "assigned machine")}</strong> that {agree(waiting(steps), "was", "were")} holding{" "}
              {agree(waiting(steps), "starts its", "start their")} update.
            </li>
          </ul>
          {rollout.pausedBy === "gate" && (
            <p className="notice warning">
              The health gate paused it. If the wave is still over its failure limit, the gate pauses it again at once:
              revert the ring, or look at the failing machines first.
            </p>
          )}
        </>
      );
      break;
    case "approve": {
      const machines = awaiting?.machines ?? 0;
      title = `Approve ring ${awaiting?.ring.name ?? ""}?`;
      confirmLabel = awaiting ? `Approve ${awaiting.ring.name}` : "Approve";
      body = (
        <p>
          Ring <strong>{awaiting?.ring.name}</strong> (<strong>{plural(machines, "machine")}</strong>) starts: its first wave
          ({awaiting?.waves[0]?.label}) opens as soon as its maintenance window allows.
        </p>
      );
      break;
    }
    case "abort":
      confirmLabel = "Abort rollout";
      tone = "danger";
      body = (
        <>
          <p>The rollout ends where it stands and cannot be resumed.</p>
          <ul className="confirm-counts">
            <li>
              <strong>{plural(steps.succeeded, "machine")}</strong> that {agree(steps.succeeded, "runs", "run")} {version}{" "}
              {agree(steps.succeeded, "stays", "stay")} on it (revert to send {agree(steps.succeeded, "it", "them")} back).
            </li>
            <li>
              <strong>{plural(inProgress(steps) + waiting(steps), "machine")}</strong> not done yet{" "}
              {agree(inProgress(steps) + waiting(steps), "is", "are")} no longer sent it.
            </li>
            {unreached > 0 && (
              <li>
                <strong>{plural(unreached, "machine")}</strong> no wave reached {agree(unreached, "keeps what it runs", "keep what they run")}.
              </li>
            )}
          </ul>
        </>
      );
      break;
    case "revert":
      tone = "danger";
      title = action.ring ? `Revert ring ${action.ring}?` : "Revert the whole rollout?";
      confirmLabel = action.ring ? `Revert ${action.ring}` : "Revert rollout";
      body = (
        <>
          <ul className="confirm-counts">
            <li>
              <strong>{plural(touched, "machine")}</strong> that left {agree(touched, "its", "their")} old deployment{" "}
              {agree(touched, "boots", "boot")} it again (a reboot, no download).
            </li>
            {touchedRings.length > 0 && (
              <li>
                {agree(touchedRings.length, "Ring", "Rings")} <strong>{touchedRings.join(", ")}</strong>{" "}
                {agree(touchedRings.length, "goes back to the release it", "go back to the release they")} ran before.
              </li>
            )}
            {waiting(steps) > 0 && (
              <li>
                <strong>{plural(waiting(steps), "assigned machine")}</strong> that had not started{" "}
                {agree(waiting(steps), "stays where it is", "stay where they are")}.
              </li>
            )}
          </ul>
          <p className="muted">
            Pinned machines are not touched.{" "}
            {action.ring && rollout.rings.some((r) => r.ring.name !== action.ring && r.phase !== "pending")
              ? "The other rings keep the release; the rollout pauses."
              : action.ring
                ? "The rollout pauses; the rings after it have not started."
                : "The rollout ends as reverted."}
          </p>
        </>
      );
      break;
  }

  const close = () => {
    current?.reset();
    setReason("");
    onClose();
  };

  function confirm() {
    if (!action) return;
    const input = { rolloutId: rollout.id, reason: reason.trim() || undefined };
    const done = (message: string) => () => onDone(message);
    switch (action.kind) {
      case "pause":
        pause.mutate(input, { onSuccess: done(`Paused the rollout of ${version}.`) });
        break;
      case "resume":
        resume.mutate(input, { onSuccess: done(`Resumed the rollout of ${version}.`) });
        break;
      case "approve":
        approve.mutate(input, { onSuccess: done(`Approved ring ${awaiting?.ring.name ?? ""}.`) });
        break;
      case "abort":
        abort.mutate(input, { onSuccess: done(`Aborted the rollout of ${version}.`) });
        break;
      case "revert":
        revert.mutate(
          { ...input, ring: action.ring },
          {
            onSuccess: (answer) =>
              onDone(
                `Reverted ${action.ring ? `ring ${action.ring}` : "the rollout"}: ${plural(answer.revertedMachines, "machine")} ${agree(answer.revertedMachines, "goes back to its", "go back to their")} previous deployment.`,
              ),
          },
        );
        break;
    }
  }

  return (
    <ConfirmDialog
      open={action !== null}
      title={title}
      confirmLabel={confirmLabel}
      tone={tone}
      busy={current?.isPending}
      error={current?.error?.message}
      onClose={close}
      onConfirm={confirm}
    >
      {body}
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}
