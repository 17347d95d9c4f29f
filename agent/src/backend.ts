// What the agent needs from the machine. Four implementations: ostree,
// rpm-ostree and bootc drive the machine's own tools; sim is an in-memory
// machine for the fleet simulator and the tests.
import type { Backend as BackendKind, Deployment, HealthCheck, HealthStatus } from "../../server/protocol/v1.ts";
import type { UpdateTarget } from "./store.ts";

export type { BackendKind };

export interface MachineStatus {
  /** In boot order: the first is the default for the next boot. Exactly one is booted. */
  deployments: Deployment[];
  /** Changes at every boot (the kernel's /proc/sys/kernel/random/boot_id). */
  bootId: string;
}

/**
 * The machine's health. A check whose failure must roll an update back
 * reports `fail`; an advisory one reports `warn` at worst.
 */
export interface HealthReport {
  status: HealthStatus;
  checks: HealthCheck[];
}

export interface OsInfo {
  id?: string;
  versionId?: string;
  arch?: string;
}

export interface Backend {
  readonly kind: BackendKind;

  status(): Promise<MachineStatus>;

  /** What the machine runs, for enrollment (normally from /etc/os-release). */
  osInfo(): Promise<OsInfo>;

  /**
   * True when `target` was built before the booted deployment (commit
   * timestamps for ostree and rpm-ostree, image creation times for bootc).
   * Fetches only the target's metadata, and checks its signature where the
   * machine is set up to.
   */
  isOlderThanBooted(target: UpdateTarget, signal: AbortSignal): Promise<boolean>;

  /**
   * Downloads `target` (refused when its signature does not verify) and
   * deploys it as the default for the next boot. `onProgress` gets the
   * downloaded fraction where the tool tells it, and 1 at the end. Safe to
   * call again after an interruption.
   */
  stage(target: UpdateTarget, onProgress: (fraction: number) => void, signal: AbortSignal): Promise<void>;

  /**
   * Makes a deployment already on disk the default for the next boot (a
   * rollback needs no download). A deployment it moves out of the way stays
   * on disk where the tool allows it, so that a cancelled rollback loses
   * nothing; one that stood in front of the booted deployment and was never
   * booted may go (ostree cannot reorder, rpm-ostree and bootc cannot move a
   * staged one).
   */
  makeDefault(checksum: string): Promise<void>;

  /**
   * Removes the deployment of `checksum`, which must be neither booted nor
   * pinned: a staged or pending one (the next boot is then the booted
   * deployment), or one behind the booted deployment (a release that failed
   * and was rolled back from, so that the boot loader's fallback is not
   * it). False when no such deployment is on disk: nothing to remove.
   */
  discard(checksum: string): Promise<boolean>;

  /** Pins a deployment (kept whatever is deployed later) or unpins it. */
  pin(checksum: string, pinned: boolean): Promise<void>;

  /**
   * Reboots into the default deployment. A real machine does not return:
   * the agent is stopped by the shutdown and starts again after the boot,
   * resuming from its state on disk. The sim returns after the new boot.
   */
  reboot(signal: AbortSignal): Promise<void>;
}

/** Where the machine's health comes from: check scripts, units and probes, or the sim's knobs. */
export interface HealthSource {
  /** Runs every check; `booted` is what the machine booted (check scripts get it in their environment). */
  healthChecks(booted: Deployment | null, signal: AbortSignal): Promise<HealthReport>;
}

/** Thrown by a backend whose machine went down for good (a sim machine gone dark): the agent stops. */
export class MachineHalted extends Error {
  constructor(message = "the machine went down and did not come back") {
    super(message);
    this.name = "MachineHalted";
  }
}

/** The status a list of checks adds up to. */
export function healthStatusOf(checks: HealthCheck[]): HealthStatus {
  if (checks.length === 0) return "unknown";
  if (checks.some((c) => c.status === "fail")) return "unhealthy";
  if (checks.some((c) => c.status === "warn")) return "degraded";
  return "healthy";
}

/**
 * Where the deployments of `checksum` stand in a boot-order list, for
 * `discard`: their indexes, highest first (so that removing one does not
 * move the next). Refuses the booted and pinned ones.
 */
export function discardable(deployments: readonly { checksum: string; booted: boolean; pinned: boolean }[], checksum: string): number[] {
  const found = deployments.flatMap((d, index) => (d.checksum === checksum ? [{ ...d, index }] : []));
  if (found.some((d) => d.booted)) throw new Error(`${checksum.slice(0, 12)} is the booted deployment: it cannot be discarded`);
  if (found.some((d) => d.pinned)) throw new Error(`${checksum.slice(0, 12)} is pinned: unpin it before discarding it`);
  return found.map((d) => d.index).reverse();
}

/** The deployment of `checksum` in a status, or an error that says it is not on disk. */
export function deploymentOf(status: MachineStatus, checksum: string): Deployment & { index: number } {
  const index = status.deployments.findIndex((d) => d.checksum === checksum);
  if (index < 0) throw new Error(`no deployment of ${checksum.slice(0, 12)} on disk`);
  return { ...status.deployments[index], index };
}
