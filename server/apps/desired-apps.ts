// The `apps` of a check-in answer (protocol v1.2): a pure function of the
// machine's view and its ring's, like the OS answer (agents/desired.ts).
//
// When `apps` is sent: only to a machine whose ring has, or once had, an app
// set (rings.apps_managed). Absent means "the console does not manage this
// machine's apps" and the agent changes nothing; [] means "no apps", and the
// agent removes those it installed. So a ring that never had an app set
// leaves its machines' apps alone, and emptying a ring's set removes the
// apps Orchard installed rather than leaving them behind unmanaged.
//
// Per app, in order: the machine's pin for that app (it keeps the pinned
// release, allowed down to it); the app rollout open in the ring, for a
// machine in an open wave (running: its target; paused or awaiting approval:
// only a machine already updating to it goes on; aborted or braked: a
// machine that already runs it stays); else the ring's release of the app.
// A braked (quarantined) release is sent to nobody: a machine that runs it
// is told to keep the commit it has (an app left out of the answer would be
// removed), one that does not is not sent the app at all.
import type { DesiredApp } from "../protocol/v1";
import { waveFor } from "../rollouts/membership";
import { isBusyAppUpdate } from "../vocabulary";
import type { MachineView, ReleaseView, RingView, RolloutView } from "../agents/desired";

export interface RingAppView {
  ref: string;
  remote: { name: string; url: string; gpgKey: string | null };
  release: Pick<ReleaseView, "checksum" | "version" | "quarantined">;
  /** Set by a revert: machines may go back to the ring's (older) release of the app. */
  allowDowngrade: boolean;
}

export const APP_ANSWER_SOURCES = ["pin", "rollout", "ring", "kept"] as const;
export type AppAnswerSource = (typeof APP_ANSWER_SOURCES)[number];

export interface AppAnswer extends DesiredApp {
  source: AppAnswerSource;
}

function fromRollout(machine: MachineView, ring: RingView, app: RingAppView, rollout: RolloutView): AppAnswer | null {
  if (rollout.release.ref !== app.ref || machine.pinned || machine.rollbackTo?.hold) return null;
  const wave = waveFor({ machineId: machine.machineId, labels: machine.labels, cohort: machine.cohort, pinned: false }, rollout.membership);
  if (wave === null || wave > rollout.openWave) return null;
  const target = rollout.release;
  const installed = machine.apps?.[app.ref] ?? null;
  const there = installed?.commit === target.checksum;
  const flying = installed?.updateTarget === target.checksum && isBusyAppUpdate(installed.updateState);
  const go = (): AppAnswer => ({
    ref: app.ref,
    remote: app.remote,
    commit: target.checksum,
    version: target.version,
    reason: `rollout ${target.version} · ring ${ring.name} · wave ${wave + 1} of ${rollout.membership.waves.length}`,
    allowDowngrade: rollout.allowDowngrade,
    source: "rollout",
  });
  if (target.quarantined) return there ? { ...go(), reason: `release ${target.version} was stopped by the emergency brake: kept`, source: "kept" } : null;
  if (rollout.state === "running" || there) return go();
  // Paused or awaiting approval: an update under way finishes (an app update has no reboot to hold before).
  if (rollout.state !== "aborted" && flying) return go();
  return null;
}

/** The app as the machine has it, or null (not sent) when it has none. */
function keep(
  app: RingAppView,
  installed: { commit: string | null } | null,
  braked: { checksum: string; version: string | null },
  reason: string,
): AppAnswer | null {
  if (!installed?.commit) return null;
  const version = installed.commit === braked.checksum ? braked.version : null;
  return { ref: app.ref, remote: app.remote, commit: installed.commit, version, reason, allowDowngrade: false, source: "kept" };
}

function answerForApp(machine: MachineView, ring: RingView, app: RingAppView): AppAnswer | null {
  const pin = machine.appPins?.[app.ref];
  const installed = machine.apps?.[app.ref] ?? null;
  if (pin) {
    // A braked pin is sent to nobody, but an app left out would be removed: a machine that has the app keeps its commit.
    if (pin.quarantined) return keep(app, installed, pin, `pinned release ${pin.version} was stopped by the emergency brake: kept`);
    return { ref: app.ref, remote: app.remote, commit: pin.checksum, version: pin.version, reason: `pinned to ${pin.version}`, allowDowngrade: true, source: "pin" };
  }
  const rollout = ring.appRollout ? fromRollout(machine, ring, app, ring.appRollout) : null;
  if (rollout) return rollout;
  if (app.release.quarantined) return keep(app, installed, app.release, `release ${app.release.version} was stopped by the emergency brake: kept`);
  return {
    ref: app.ref,
    remote: app.remote,
    commit: app.release.checksum,
    version: app.release.version,
    reason: `ring ${ring.name} · release ${app.release.version}`,
    allowDowngrade: app.allowDowngrade,
    source: "ring",
  };
}

/** Each app of the machine's answer with where it comes from; null: `apps` is not sent. */
export function appAnswersTo(machine: MachineView, ring: RingView | null): AppAnswer[] | null {
  if (!ring?.apps) return null;
  const answers: AppAnswer[] = [];
  for (const app of ring.apps) {
    const answer = answerForApp(machine, ring, app);
    if (answer) answers.push(answer);
  }
  return answers;
}

/** A machine in an open wave of the ring's app rollout that does not run its target yet: it checks in at the busy interval. */
export function inOpenAppWave(machine: MachineView, ring: RingView | null, answers: readonly AppAnswer[] | null): boolean {
  const rollout = ring?.appRollout;
  if (!rollout || !answers) return false;
  const installed = machine.apps?.[rollout.release.ref];
  return answers.some((a) => a.source === "rollout" && a.commit === rollout.release.checksum) && installed?.commit !== rollout.release.checksum;
}
