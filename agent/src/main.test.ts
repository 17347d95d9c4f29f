// The orchard-agent command, run as a process: exit codes, enroll, status, run and SIGTERM.
import { existsSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REBOOT_MARKER_FILE } from "./backends/ostree.ts";
import { eventually, FakeConsole } from "./testing/fake-console.ts";
import { OstreeLab, REF, type Release, skipWithoutOstree } from "./testing/ostree-lab.ts";
import { spawnAgentCommand, tempDir } from "./testing/test-agent.ts";

const bin = path.resolve(import.meta.dirname, "../../bin/orchard-agent.js");

let fake: FakeConsole;
beforeEach(async () => {
  fake = await FakeConsole.start();
});
afterEach(() => fake.close());

function start(args: string[], env: Record<string, string> = {}) {
  return spawnAgentCommand(bin, args, env);
}

const run = (args: string[], env?: Record<string, string>) => start(args, env).done;

describe("orchard-agent", () => {
  it("exits with 2 and names the field on bad arguments or configuration", async () => {
    const [badFlag, badEnv, missing, noBackend] = await Promise.all([
      run(["enroll", "--bogus"]),
      run(["enroll", "--token", "t"], { ORCHARD_SERVER: "ftp://x" }),
      run(["status"], { ORCHARD_AGENT_CONFIG: "/nonexistent/agent.json" }),
      run(["enroll", "--server", fake.url, "--token", "enroll-me", "--machine-id", "cli-0"], { ORCHARD_STATE_DIR: await tempDir() }),
    ]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/unknown option '--bogus'/);
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toBe("orchard-agent: bad configuration: ORCHARD_SERVER: expected an http:// or https:// URL\n");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("orchard-agent: bad configuration: /nonexistent/agent.json: cannot read it (ENOENT)\n");
    expect(noBackend.code).toBe(2);
    expect(noBackend.stderr).toMatch(/^orchard-agent: bad configuration: backend: required: one of ostree, rpm-ostree, bootc, sim/);
  }, 30_000);

  it("enrolls, shows its status without the token, runs, and stops cleanly on SIGTERM", async () => {
    const stateDir = await tempDir();
    const env = { ORCHARD_STATE_DIR: stateDir, ORCHARD_BACKEND: "sim" };
    const enrolled = await run(
      ["enroll", "--server", fake.url, "--token", "enroll-me", "--machine-id", "cli-1", "--label", "site=ams-1"],
      env,
    );
    expect(enrolled.stderr).toBe("");
    expect(enrolled.code).toBe(0);
    expect(enrolled.stdout).toBe(`Enrolled cli-1 with ${fake.url} in ring canary. Start the agent with: orchard-agent run\n`);
    expect(fake.machine("cli-1").enrolled.labels).toEqual({ site: "ams-1" });

    const agent = start(["run"], env);
    await eventually(() => fake.machine("cli-1").checkins.length >= 2, 10_000, "check-ins");
    agent.child.kill("SIGTERM");
    const stopped = await agent.done;
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toMatch(/SIGTERM: stopping/);

    const status = await run(["status", "--json"], env);
    expect(status.code).toBe(0);
    const shown = JSON.parse(status.stdout);
    expect(shown).toMatchObject({ machineId: "cli-1", server: fake.url, queuedEvents: 0 });
    expect(shown).not.toHaveProperty("token");
    expect(shown.seq).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it("exits with 3 when the console retired the machine", async () => {
    const stateDir = await tempDir();
    const env = { ORCHARD_STATE_DIR: stateDir, ORCHARD_BACKEND: "sim" };
    await run(["enroll", "--server", fake.url, "--token", "enroll-me", "--machine-id", "cli-2"], env);
    fake.machine("cli-2").retired = true;
    const retired = await run(["run"], env);
    expect(retired.code).toBe(3);
    expect(retired.stderr).toMatch(/stopping: the console retired this machine \(410\)/);
  }, 30_000);
});


describe.skipIf(skipWithoutOstree)("orchard-agent on an ostree sysroot in a folder", () => {
  let lab: OstreeLab;
  let current: Release;
  let next: Release;

  beforeEach(async () => {
    lab ??= await OstreeLab.create();
    current ??= await lab.commit("2026.10.3", "2026-10-28 14:40:11");
    next ??= await lab.commit("2026.11.1", "2026-11-24 09:12:44");
  });

  /** A configuration file for a machine whose sysroot is a folder, with its state in a folder not made yet. */
  async function folderMachine(machineId: string, extra: Record<string, unknown> = {}) {
    const stateDir = path.join(await tempDir(), "state", "orchard-agent");
    const config = {
      server: fake.url,
      stateDir,
      machineId,
      backend: "ostree",
      reboot: "marker",
      ostree: { sysroot: await lab.sysroot(current) },
      health: { checksDir: await tempDir(), failedUnits: "ignore" },
      ...extra,
    };
    const configFile = path.join(await tempDir(), "agent.json");
    await writeFile(configFile, JSON.stringify(config));
    return { stateDir, env: { ORCHARD_AGENT_CONFIG: configFile } };
  }

  it("enrolls into a state folder that does not exist yet", async () => {
    const { stateDir, env } = await folderMachine("folder-1");
    const enrolled = await run(["enroll", "--token", "enroll-me"], env);
    expect(enrolled.stderr).toBe("");
    expect(enrolled.code).toBe(0);
    expect(existsSync(path.join(stateDir, "state.json"))).toBe(true);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(fake.machine("folder-1").enrolled.backend).toBe("ostree");
  }, 30_000);

  it("runs with an enrollment token into a state folder that does not exist yet", async () => {
    const { env } = await folderMachine("folder-2", { enrollmentToken: "enroll-me" });
    const agent = start(["run"], env);
    await eventually(() => fake.machines.get("folder-2")?.checkins.length, 10_000, "a check-in");
    agent.child.kill("SIGTERM");
    const stopped = await agent.done;
    expect(stopped.stderr).not.toMatch(/ENOENT/);
    expect(stopped.code).toBe(0);
  }, 30_000);

  it("waits to be stopped after asking for a marker reboot, and exits 0 when it is", async () => {
    const { stateDir, env } = await folderMachine("folder-3", { enrollmentToken: "enroll-me" });
    fake.desired = { ref: REF, ...next };
    const agent = start(["run"], env);
    const exited = () => agent.child.exitCode !== null || agent.child.signalCode !== null;
    await eventually(() => existsSync(path.join(stateDir, REBOOT_MARKER_FILE)) || exited(), 20_000, "the reboot marker");
    // A machine going down takes its time: the agent waits, whatever its idle handles do meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 8000));
    expect(agent.child.exitCode).toBeNull();
    agent.child.kill("SIGTERM");
    const stopped = await agent.done;
    expect(stopped.code).toBe(0);
  }, 60_000);
});
