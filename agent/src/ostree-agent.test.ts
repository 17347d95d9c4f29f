// The agent on a real ostree sysroot in a folder, with a real check script:
// what `ostree admin status` lists, in order, after the agent rolled back on
// the machine, and after the console cancelled a staged update or rollback.
// Each boot is an agent started on the sysroot after the previous one asked
// for a reboot (the marker) and was stopped, as a machine going down stops it.
import { existsSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Agent } from "./agent.ts";
import { OstreeBackend, REBOOT_MARKER_FILE } from "./backends/ostree.ts";
import { runCommand } from "./command.ts";
import { MachineHealth } from "./health/machine-health.ts";
import { createLogger } from "./log.ts";
import { eventually, FakeConsole } from "./testing/fake-console.ts";
import { OstreeLab, REF, type Release, skipWithoutOstree } from "./testing/ostree-lab.ts";
import { tempDir } from "./testing/test-agent.ts";

let lab: OstreeLab;
let current: Release;
let next: Release;
let fake: FakeConsole;
let stopRunning: (() => Promise<unknown>) | null = null;

interface Machine {
  sysroot: string;
  stateDir: string;
  checksDir: string;
}

/** A machine booted into `current` whose required check fails on `failing` (by default `next`). */
async function machine(failing: string | null = next.version): Promise<Machine> {
  const checksDir = await tempDir();
  const script = path.join(checksDir, "required.d/10-app.sh");
  await mkdir(path.dirname(script));
  await writeFile(script, `#!/bin/sh\ntest "$ORCHARD_BOOTED_VERSION" != "${failing}" || { echo "app down on $ORCHARD_BOOTED_VERSION"; exit 1; }\n`);
  await chmod(script, 0o755);
  return { sysroot: await lab.sysroot(current), stateDir: await tempDir(), checksDir };
}

/** One boot: the agent started on the sysroot (the simulated boot follows a reboot marker). */
async function boot(m: Machine) {
  const backend = await OstreeBackend.open({ sysroot: m.sysroot, stateDir: m.stateDir, reboot: "marker", run: runCommand });
  const agent = new Agent({
    stateDir: m.stateDir,
    backend,
    health: new MachineHealth({ checksDir: m.checksDir, failedUnits: "ignore", probes: [], timeoutSeconds: 10, run: runCommand }),
    log: createLogger(process.env.AGENT_TEST_LOG ? "debug" : "silent", undefined, "ostree-1"),
    enrollment: { server: fake.url, token: "enroll-me", machineId: "ostree-1", hostname: "ostree-1", labels: {} },
    timing: { retryBaseSeconds: 0.01, healthGraceSeconds: 0.3, healthRetrySeconds: 0.05, reportBeforeRebootSeconds: 2, requestTimeoutSeconds: 5 },
  });
  const controller = new AbortController();
  const exit = agent.run(controller.signal);
  stopRunning = () => {
    controller.abort();
    return exit;
  };
  return { backend, agent };
}

/** Waits for the agent to ask for a reboot, then stops it: the machine goes down. */
async function rebootAsked(m: Machine) {
  await eventually(() => existsSync(path.join(m.stateDir, REBOOT_MARKER_FILE)), 20_000, "the reboot marker");
  await stopRunning?.();
  stopRunning = null;
}

/** `ostree admin status`'s deployments, in its order, as `version checksum.serial`. */
async function adminStatus(m: Machine): Promise<string[]> {
  const { stdout } = await runCommand("ostree", ["admin", `--sysroot=${m.sysroot}`, "status"]);
  const name = (checksum: string) => (checksum === current.checksum ? current.version : checksum === next.checksum ? next.version : "?");
  return [...stdout.matchAll(/^[* ] \S+ ([0-9a-f]{64})\.(\d+)/gm)].map(([, checksum, serial]) => `${name(checksum)} ${checksum.slice(0, 8)}.${serial}`);
}

const short = (release: Release, serial: number) => `${release.version} ${release.checksum.slice(0, 8)}.${serial}`;
const lastCheckin = () => fake.machine("ostree-1").checkins.at(-1);
const events = () => fake.machine("ostree-1").events;

describe.skipIf(skipWithoutOstree)("agent on an ostree sysroot in a folder", { timeout: 90_000 }, () => {
  beforeAll(async () => {
    lab = await OstreeLab.create();
    current = await lab.commit("2026.10.3", "2026-10-28 14:40:11");
    next = await lab.commit("2026.11.1", "2026-11-24 09:12:44");
  });

  beforeEach(async () => {
    fake = await FakeConsole.start();
    fake.desired = { ref: REF, ...next };
  });

  afterEach(async () => {
    await stopRunning?.();
    stopRunning = null;
    await fake.close();
  });

  it("after rolling back from a release whose required check failed, the fallback is the good release, not the failed one", async () => {
    const m = await machine();
    await boot(m);
    await rebootAsked(m);
    expect(await adminStatus(m)).toEqual([short(next, 0), short(current, 0)]);

    // Boots the new release; its check fails; the agent deploys the good one again on top and reboots.
    await boot(m);
    await rebootAsked(m);
    expect(await adminStatus(m)).toEqual([short(current, 1), short(next, 0), short(current, 0)]);

    const { backend } = await boot(m);
    await eventually(() => lastCheckin()?.update.state === "rolled-back", 20_000, "rolled back");
    // The failed release is gone: the next boot is the good release, and its fallback the good release's first deployment.
    expect(await adminStatus(m)).toEqual([short(current, 1), short(current, 0)]);
    expect((await backend.status()).deployments.map((d) => [d.version, d.booted])).toEqual([
      [current.version, true],
      [current.version, false],
    ]);
    await eventually(() => events().some((e) => e.type === "rollback.performed"), 10_000, "the rollback event");
    const rollback = events().find((e) => e.type === "rollback.performed")!;
    expect(rollback.detail).toBe(
      `booted back into ${current.version} after health check required.d/10-app.sh failed: app down on ${next.version}\n(exited with 1); removed ${next.version} (${next.checksum.slice(0, 12)})`,
    );
  });

  it("after a cancel of a staged update, the booted deployment is the default and the staged one is gone", async () => {
    fake.version = "1.1";
    fake.lockDenials = 1000;
    fake.lockRetryAfterSeconds = 0.2;
    const m = await machine();
    const { agent } = await boot(m);
    await eventually(() => agent.state?.update.phase === "staged" && lastCheckin()?.update.state === "staged", 20_000, "staged");
    expect(await adminStatus(m)).toEqual([short(next, 0), short(current, 0)]);

    fake.withdrawn = { checksum: next.checksum, reason: "rollout 2026.11.1 aborted" };
    fake.desired = null;
    await eventually(() => lastCheckin()?.update.state === "idle" && events().some((e) => e.type === "update.cancelled"), 20_000, "cancelled");
    expect(events().find((e) => e.type === "update.cancelled")!.detail).toBe(
      `cancelled by the console: rollout 2026.11.1 aborted; removed the staged deployment ${next.version} (${next.checksum.slice(0, 12)})`,
    );
    expect(await adminStatus(m)).toEqual([short(current, 0)]);
    expect(lastCheckin()!.deployments.map((d) => [d.version, d.booted, d.staged])).toEqual([[current.version, true, false]]);
    expect(existsSync(path.join(m.stateDir, REBOOT_MARKER_FILE))).toBe(false);
  });

  it("after a cancel of a staged rollback, the booted deployment is the default and the older one is still on disk", async () => {
    fake.version = "1.1";
    const m = await machine(null);
    await boot(m);
    await rebootAsked(m);
    const { agent } = await boot(m);
    await eventually(() => lastCheckin()?.update.state === "succeeded" && !agent.state?.holdsRebootLock, 20_000, "on the new release");
    expect(await adminStatus(m)).toEqual([short(next, 0), short(current, 0)]);

    // The console sends it back, and no slot is free: this ostree deploys the older release again on top.
    fake.lockDenials = 1000;
    fake.lockRetryAfterSeconds = 0.2;
    fake.desired = { ref: REF, ...current };
    fake.action = "rollback";
    await eventually(() => agent.state?.update.kind === "rollback" && lastCheckin()?.update.state === "staged", 20_000, "the rollback staged");
    expect(await adminStatus(m)).toEqual([short(current, 1), short(next, 0), short(current, 0)]);

    fake.withdrawn = { checksum: current.checksum, reason: "rollback withdrawn" };
    fake.desired = { ref: REF, ...next };
    fake.action = "update";
    await eventually(() => lastCheckin()?.update.state === "idle" && events().some((e) => e.type === "update.cancelled"), 20_000, "cancelled");
    expect(await adminStatus(m)).toEqual([short(next, 0), short(current, 0)]);
    expect(lastCheckin()!.deployments.map((d) => [d.version, d.booted, d.staged])).toEqual([
      [next.version, true, false],
      [current.version, false, false],
    ]);
  });
});
