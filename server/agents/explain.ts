// The console's answer to a machine in an operator's words: what the machine
// is sent now, why, and how far it got. The machine page shows this as it
// is (it never works the answer out again), so what the page says and what
// the agent is told cannot disagree.
import { isBusyUpdate, updateStateOf } from "../vocabulary";
import type { Answer, MachineView, RingView } from "./desired";

/** The answer's kind, for the badge's colour and tests: each has its own words below. */
export const ANSWER_KINDS = [
  "up-to-date",
  "update",
  "waiting-turn",
  "updating",
  "held",
  "cancelling",
  "refused",
  "pinned",
  "rolling-back",
  "rolled-back",
  "quarantined",
  "no-ring",
  "no-release",
  "no-path",
] as const;
export type AnswerKind = (typeof ANSWER_KINDS)[number];

/** The badge's colour. */
export const ANSWER_TONES = ["good", "info", "warn", "bad", "neutral"] as const;

export interface ExplainedAnswer {
  kind: AnswerKind;
  tone: (typeof ANSWER_TONES)[number];
  /** The badge's text. */
  title: string;
  /** One or two sentences. */
  detail: string;
  /** The rollout the answer comes from, to link to. */
  rolloutId: string | null;
}

export interface MachineFacts extends MachineView {
  updateError: string | null;
  bootedVersion: string | null;
  bootedRef: string | null;
  /** A DDI device (server/ddi/): told at its next poll, and only of a release that carries an artifact. */
  ddi?: { targetHasArtifacts: boolean };
}

const name = (version: string | null | undefined, checksum: string) => version ?? checksum.slice(0, 12);

export function explainAnswer(machine: MachineFacts, ring: RingView | null, answer: Answer): ExplainedAnswer {
  const state = updateStateOf(machine.updateState);
  const rolloutId = answer.source === "rollout" ? (ring?.rollout?.id ?? null) : null;
  const base = { rolloutId };
  const desired = answer.desired;
  const runs = machine.bootedVersion ?? (machine.bootedChecksum ? machine.bootedChecksum.slice(0, 12) : "nothing reported");

  if (answer.cancel) {
    return {
      ...base,
      kind: "cancelling",
      tone: "warn",
      title: `Cancelling ${name(null, answer.cancel.checksum)}`,
      detail: `Its update to ${answer.cancel.checksum.slice(0, 12)} is withdrawn: ${answer.cancel.reason}. The agent stops it and removes what it staged; the machine keeps booting ${runs}.`,
    };
  }
  if (answer.hold && desired) {
    return {
      ...base,
      kind: "held",
      tone: "warn",
      title: `Held before ${name(desired.version, desired.checksum)}`,
      detail: `It keeps ${name(desired.version, desired.checksum)} ${state === "staged" ? "staged" : "downloading"} and does not reboot into it: ${answer.hold.reason}. It goes on when the rollout resumes.`,
    };
  }
  if (answer.source === "pin" && desired) {
    const there = answer.action === "none";
    return {
      ...base,
      kind: "pinned",
      tone: there ? "good" : "info",
      title: there ? `Pinned, on ${name(desired.version, desired.checksum)}` : `Pinned, going to ${name(desired.version, desired.checksum)}`,
      detail: `Pinned to ${name(desired.version, desired.checksum)}${desired.allowDowngrade ? " (a downgrade, on purpose)" : ""}: it takes part in no rollout until it is unpinned.`,
    };
  }
  if (machine.pinned?.quarantined) {
    return {
      ...base,
      kind: "quarantined",
      tone: "bad",
      title: "Pinned to a quarantined release",
      detail: `Pinned to ${machine.pinned.version}, which the emergency brake quarantined: it is sent nothing and keeps booting ${runs}. Unpin it, or pin it to another release.`,
    };
  }
  if (answer.source === "rollback" && desired && machine.rollbackTo) {
    const there = answer.action === "none";
    return {
      ...base,
      kind: there ? "rolled-back" : "rolling-back",
      tone: "neutral",
      title: there ? "Rolled back" : "Rolling back",
      detail: `${there ? "Boots" : "Goes back to"} its previous deployment ${name(desired.version, desired.checksum)}${
        machine.rollbackTo.hold ? ", and stays there, out of every rollout, until the hold is released" : "; it follows its ring again once it boots it"
      } (${machine.rollbackTo.reason}).`,
    };
  }
  if (!ring) {
    return { ...base, kind: "no-ring", tone: "neutral", title: "Not in a ring", detail: "The console sends this machine no update. Move it to a ring to manage it." };
  }
  if (!desired && answer.deadEnd) {
    return {
      ...base,
      kind: "no-path",
      tone: "bad",
      title: "No update path",
      detail: `It is sent nothing: ${answer.deadEnd}, so it keeps booting ${runs}. Unblock a path or change the floors of its branch to let it move.`,
    };
  }
  if (answer.startsAt && ring.rollout) {
    const rollout = ring.rollout;
    const at = answer.startsAt.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    return {
      ...base,
      rolloutId: rollout.id,
      kind: "waiting-turn",
      tone: "info",
      title: `Waits its turn for ${rollout.release.version}`,
      detail: `Rollout ${rollout.release.version}'s open wave in ring ${ring.name} starts its machines a few at a time, not all at once; ${answer.waveHeld ? `the wave starts none while many of the ring's machines are at work, so this one starts once fewer are, no sooner than ${at} (its agent is told to check in again now and then until the hold ends)` : `this one starts at ${at} (its agent is told to check in again then, or at its ring's interval if that comes first)`}. Until then ${desired ? `it is sent what its ring runs (${name(desired.version, desired.checksum)})` : "it is sent nothing"} and keeps booting ${runs}.`,
    };
  }
  if (!desired) {
    const braked = ring.release?.quarantined || ring.rollout?.release.quarantined;
    if (braked) {
      return {
        ...base,
        kind: "quarantined",
        tone: "bad",
        title: "Release quarantined",
        detail: `Ring ${ring.name}'s release is quarantined by the emergency brake: the machine is sent nothing and keeps booting ${runs}.`,
      };
    }
    return {
      ...base,
      kind: "no-release",
      tone: "neutral",
      title: "No release set",
      detail: `Ring ${ring.name} has no current release yet, so the machine keeps what it runs.`,
    };
  }
  const target = name(desired.version, desired.checksum);
  const by = answer.hop ? `; ${answer.hop.version} first, ${answer.hop.steps} boots in all to reach ${answer.hop.toward}` : "";
  const from = (answer.source === "rollout" ? desired.reason : `the current release of ring ${ring.name}`) + (answer.source === "rollout" ? "" : by);
  if (answer.action === "none") {
    return { ...base, kind: "up-to-date", tone: "good", title: "Up to date", detail: `Boots ${target}, ${from}.` };
  }
  const about = machine.updateTarget === desired.checksum;
  if (about && state === "rolled_back") {
    return {
      ...base,
      kind: "refused",
      tone: "bad",
      title: `Rolled back from ${target}`,
      detail: `It booted ${target}, failed its health checks and went back to ${runs}. Its agent will not try ${target} again until the console asks for something else (a revert, a roll-forward, a pin or a new release).`,
    };
  }
  if (about && state === "failed") {
    return {
      ...base,
      kind: "refused",
      tone: "bad",
      title: `Update to ${target} failed`,
      detail: `${machine.updateError ?? "The agent reported a failure."}${
        /downgrade/i.test(machine.updateError ?? "") ? " Allow the downgrade (unpin with it, pin with it, or roll forward) for the agent to take it." : ""
      }`,
    };
  }
  if (about && isBusyUpdate(state)) {
    return {
      ...base,
      kind: "updating",
      tone: "info",
      title: `Updating to ${target}`,
      detail: `It is on its way (${state === "staged" ? "staged, waiting for a reboot slot" : state}): ${from}.`,
    };
  }
  if (machine.ddi && !machine.ddi.targetHasArtifacts) {
    return {
      ...base,
      kind: "update",
      tone: "warn",
      title: `Nothing to install for ${target}`,
      detail: `The console would send ${target} (${from}), but the release carries no artifact (a .swu): a DDI device is offered nothing until one is uploaded to the release, and keeps what it runs (${runs}).`,
    };
  }
  const told = machine.ddi ? "The device is offered it at its next poll" : "The agent is told at its next check-in";
  return {
    ...base,
    kind: "update",
    tone: "info",
    title: `Update pending to ${target}`,
    detail: `The console sends ${target} (${from}); the machine boots ${runs}. ${told}.${
      desired.allowDowngrade ? " It may go down to it: an operator allowed the downgrade." : ""
    }${machine.bootedRef && machine.bootedRef !== desired.ref ? ` It also switches branch: ${machine.bootedRef} → ${desired.ref}.` : ""}`,
  };
}
