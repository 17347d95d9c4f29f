// The reboot step of the ostree, rpm-ostree and bootc backends. On a machine
// it is `systemctl reboot` (staged deployments are finalized on the way
// down), and the shutdown stops the agent. On a sysroot in a folder (tests,
// demos) it is a marker file: the next agent start takes it as a boot into
// the default deployment.
import { unlink } from "node:fs/promises";
import type { Run } from "./command.ts";
import { writeFileAtomic } from "./store.ts";
import { sleep } from "./timing.ts";

export const rebootModes = ["systemctl", "marker"] as const;
export type RebootMode = (typeof rebootModes)[number];

export interface Rebooter {
  readonly mode: RebootMode;
  /** Never returns normally: it ends when the agent is stopped, or throws when the reboot did not happen. */
  reboot(signal: AbortSignal): Promise<void>;
}

/** How long a machine may stay up after `systemctl reboot` before the agent takes the reboot as lost. */
export const REBOOT_GIVE_UP_SECONDS = 900;

export function systemctlRebooter(run: Run, giveUpSeconds = REBOOT_GIVE_UP_SECONDS): Rebooter {
  return {
    mode: "systemctl",
    async reboot(signal) {
      await run("systemctl", ["reboot"], { timeoutSeconds: 60, signal });
      // The shutdown stops the agent long before this ends; if it does not,
      // the update step fails and is retried (the boot id shows no reboot happened).
      await sleep(giveUpSeconds, signal);
      throw new Error(`systemctl reboot was accepted ${giveUpSeconds} s ago, and the machine is still up`);
    },
  };
}

export function markerRebooter(file: string): Rebooter {
  return {
    mode: "marker",
    async reboot(signal) {
      await writeFileAtomic(file, `${JSON.stringify({ requestedAt: new Date().toISOString() })}\n`);
      // Like a machine going down: nothing more happens until the agent is
      // stopped. A timer, not a bare promise: with nothing left to wait on,
      // Node would end the process (exit code 13, an unsettled top-level await).
      for (;;) await sleep(3600, signal);
    },
  };
}

/** Removes the marker; true when there was one. Called once the simulated boot is recorded. */
export async function clearRebootMarker(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}
