// The agent process killed (SIGKILL, no goodbye) at every step of an update
// and started again, on a real ostree sysroot in a folder: the update
// completes, or rolls back, and never hangs. The reboot step writes its
// marker and waits to be stopped, as a machine going down would; the next
// start boots the default deployment.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { REBOOT_MARKER_FILE } from "./backends/ostree.ts";
import { type AgentState, STATE_FILE, type UpdatePhase } from "./store.ts";
import { eventually, FakeConsole } from "./testing/fake-console.ts";
import { OstreeLab, REF, type Release, skipWithoutOstree } from "./testing/ostree-lab.ts";
import { tempDir } from "./testing/test-agent.ts";

const bin = path.resolve(import.meta.dirname, "../../bin/orchard-agent.js");
const ORDER: UpdatePhase[] = ["downloading", "staged", "rebooting", "verifying", "reverting"];

let lab: OstreeLab;
let current: Release;
let next: Release;
let fake: FakeConsole;
let agent: ChildProcess | null = null;

/** `ostree` on PATH that takes half a second more to pull, so that a kill can land in the middle of one. */
async function slowPullOstree(): Promise<string> {
  const dir = await tempDir();
  const real = execFileSync("sh", ["-c", "command -v ostree"], { encoding: "utf8" }).trim();
  await writeFile(path.join(dir, "ostree"), `#!/bin/sh\n[ "$1" = pull ] && sleep 0.5\nexec ${real} "$@"\n`);
  await chmod(path.join(dir, "ostree"), 0o755);
  return dir;
}

interface Machine {
  stateDir: string;
  env: NodeJS.ProcessEnv;
}

/** A machine booted into `current`, whose required health check fails on `failVersion` (and takes 0.5 s). */
async function machine(failVersion: string | null): Promise<Machine> {
  const stateDir = await tempDir();
  const checksDir = await tempDir();
  await writeFile(path.join(checksDir, "fail-version"), failVersion ?? "none");
  const script = path.join(checksDir, "required.d/10-app.sh");
  execFileSync("mkdir", ["-p", path.dirname(script)]);
  await writeFile(script, `#!/bin/sh\nsleep 0.5\ntest "$ORCHARD_BOOTED_VERSION" != "$(cat ${checksDir}/fail-version)" || { echo "app down on $ORCHARD_BOOTED_VERSION"; exit 1; }\n`);
  await chmod(script, 0o755);
  const config = {
    server: fake.url,
    enrollmentToken: "enroll-me",
    stateDir,
    machineId: "crash-1",
    hostname: "crash-1",
    backend: "ostree",
    reboot: "marker",
    ostree: { sysroot: await lab.sysroot(current) },
    health: { checksDir, failedUnits: "ignore", timeoutSeconds: 10 },
    healthGraceSeconds: 1.5,
    logLevel: "debug",
  };
  const configFile = path.join(stateDir, "..", `${path.basename(stateDir)}-agent.json`);
  await writeFile(configFile, JSON.stringify(config));
  return { stateDir, env: { ...process.env, ORCHARD_AGENT_CONFIG: configFile, PATH: `${await slowPullOstree()}:${process.env.PATH}` } };
}

function startAgent(m: Machine): ChildProcess {
  const child = spawn(process.execPath, [bin, "run"], { env: m.env, stdio: ["ignore", "ignore", "pipe"] });
  child.stderr!.on("data", (chunk: Buffer) => {
    if (process.env.AGENT_TEST_LOG) process.stderr.write(chunk);
  });
  agent = child;
  return child;
}

function stateOf(m: Machine): AgentState | null {
  try {
    return JSON.parse(readFileSync(path.join(m.stateDir, STATE_FILE), "utf8")) as AgentState;
  } catch {
    return null;
  }
}

async function kill(child: ChildProcess) {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/**
 * Kills the agent once in each phase of `phases` (in a reboot phase, once it
 * is down, waiting on its marker) and starts it again; returns the phases it
 * was killed in.
 */
async function killAtEachStep(m: Machine, phases: UpdatePhase[]): Promise<UpdatePhase[]> {
  let child = startAgent(m);
  const killedIn: UpdatePhase[] = [];
  for (const phase of phases) {
    const reached = await eventually(
      () => {
        const now = stateOf(m)?.update.phase;
        if (!now || ORDER.indexOf(now) < ORDER.indexOf(phase)) return false;
        const rebooting = now === "rebooting" || now === "reverting";
        return (!rebooting || existsSync(path.join(m.stateDir, REBOOT_MARKER_FILE))) && now;
      },
      30_000,
      `the ${phase} phase`,
    );
    await kill(child);
    killedIn.push(reached);
    child = startAgent(m);
  }
  return killedIn;
}

async function stopAgent() {
  if (!agent || agent.exitCode !== null) return null;
  const child = agent;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  return exited;
}

describe.skipIf(skipWithoutOstree)("agent killed at every step of an update", () => {
  beforeAll(async () => {
    lab = await OstreeLab.create();
    current = await lab.commit("2026.10.3", "2026-10-28 14:40:11");
    next = await lab.commit("2026.11.1", "2026-11-24 09:12:44");
  });

  beforeEach(async () => {
    fake = await FakeConsole.start();
    fake.desired = { ref: REF, ...next };
    // A slot only at the third ask: the staged phase lasts long enough to be killed in.
    fake.lockDenials = 2;
    fake.lockRetryAfterSeconds = 0.3;
  });

  afterEach(async () => {
    await stopAgent();
    agent = null;
    await fake.close();
  });

  const booted = () => fake.machine("crash-1").checkins.at(-1)?.deployments.find((d) => d.booted)?.version;
  const eventTypes = () => fake.machine("crash-1").events.map((e) => e.type);

  it("completes the update", async () => {
    const m = await machine(null);
    const killedIn = await killAtEachStep(m, ["downloading", "staged", "rebooting", "verifying"]);
    expect(killedIn).toEqual(["downloading", "staged", "rebooting", "verifying"]);
    await eventually(() => fake.machine("crash-1").checkins.at(-1)?.update.state === "succeeded", 30_000, "succeeded");
    expect(booted()).toBe(next.version);
    await eventually(() => !stateOf(m)!.holdsRebootLock && stateOf(m)!.queue.length === 0, 10_000, "slot released, events sent");
    expect(eventTypes().filter((t) => t !== "agent.started")).toEqual([
      "update.started",
      "update.downloaded",
      "update.staged",
      "reboot.started",
      "boot.verified",
    ]);
    expect(await stopAgent()).toBe(0);
  }, 120_000);

  it("rolls back when the new release fails its health check", async () => {
    const m = await machine(next.version);
    const killedIn = await killAtEachStep(m, ["downloading", "staged", "rebooting", "verifying", "reverting"]);
    expect(killedIn).toEqual(["downloading", "staged", "rebooting", "verifying", "reverting"]);
    await eventually(() => fake.machine("crash-1").checkins.at(-1)?.update.state === "rolled-back", 30_000, "rolled back");
    expect(booted()).toBe(current.version);
    const last = fake.machine("crash-1").checkins.at(-1)!;
    expect(last.update.error).toBe(`health check required.d/10-app.sh failed: app down on ${next.version}\n(exited with 1)`);
    await eventually(() => eventTypes().includes("rollback.performed"), 10_000, "the rollback event");
    expect(eventTypes().filter((t) => t !== "agent.started")).toEqual([
      "update.started",
      "update.downloaded",
      "update.staged",
      "reboot.started",
      "health.failed",
      "rollback.performed",
    ]);
    expect(stateOf(m)!.denylist).toEqual([next.checksum]);
    expect(await stopAgent()).toBe(0);
  }, 120_000);
});
