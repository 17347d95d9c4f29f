// What the console answers a machine: a pure function of the console's state.
// In order: its pin, a rollback, its wave in an active rollout, its ring's
// current release. A quarantined release is sent to no machine.
import type { RollbackTarget } from "../rollouts/machine-actions";
import { type RingMembership, waveFor } from "../rollouts/membership";
import type { Action, CheckinResponse, DesiredDeployment, UpdateState } from "../protocol/v1";

export interface ReleaseView {
  ref: string;
  checksum: string;
  version: string;
  quarantined: boolean;
}

export interface RolloutView {
  id: string;
  state: "running" | "paused" | "awaiting_approval" | "aborted";
  release: ReleaseView;
  allowDowngrade: boolean;
  openWave: number;
  membership: RingMembership;
}

export interface RingView {
  id: string;
  name: string;
  checkInIntervalSeconds: number;
  release: ReleaseView | null;
  /** The rollout whose waves are open in this ring, if any. */
  rollout: RolloutView | null;
}

export interface MachineView {
  machineId: string;
  labels: Record<string, string>;
  cohort: number;
  bootedChecksum: string | null;
  updateState: UpdateState;
  updateTarget: string | null;
  pinned: (ReleaseView & { allowDowngrade: boolean }) | null;
  rollbackTo: RollbackTarget | null;
}

/** Update states in which the machine is mid-update (and likely holds a reboot slot). */
const BUSY_STATES: ReadonlySet<UpdateState> = new Set(["downloading", "staged", "rebooting", "verifying"]);

export const DEFAULT_CHECK_IN_SECONDS = 300;

interface Answer {
  action: Action;
  desired: DesiredDeployment | null;
}

const NOTHING: Answer = { action: "none", desired: null };

function toward(machine: MachineView, release: ReleaseView, reason: string, allowDowngrade = false): Answer {
  if (release.quarantined) return NOTHING;
  return {
    action: machine.bootedChecksum === release.checksum ? "none" : "update",
    desired: {
      ref: release.ref,
      checksum: release.checksum,
      version: release.version,
      reason,
      ...(allowDowngrade ? { allowDowngrade: true } : {}),
    },
  };
}

function fromRollout(machine: MachineView, ring: RingView): Answer | null {
  const rollout = ring.rollout;
  if (!rollout) return null;
  const wave = waveFor(
    { machineId: machine.machineId, labels: machine.labels, cohort: machine.cohort, pinned: false },
    rollout.membership,
  );
  if (wave === null || wave > rollout.openWave) return null;
  const target = rollout.release.checksum;
  const started = machine.bootedChecksum === target || (machine.updateTarget === target && BUSY_STATES.has(machine.updateState));
  // A quarantined release is sent to nobody; machines that already took it
  // stay where they are (only a revert moves them back).
  if (rollout.release.quarantined) return started ? NOTHING : null;
  // Paused or aborted: machines already on their way (or there) keep the
  // release; the others hold on the ring's release.
  if (rollout.state !== "running" && !started) return null;
  const waves = rollout.membership.waves;
  const reason = `rollout ${rollout.release.version} · ring ${ring.name} · wave ${wave + 1} of ${waves.length}`;
  return toward(machine, rollout.release, reason, rollout.allowDowngrade);
}

function answerFor(machine: MachineView, ring: RingView | null): Answer {
  if (machine.pinned) return toward(machine, machine.pinned, `pinned to ${machine.pinned.version}`, machine.pinned.allowDowngrade);
  if (machine.rollbackTo) {
    const back = machine.rollbackTo;
    return {
      action: machine.bootedChecksum === back.checksum ? "none" : "rollback",
      desired: { ref: back.ref ?? "", checksum: back.checksum, version: back.version, reason: back.reason },
    };
  }
  if (!ring) return NOTHING;
  const rollout = fromRollout(machine, ring);
  if (rollout) return rollout;
  if (!ring.release) return NOTHING;
  return toward(machine, ring.release, `ring ${ring.name} · release ${ring.release.version}`);
}

export function desiredFor(
  machine: MachineView,
  ring: RingView | null,
  busyIntervalSeconds: number,
): Omit<CheckinResponse, "serverTime"> {
  const idleInterval = ring?.checkInIntervalSeconds ?? DEFAULT_CHECK_IN_SECONDS;
  const { action, desired } = answerFor(machine, ring);
  const inOpenWave = ring?.rollout != null && desired?.checksum === ring.rollout.release.checksum;
  const busy = action !== "none" || inOpenWave || BUSY_STATES.has(machine.updateState);
  return {
    checkInIntervalSeconds: busy ? Math.min(busyIntervalSeconds, idleInterval) : idleInterval,
    action,
    desired,
    hold: null,
    cancel: null,
  };
}
