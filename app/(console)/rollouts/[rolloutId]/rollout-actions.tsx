"use client";
// What an operator does to a rollout, each behind a confirmation that says
// how many machines it touches: counted by the server from what the
// machines report (rollouts.actionPreview), never worked out here.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type ReactNode, useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import type { RouterOutputs } from "@/components/router-types";
import { agree, plural } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";
import { isAppRef } from "@/server/vocabulary";

export type Rollout = RouterOutputs["rollouts"]["get"];
export type ActionKind = "pause" | "resume" | "approve" | "abort" | "revert";
export interface PendingAction {
  kind: ActionKind;
  /** Revert only this ring. */
  ring?: string;
}

function Counted({ n, children }: { n: number | undefined; children: (n: number) => ReactNode }) {
  if (n === undefined) return <li className="muted">counting…</li>;
  return <li>{children(n)}</li>;
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
  // An app rollout: an app update has no staged deployment and no reboot.
  const app = isAppRef(rollout.release.branch.ref);
  const preview = useQuery({
    ...trpc.rollouts.actionPreview.queryOptions({ rolloutId: rollout.id, ring: action?.ring }),
    enabled: action !== null && action.kind !== "approve",
  });
  const counts = preview.data;
  const rings = action?.ring ? rollout.rings.filter((r) => r.ring.name === action.ring) : rollout.rings;
  const unreached = rings.reduce((sum, r) => sum + r.notReached, 0);
  const touchedRings = rings.filter((r) => r.phase === "completed").map((r) => r.ring.name);
  const awaiting = rollout.rings.find((r) => r.phase === "awaiting_approval");
  const held = rollout.progress.steps.held;

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
            <Counted n={counts?.onTheirWay}>
              {(n) =>
                app ? (
                  <>
                    <strong>{plural(n, "machine")}</strong> updating the app {agree(n, "finishes", "finish")} (an app update has no reboot to
                    hold it before).
                  </>
                ) : (
                  <>
                    <strong>{plural(n, "machine")}</strong> downloading or staged {agree(n, "holds", "hold")}: {agree(n, "it keeps", "they keep")} what{" "}
                    {agree(n, "it", "they")} staged and {agree(n, "does", "do")} not reboot into it until the rollout resumes.
                  </>
                )
              }
            </Counted>
            {!app && (
              <Counted n={counts?.rebooting}>
                {(n) => (
                  <>
                    <strong>{plural(n, "machine")}</strong> already granted a reboot slot {agree(n, "goes", "go")} on.
                  </>
                )}
              </Counted>
            )}
            <Counted n={counts?.waiting}>
              {(n) => (
                <>
                  <strong>{plural(n, "assigned machine")}</strong> that {agree(n, "has", "have")} not started {agree(n, "waits", "wait")}.
                </>
              )}
            </Counted>
          </ul>
        </>
      );
      break;
    case "resume":
      confirmLabel = "Resume rollout";
      body = (
        <>
          <p>The controller carries on: {rollout.next ?? "it goes on"}.</p>
          <ul className="confirm-counts">
            {!app && (
              <li>
                <strong>{plural(held, "held machine")}</strong> {agree(held, "reboots", "reboot")} into {version} as reboot slots free up.
              </li>
            )}
            <Counted n={counts?.waiting}>
              {(n) => (
                <>
                  <strong>{plural(n, "assigned machine")}</strong> that {agree(n, "was", "were")} waiting {agree(n, "starts its", "start their")} update.
                </>
              )}
            </Counted>
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
      const machines = awaiting?.total ?? 0;
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
            <Counted n={counts?.booted}>
              {(n) => (
                <>
                  <strong>{plural(n, "machine")}</strong> that {app ? agree(n, "runs", "run") : agree(n, "boots", "boot")} {version}{" "}
                  {agree(n, "stays", "stay")} on it (revert to send {agree(n, "it", "them")} back).
                </>
              )}
            </Counted>
            <Counted n={counts?.onTheirWay}>
              {(n) =>
                app ? (
                  <>
                    <strong>{plural(n, "machine")}</strong> updating the app to it {agree(n, "finishes", "finish")} and{" "}
                    {agree(n, "keeps", "keep")} it (an app update is not cancelled halfway).
                  </>
                ) : (
                  <>
                    <strong>{plural(n, "machine")}</strong> downloading or staged {agree(n, "cancels", "cancel")}: the staged deployment is removed
                    and {agree(n, "it keeps", "they keep")} booting what {agree(n, "it runs", "they run")}.
                  </>
                )
              }
            </Counted>
            {!app && (
              <Counted n={counts?.rebooting}>
                {(n) => (
                  <>
                    <strong>{plural(n, "machine")}</strong> already granted a reboot slot may still boot it.
                  </>
                )}
              </Counted>
            )}
            <Counted n={counts?.waiting}>
              {(n) => (
                <>
                  <strong>{plural(n, "assigned machine")}</strong> that had not started {agree(n, "is", "are")} no longer sent it.
                </>
              )}
            </Counted>
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
            <Counted n={counts && counts.booted + counts.rebooting}>
              {(n) =>
                app ? (
                  <>
                    <strong>{plural(n, "machine")}</strong> on {version} {agree(n, "goes", "go")} back to the app&apos;s previous release (no
                    reboot).
                  </>
                ) : (
                  <>
                    <strong>{plural(n, "machine")}</strong> on {version} (or rebooting into it) {agree(n, "boots its", "boot their")} previous
                    deployment again (a reboot, no download).
                  </>
                )
              }
            </Counted>
            <Counted n={counts?.onTheirWay}>
              {(n) => (
                <>
                  <strong>{plural(n, "machine")}</strong>{" "}
                  {app ? `updating the app to it ${agree(n, "goes", "go")} back once the update ends` : `downloading or staged ${agree(n, "cancels", "cancel")}`}.
                </>
              )}
            </Counted>
            {touchedRings.length > 0 && (
              <li>
                {agree(touchedRings.length, "Ring", "Rings")} <strong>{touchedRings.join(", ")}</strong>{" "}
                {agree(touchedRings.length, "goes back to the release it", "go back to the release they")} ran before, unless a later rollout
                moved {agree(touchedRings.length, "it", "them")} on.
              </li>
            )}
          </ul>
          <p className="muted">
            Pinned machines are not touched.{" "}
            {action.ring && rollout.rings.some((r) => r.ring.name !== action.ring && r.phase !== "pending" && r.phase !== "reverted")
              ? "The other rings keep the release; the rollout pauses and cannot be resumed (start a new rollout instead)."
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
