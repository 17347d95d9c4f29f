// What the agent needs from the machine. The sim backend implements it in
// memory; the ostree, rpm-ostree and bootc backends map each call onto their
// own commands (`ostree admin status`, `rpm-ostree deploy`, `bootc switch`…).
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
   * Pulls `target` and deploys it as the default for the next boot. A
   * target already on disk is only made the default. `onProgress` gets the
   * downloaded fraction, 1 once the pull is complete. Safe to call again
   * after an interruption.
   */
  stage(target: UpdateTarget, onProgress: (fraction: number) => void, signal: AbortSignal): Promise<void>;

  /** Makes the deployment after the booted one (the rollback deployment) the default for the next boot. */
  rollback(): Promise<void>;

  /**
   * Finalizes a staged deployment, if any, and reboots into the default one.
   * A real machine does not return: the agent starts again after the boot
   * and resumes from its state on disk. The sim returns after the new boot.
   */
  finalizeAndReboot(signal: AbortSignal): Promise<void>;

  healthChecks(): Promise<HealthReport>;
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
