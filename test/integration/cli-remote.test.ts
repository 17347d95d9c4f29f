// The `orchard` command against a running console through its REST API
// (ORCHARD_URL and ORCHARD_TOKEN): the same output and exit codes as on the
// database directly, actions audited under the token (and the local ones
// under the person's login), the refusals of the token's role and rings, and
// `rollout wait` ending on completion, on a pause and on its timeout.
import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF, SimFleet } from "../helpers/sim-machines";

// Each test runs a few dozen `orchard` processes, each a Node start: on a
// shared 2-core machine that takes close to a minute. The deadline only
// catches a hang.
vi.setConfig({ testTimeout: 180_000 });

const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");
let app: TestConsole;
const tokens = { operator: "", viewer: "", lab: "" };

function orchard(args: string[], mode: { token?: string; local?: boolean } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ORCHARD_URL: "", ORCHARD_TOKEN: "" };
  if (mode.local) env.DATABASE_URL = app.databaseUrl;
  else Object.assign(env, { ORCHARD_URL: app.url, ORCHARD_TOKEN: mode.token ?? tokens.operator, DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" });
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  const db = app.db.prisma;
  tokens.operator = (await createApiToken(db, cliActor, { name: "ci", role: "operator" })).token;
  tokens.viewer = (await createApiToken(db, cliActor, { name: "wall", role: "viewer" })).token;
});

afterAll(async () => {
  await app?.stop();
});

describe("orchard against a remote console", () => {
  it("creates what a pipeline needs, audited under the token, with --json everywhere", async () => {
    for (const ring of ["canary", "beta", "lab"]) {
      const created = await orchard(["ring", "create", ring, "--branch", REF]);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(new RegExp(`Created ring ${ring}`));
    }
    tokens.lab = (await createApiToken(app.db.prisma, cliActor, { name: "lab-ops", role: "operator", rings: ["lab"] })).token;
    const added = await orchard(["release", "add", "--ref", REF, "--checksum", hex("1"), "--version", "1", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ version: "1", checksum: hex("1") });
    expect((await orchard(["release", "add", "--ref", REF, "--checksum", hex("2"), "--version", "2"])).code).toBe(0);
    for (const ring of ["canary", "beta", "lab"]) expect((await orchard(["ring", "set-release", ring, "1"])).code).toBe(0);
    const policy = await orchard(["ring", "policy", "beta", "--interval", "2m", "--reboot-slots", "3", "--failure-domain", "site", "--window", "mon,tue@02:00+3h", "--blackout", "2026-12-24"]);
    expect(policy.code, policy.stderr).toBe(0);
    expect(policy.stdout).toMatch(/check-in every 120s, 3 reboot slot\(s\) per site/);
    const rows = await app.db.prisma.auditLog.findMany({ where: { action: { in: ["ring.create", "release.add"] } }, select: { actorLabel: true, tokenId: true } });
    expect(rows.length).toBe(5);
    expect(rows.every((r) => r.actorLabel === "token:ci" && r.tokenId)).toBe(true);
  });

  it("prints the same and exits the same as on the database directly", async () => {
    const sims = new SimFleet(app);
    await sims.enroll("canary", 2, hex("1"), "cli-remote");
    for (const args of [["ring", "list"], ["release", "list"], ["release", "show", "1"], ["machine", "list"], ["machine", "list", "--json"], ["rollout", "list", "--json"], ["machine", "show", "cli-remote-000"]]) {
      const remote = await orchard(args);
      const local = await orchard(args, { local: true });
      expect(remote.code, `${args.join(" ")}: ${remote.stderr}`).toBe(0);
      expect(remote.stdout, args.join(" ")).toBe(local.stdout);
    }
    for (const args of [["rollout", "abort", "nope"], ["ring", "set-release", "canary", "9"], ["machine", "pin", "no-such-machine", "1"]]) {
      const remote = await orchard(args);
      const local = await orchard(args, { local: true });
      expect([remote.code, remote.stderr], args.join(" ")).toEqual([local.code, local.stderr]);
      expect(remote.code).toBe(2);
    }
    const labelled = await orchard(["machine", "label", "cli-remote-000", "site=fra-1", "rack=7"]);
    expect(labelled.stdout.trim()).toBe("cli-remote-000: site=fra-1 rack=7");
    expect((await orchard(["machine", "label", "cli-remote-000", "rack-"], { local: true })).stdout.trim()).toBe("cli-remote-000: site=fra-1");
    expect(JSON.parse((await orchard(["machine", "list", "--label", "site=fra-1", "--json"])).stdout).map((m: { machineId: string }) => m.machineId)).toEqual(["cli-remote-000"]);
    const show = await orchard(["machine", "show", "cli-remote-000"]);
    expect(show.stdout).toMatch(/deployments:\n {2}\* 1 /);
    expect(show.stdout).toMatch(/timeline \(newest first\):\n(.*\n)*.* operator machine\.enroll by enrollment token orch_e_/);
  });

  it("refuses what the token's role and rings do not allow, with the console's reason", async () => {
    const viewer = await orchard(["ring", "set-release", "canary", "2"], { token: tokens.viewer });
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/orchard: this needs the operator role/);
    const lab = await orchard(["ring", "set-release", "canary", "2"], { token: tokens.lab });
    expect(lab.code).toBe(1);
    expect(lab.stderr).toMatch(/ring: ring canary outside your scope/);
    const revoked = await orchard(["ring", "list"], { token: "orch_a_not-a-token" });
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(/not known/);
    const local = await orchard(["ring", "set-release", "lab", "2", "--reason", "by hand"], { local: true });
    expect(local.code).toBe(0);
    const row = await app.db.prisma.auditLog.findFirstOrThrow({ where: { action: "ring.set-release", reason: "by hand" } });
    expect(row.actorLabel).toBe(`cli:${os.userInfo().username}`);
  });

  it("waits for a rollout: 0 when it completes, 1 with the reason when it pauses, 3 on its timeout", async () => {
    const started = await orchard(["rollout", "start", "--release", "2", "--rings", "lab", "--waves", "100", "--no-single-first", "--soak", "0", "--min-sample", "1"], { token: tokens.lab });
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim().split("\n").at(-1)!;
    const timedOut = await orchard(["rollout", "wait", id, "--timeout", "2s", "--every", "1s"]);
    expect(timedOut.code).toBe(3);
    expect(timedOut.stderr).toMatch(/still running after 2s/);
    const waiting = orchard(["rollout", "wait", id, "--every", "1s", "--timeout", "5m"]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (let i = 0; i < 5; i++) await app.controller.stepRollout(id);
    const done = await waiting;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/completed lab:completed/);

    const second = await orchard(["rollout", "start", "--release", "2", "--rings", "canary", "--waves", "100", "--no-single-first"]);
    const other = second.stdout.trim().split("\n").at(-1)!;
    const pausedWait = orchard(["rollout", "wait", other, "--every", "1s", "--timeout", "5m"]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await orchard(["rollout", "pause", other, "--reason", "smoke test failed"])).code).toBe(0);
    const paused = await pausedWait;
    expect(paused.code).toBe(1);
    expect(paused.stderr).toMatch(/is paused: .*smoke test failed/);
  });

  it("exports the audit log as CSV, as the console does", async () => {
    const remote = await orchard(["audit", "export", "--action", "ring.create"]);
    expect(remote.code, remote.stderr).toBe(0);
    const lines = remote.stdout.trim().split("\r\n");
    expect(lines[0]).toBe("at,actor,action,target_type,target_id,reason,before,after");
    expect(lines.length).toBe(4);
    expect((await orchard(["audit", "export", "--action", "ring.create"], { local: true })).stdout).toBe(remote.stdout);
    expect((await orchard(["audit", "export"], { token: tokens.lab })).stderr).toMatch(/whole fleet/);
  });
});
