// What the app reconciler needs from the machine: a Flatpak installation
// (the real `flatpak` command, or the sim's apps) and each app's health checks.
import type { DesiredApp } from "../../../server/protocol/v1.ts";
import type { HealthReport } from "../backend.ts";

export interface InstalledRef {
  /** `app/ID/ARCH/BRANCH` or `runtime/ID/ARCH/BRANCH`. */
  ref: string;
  /** The active commit. */
  commit: string;
  /** The remote it was installed from. */
  origin: string | null;
  /** An app's runtime as `runtime/ID/ARCH/BRANCH`; null for a runtime. */
  runtime: string | null;
}

export type AppRemote = DesiredApp["remote"];

/** A commit of an app, with the console's name for it when known (the sim orders releases by it). */
export interface AppTarget {
  commit: string;
  version: string | null;
}

export interface AppDriver {
  /** Every installed app and runtime. */
  list(signal: AbortSignal): Promise<InstalledRef[]>;
  /** Adds the remote, or changes its URL (and key) when it differs. */
  ensureRemote(remote: AppRemote, signal: AbortSignal): Promise<void>;
  /** Installs `ref` from `remote` (with its runtime) and brings it to the target's commit. */
  install(remote: string, ref: string, target: AppTarget, signal: AbortSignal): Promise<void>;
  /** Brings an installed `ref` to the target's commit, older or newer. */
  update(ref: string, target: AppTarget, signal: AbortSignal): Promise<void>;
  uninstall(ref: string, signal: AbortSignal): Promise<void>;
  /**
   * True when `target` is older than `active` in the history of `ref` on
   * `remote` (a downgrade). `version` is the console's name for the target.
   */
  isOlder(remote: string, ref: string, target: AppTarget, active: string, signal: AbortSignal): Promise<boolean>;
}

/** An app's own health checks, run after each change of it. */
export interface AppChecks {
  appHealth(app: { ref: string; commit: string }, signal: AbortSignal): Promise<HealthReport>;
}

/** The ID part of a Flatpak ref. */
export function appIdOf(ref: string): string {
  return ref.split("/")[1] ?? ref;
}
