// What the console answers a machine: a pure function of the console's state and the time.
// In order: its pin, a rollback, its wave in an active rollout (once its turn
// in the wave has come: rollouts/ramp.ts), its ring's current release. A quarantined release is sent to no machine. An update
// already under way on the machine is held while its rollout is paused, and
// cancelled when the console no longer wants it (protocol v1.1). Toward a
// release of a branch with floors or blocked paths, the machine is sent only
// its next hop (releases/paths.ts).
import { appAnswersTo, inOpenAppWave, type RingAppView } from "../apps/desired-apps";
import type { InstalledAppState } from "../apps/app-state-writer";
import { routeOf, type UpdatePath } from "../releases/paths";
import { goesFirst, type RingMembership, waveFor } from "../rollouts/membership";
import { type Ramp, untilTurn } from "../rollouts/ramp";
import type { Action, CheckinResponse, DesiredDeployment, InFlightDirective } from "../protocol/v1";
import {
  type ActiveRolloutState,
  isBusyAppUpdate,
  isBusyUpdate,
  isCancellableUpdate,
  isHoldableUpdate,
  type PausedBy,
} from "../vocabulary";

/** Set by a revert or an operator's rollback: boot this previous deployment. */
export interface RollbackTarget {
  checksum: string;
  ref: string | null;
  version: string | null;
  reason: string;
  /** Stay there until an operator releases the machine (a machine rollback), or move on once booted (a rollout's revert). */
  hold: boolean;
}

export interface ReleaseView {
  ref: string;
  checksum: string;
  version: string;
  quarantined: boolean;
  /** The release's branch, when it has floors or blocked paths: machines reach the release hop by hop. */
  path?: UpdatePath | null;
}

export interface RolloutView {
  id: string;
  state: ActiveRolloutState | "aborted";
  pausedBy: PausedBy | null;
  pauseReason: string | null;
  release: ReleaseView;
  allowDowngrade: boolean;
  openWave: number;
  membership: RingMembership;
  /** About how many of the ring's machines its open waves reach (unknown: left out). */
  waveMachines?: number;
  /** The open wave starts its new machines over time (rollouts/ramp.ts); null or left out: all at once. */
  ramp?: Ramp | null;
}

export interface RingView {
  id: string;
  name: string;
  checkInIntervalSeconds: number;
  release: ReleaseView | null;
  /** The OS rollout whose waves are open in this ring, if any. */
  rollout: RolloutView | null;
  /** The ring's app set (protocol v1.2); null: the ring never had one, its machines' apps are left alone. */
  apps?: RingAppView[] | null;
  /** The app rollout whose waves are open in this ring, if any (its release's ref is the app's). */
  appRollout?: RolloutView | null;
}

export interface MachineView {
  machineId: string;
  labels: Record<string, string>;
  cohort: number;
  bootedChecksum: string | null;
  /** As reported (`rolled-back` or `rolled_back`: only the busy states are read here). */
  updateState: string;
  updateTarget: string | null;
  pinned: (ReleaseView & { allowDowngrade: boolean }) | null;
  rollbackTo: RollbackTarget | null;
  /** An operator's unpin allowed the machine down to this (older) release of its ring. */
  allowDowngradeTo: string | null;
  /** Its installed apps by ref, as last reported (protocol v1.2). */
  apps?: Record<string, InstalledAppState>;
  /** Its pins per app, by ref. */
  appPins?: Record<string, Pick<ReleaseView, "checksum" | "version" | "quarantined">>;
}

export const DEFAULT_CHECK_IN_SECONDS = 300;

/**
 * Check-ins a second that the machines of one open wave that have nothing
 * left to do (they booted the release and wait out the soak) may ask in all
 * (ORCHARD_WAVE_CHECKINS): their interval stretches from the busy interval
 * toward the ring's as the wave grows, so a wave of 90,000 machines is
 * watched every 180 s instead of asking 9,000 check-ins a second.
 */
export const DEFAULT_WAVE_CHECKINS = 500;

/** Where the answer comes from, for the words an operator reads (explain.ts). */
export const ANSWER_SOURCES = ["pin", "rollback", "rollout", "ring", "none"] as const;
export type AnswerSource = (typeof ANSWER_SOURCES)[number];

/** The machine is sent an intermediate release first (a floor, or around a blocked path). */
export interface Hop {
  /** The release it is sent now. */
  version: string;
  /** Boots still needed to reach `toward`, this one included. */
  steps: number;
  toward: string;
}

export interface Answer {
  action: Action;
  desired: DesiredDeployment | null;
  hold: InFlightDirective | null;
  cancel: InFlightDirective | null;
  source: AnswerSource;
  hop: Hop | null;
  /** Why the machine is sent nothing toward the release it should run: no allowed path reaches it. */
  deadEnd: string | null;
  /**
   * In an open wave that starts its machines over time, and not started
   * yet: when it starts (until then it is answered as before the wave).
   */
  startsAt: Date | null;
  /**
   * The wave is held (too many of the ring's machines at work): the machine
   * starts no sooner than `startsAt`, and only once the hold ends.
   */
  waveHeld: boolean;
}

type Toward = Pick<Answer, "action" | "desired" | "source"> & Partial<Pick<Answer, "hop" | "deadEnd" | "startsAt" | "waveHeld">>;

const NOTHING: Toward = { action: "none", desired: null, source: "none" };

function toward(machine: MachineView, release: ReleaseView, reason: string, source: Answer["source"], allowed = false): Toward {
  if (release.quarantined) return NOTHING;
  const route = release.path ? routeOf(release.path, machine.bootedChecksum, release.checksum) : null;
  if (route?.kind === "dead_end") return { ...NOTHING, source, deadEnd: route.reason };
  const next = route?.kind === "hops" ? route.hops[0]! : null;
  const allowDowngrade = !next && (allowed || machine.allowDowngradeTo === release.checksum);
  const checksum = next?.checksum ?? release.checksum;
  const steps = route?.kind === "hops" ? route.hops.length : 1;
  return {
    action: machine.bootedChecksum === checksum ? "none" : "update",
    desired: {
      ref: release.ref,
      checksum,
      version: next?.version ?? release.version,
      reason: next ? `${reason} · by way of ${next.version} (${steps} boots to ${release.version})` : reason,
      ...(allowDowngrade ? { allowDowngrade: true } : {}),
    },
    source,
    hop: next ? { version: next.version, steps, toward: release.version } : null,
  };
}

/** The machine works on `checksum` and has not booted it yet. */
function inFlightTo(machine: MachineView, checksum: string) {
  return machine.updateTarget === checksum && machine.bootedChecksum !== checksum && isBusyUpdate(machine.updateState);
}

function pausedText(rollout: RolloutView) {
  if (rollout.state === "awaiting_approval") return `rollout ${rollout.release.version} awaits approval`;
  return `rollout ${rollout.release.version} is paused${rollout.pauseReason ? `: ${rollout.pauseReason}` : ""}`;
}

/**
 * When a machine of the open wave starts, if that is still to come: only a
 * machine that has not booted or begun the release waits its turn (one at
 * work on it, or done, is never held back by the ramp), and a machine that
 * goes first never does. While the wave is held, every other one waits,
 * its turn come or not (rollouts/ramp.ts).
 */
function turnToCome(machine: MachineView, rollout: RolloutView, wave: number, checksum: string, now: Date | null): { at: Date; held: boolean } | null {
  if (!now || !rollout.ramp || wave !== rollout.openWave) return null;
  if (machine.bootedChecksum === checksum || machine.updateTarget === checksum) return null;
  if (goesFirst(machine, rollout.membership)) return null;
  const wait = untilTurn(rollout.ramp, machine.cohort, now);
  const held = Boolean(rollout.ramp.heldAt);
  return held || wait > 0 ? { at: new Date(now.getTime() + wait), held } : null;
}

function fromRollout(machine: MachineView, ring: RingView, now: Date | null): (Toward & { hold?: InFlightDirective }) | null {
  const rollout = ring.rollout;
  if (!rollout) return null;
  const wave = waveFor(
    { machineId: machine.machineId, labels: machine.labels, cohort: machine.cohort, pinned: false },
    rollout.membership,
  );
  if (wave === null || wave > rollout.openWave) return null;
  const target = rollout.release.checksum;
  const booted = machine.bootedChecksum === target;
  // A quarantined release is sent to nobody, and machines on their way are
  // cancelled (below); those that booted it stay (only a revert moves them).
  if (rollout.release.quarantined) return booted ? NOTHING : null;
  const reason = `rollout ${rollout.release.version} · ring ${ring.name} · wave ${wave + 1} of ${rollout.membership.waves.length}`;
  const go = toward(machine, rollout.release, reason, "rollout", rollout.allowDowngrade);
  if (rollout.state === "running" && go.desired) {
    // Not its turn yet: answered as before the wave, and told when to come back.
    const turn = turnToCome(machine, rollout, wave, go.desired.checksum, now);
    if (turn) return { ...beforeTheRollout(machine, ring), startsAt: turn.at, waveHeld: turn.held };
  }
  if (rollout.state === "running" || booted) return go;
  const flying = inFlightTo(machine, go.desired?.checksum ?? target);
  // Aborted: machines that had not booted it are cancelled (below) and follow their ring.
  if (rollout.state === "aborted" || !flying) return null;
  // Paused: a machine on its way keeps what it staged and waits; one already
  // granted its reboot slot goes on.
  if (isHoldableUpdate(machine.updateState)) return { ...go, hold: { checksum: go.desired?.checksum ?? target, reason: pausedText(rollout) } };
  return go;
}

/** The ring's own answer, without its rollout. */
function beforeTheRollout(machine: MachineView, ring: RingView): Toward {
  if (!ring.release) return NOTHING;
  return toward(machine, ring.release, `ring ${ring.name} · release ${ring.release.version}`, "ring");
}

function answerFor(machine: MachineView, ring: RingView | null, now: Date | null): Toward & { hold?: InFlightDirective } {
  if (machine.pinned) {
    return toward(machine, machine.pinned, `pinned to ${machine.pinned.version}`, "pin", machine.pinned.allowDowngrade);
  }
  if (machine.rollbackTo) {
    const back = machine.rollbackTo;
    return {
      action: machine.bootedChecksum === back.checksum ? "none" : "rollback",
      desired: { ref: back.ref ?? "", checksum: back.checksum, version: back.version, reason: back.reason },
      source: "rollback",
    };
  }
  if (!ring) return NOTHING;
  return fromRollout(machine, ring, now) ?? beforeTheRollout(machine, ring);
}

/** Why the console no longer wants the update the machine has under way, in an operator's words. */
function withdrawnBecause(machine: MachineView, ring: RingView | null, target: string, now: Toward): string {
  const rollout = ring?.rollout?.release.checksum === target ? ring.rollout : null;
  const quarantined = [rollout?.release, ring?.release, machine.pinned].find((r) => r?.checksum === target && r.quarantined);
  if (quarantined) return `release ${quarantined.version} was stopped by the emergency brake`;
  if (now.source === "pin") return `the machine was pinned to ${now.desired?.version ?? "another release"}`;
  if (now.source === "rollback") return machine.rollbackTo?.reason ?? "the machine is sent back to its previous deployment";
  if (rollout?.state === "aborted") return `rollout ${rollout.release.version} was aborted${rollout.pauseReason ? ` (${rollout.pauseReason})` : ""}`;
  if (!ring) return "the machine left its ring";
  return now.desired ? `ring ${ring.name} now runs ${now.desired.version ?? now.desired.checksum.slice(0, 12)}` : `ring ${ring.name} no longer sends it`;
}

/**
 * The console's whole answer to a machine, with where it comes from, at
 * `at` (null: the ramp of a wave is not looked at, every machine of it has
 * started).
 */
export function answerTo(machine: MachineView, ring: RingView | null, at: Date | null = null): Answer {
  const { hold, ...now } = answerFor(machine, ring, at);
  const target = machine.updateTarget;
  const wanted = now.action !== "none" && now.desired?.checksum === target;
  const cancellable = target !== null && machine.bootedChecksum !== target && isCancellableUpdate(machine.updateState);
  const cancel = cancellable && !wanted ? { checksum: target, reason: withdrawnBecause(machine, ring, target, now) } : null;
  return { ...now, hop: now.hop ?? null, deadEnd: now.deadEnd ?? null, startsAt: now.startsAt ?? null, waveHeld: now.waveHeld ?? false, hold: hold ?? null, cancel };
}

/**
 * May the machine take a reboot slot to boot `checksum` now? Only when the
 * console's answer is to update or roll back to exactly that, not held.
 */
export function rebootWanted(machine: MachineView, ring: RingView | null, checksum: string | null, now: Date | null = null): "yes" | "held" | "not_wanted" {
  const answer = answerTo(machine, ring, now);
  if (answer.action === "none" || !checksum || answer.desired?.checksum !== checksum) return "not_wanted";
  return answer.hold ? "held" : "yes";
}

/**
 * The answer's check-in interval: the busy interval while the machine has
 * work to do; in an open wave with none left, the busy interval stretched
 * so that the wave's machines ask at most `waveCheckinsPerSecond` in all;
 * else the ring's. A machine waiting its turn in a wave comes back when it
 * starts (if that is sooner than the ring's interval); while its wave is
 * held, when it starts at the soonest, but no sooner than the wave's
 * stretched interval: the hold's end is not known ahead, and the waiting
 * machines then ask within the wave's budget, not every few seconds.
 */
function intervalFor(
  working: boolean,
  wave: RolloutView | null,
  idleInterval: number,
  busyIntervalSeconds: number,
  waveCheckinsPerSecond: number,
  turn: { inMs: number; held: boolean } | null,
) {
  const busyInterval = Math.min(busyIntervalSeconds, idleInterval);
  if (working) return busyInterval;
  const turnSeconds = turn ? Math.max(1, Math.ceil(turn.inMs / 1000)) : 0;
  if (turn && !turn.held) return Math.min(idleInterval, turnSeconds);
  if (!wave) return idleInterval;
  const spread = Math.ceil((wave.waveMachines ?? 0) / waveCheckinsPerSecond);
  return Math.min(idleInterval, Math.max(busyInterval, spread, turnSeconds));
}

export function desiredFor(
  machine: MachineView,
  ring: RingView | null,
  busyIntervalSeconds: number,
  waveCheckinsPerSecond: number = DEFAULT_WAVE_CHECKINS,
  now: Date | null = null,
): Omit<CheckinResponse, "serverTime"> {
  const idleInterval = ring?.checkInIntervalSeconds ?? DEFAULT_CHECK_IN_SECONDS;
  const { action, desired, hold, cancel, startsAt: turn, waveHeld } = answerTo(machine, ring, now);
  const apps = appAnswersTo(machine, ring);
  const inOpenWave = ring?.rollout != null && desired?.checksum === ring.rollout.release.checksum;
  const appBusy = inOpenAppWave(machine, ring, apps) || Object.values(machine.apps ?? {}).some((a) => isBusyAppUpdate(a.updateState));
  const working = action !== "none" || appBusy || isBusyUpdate(machine.updateState);
  return {
    checkInIntervalSeconds: intervalFor(
      working,
      inOpenWave || waveHeld ? (ring?.rollout ?? null) : null,
      idleInterval,
      busyIntervalSeconds,
      waveCheckinsPerSecond,
      turn && now ? { inMs: turn.getTime() - now.getTime(), held: waveHeld } : null,
    ),
    action,
    desired,
    hold,
    cancel,
    ...(apps ? { apps: apps.map(({ source: _source, ...app }) => app) } : {}),
  };
}
