// What the console answers a machine: a pure function of the console's state.
// Until rollouts exist, the desired deployment of a machine is its ring's
// current release, or nothing.
import type { Action, CheckinResponse, DesiredDeployment, UpdateState } from "../protocol/v1";

export interface RingView {
  id: string;
  name: string;
  checkInIntervalSeconds: number;
  release: { ref: string; checksum: string; version: string } | null;
}

export interface MachineView {
  bootedChecksum: string | null;
  updateState: UpdateState;
}

/** Update states in which the machine is mid-update (and likely holds a reboot slot). */
const BUSY_STATES: ReadonlySet<UpdateState> = new Set(["downloading", "staged", "rebooting", "verifying"]);

export const DEFAULT_CHECK_IN_SECONDS = 300;

export function desiredFor(
  machine: MachineView,
  ring: RingView | null,
  busyIntervalSeconds: number,
): Omit<CheckinResponse, "serverTime"> {
  const idleInterval = ring?.checkInIntervalSeconds ?? DEFAULT_CHECK_IN_SECONDS;
  let action: Action = "none";
  let desired: DesiredDeployment | null = null;
  if (ring?.release) {
    const release = ring.release;
    desired = {
      ref: release.ref,
      checksum: release.checksum,
      version: release.version,
      reason: `ring ${ring.name} · release ${release.version}`,
    };
    if (machine.bootedChecksum !== release.checksum) action = "update";
  }
  const busy = action !== "none" || BUSY_STATES.has(machine.updateState);
  return {
    checkInIntervalSeconds: busy ? Math.min(busyIntervalSeconds, idleInterval) : idleInterval,
    action,
    desired,
  };
}
