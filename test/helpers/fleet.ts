// Simulated agents for integration tests: the fleet simulator of agent/, in
// this process, over real HTTP.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Fleet, runFleet } from "../../agent/src/fleet/fleet";
import { createLogger } from "../../agent/src/log";

export const FACTORY = { ref: "exampleos/x86_64/stable", checksum: "1".repeat(64), version: "1" };

export function startFleet(options: {
  server: string;
  token: string;
  count: number;
  prefix: string;
  failRelease?: string | null;
  darkRate?: number;
  stateDir?: string;
  /** Each agent's stage and reboot take ±50 % around these (0.5 s by default). */
  stageSeconds?: number;
  rebootSeconds?: number;
  /** The deployment a new sim machine boots (FACTORY by default). */
  factory?: { ref: string; checksum: string; version: string };
  /** Apps (protocol 1.2): an app release (version or commit) whose app check always fails, and how long an app install takes (0.5 s by default). */
  failAppRelease?: string | null;
  appInstallSeconds?: number;
}): Fleet & { stateDir: string } {
  const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "orch-fleet-"));
  const fleet = runFleet({
    server: options.server,
    groups: [{ token: options.token, count: options.count }],
    stateDir,
    namePrefix: options.prefix,
    intervalSeconds: 2,
    clockSkewSeconds: 0,
    healthGraceSeconds: 2,
    sim: {
      factory: options.factory ?? FACTORY,
      stageSeconds: options.stageSeconds ?? 0.5,
      rebootSeconds: options.rebootSeconds ?? 0.5,
      failRate: 0,
      failRelease: options.failRelease ?? null,
      darkRate: options.darkRate ?? 0,
      degradedRate: 0,
      fallbackRate: 0,
      failAppRelease: options.failAppRelease ?? null,
      appInstallSeconds: options.appInstallSeconds ?? 0.5,
    },
    log: createLogger(process.env.FLEET_LOG === "1" ? "info" : "silent"),
  });
  return { ...fleet, stateDir };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
