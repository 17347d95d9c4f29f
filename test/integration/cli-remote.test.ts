// The `orchard` command against a running console through its REST API
// (ORCHARD_URL and ORCHARD_TOKEN): the same output and exit codes as on the
// database directly, actions audited under the token (and the local ones
// under the person's login), the refusals of the token's role and rings, and
// `rollout wait` ending on completion, on a pause and on its timeout; and the
// `webhook` verb, whose deliveries reach a real receiver that verifies them
// with the Standard Webhooks library.
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { createRing } from "../../server/rings/rings";
import { WEBHOOK_EVENT_KINDS } from "../../server/vocabulary";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { waitFor } from "../helpers/fleet";
import { REF, SimFleet } from "../helpers/sim-machines";

// Each test runs a few dozen `orchard` processes, each a Node start: on a
// shared 2-core machine that takes close to a minute. The deadline only
// catches a hang.
vi.setConfig({ testTimeout: 180_000 });

const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");
let app: TestConsole;
const tokens = { operator: "", viewer: "", lab: "", admin: "" };

function orchard(args: string[], mode: { token?: string; local?: boolean; env?: Record<string, string> } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ORCHARD_URL: "", ORCHARD_TOKEN: "" };
  // Locally, the command line runs with the console's own settings: its database, data folder and webhook policy.
  if (mode.local) Object.assign(env, { DATABASE_URL: app.databaseUrl, ORCHARD_DATA_DIR: app.dataDir, ORCHARD_WEBHOOKS_ALLOW_PRIVATE: "1", ...mode.env });
  else Object.assign(env, { ORCHARD_URL: app.url, ORCHARD_TOKEN: mode.token ?? tokens.operator, DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" });
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_WEBHOOKS_ALLOW_PRIVATE: "1", ORCHARD_WEBHOOK_POLL_MS: "100" }, { controller: false });
  const db = app.db.prisma;
  tokens.operator = (await createApiToken(db, cliActor, { name: "ci", role: "operator" })).token;
  tokens.viewer = (await createApiToken(db, cliActor, { name: "wall", role: "viewer" })).token;
  tokens.admin = (await createApiToken(db, cliActor, { name: "hooks", role: "admin" })).token;
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
    // Follow mode and the default rollout policy, through PATCH /api/v1/rings/{ring}.
    const follow = await orchard(["ring", "update", "beta", "--follow", "--no-follow-approval", "--waves", "20,100", "--soak", "0", "--max-failure", "2%", "--json"]);
    expect(follow.code, follow.stderr).toBe(0);
    expect(JSON.parse(follow.stdout)).toMatchObject({
      follow: true,
      followApproval: false,
      rolloutPolicy: { waves: [20, 100], singleFirst: true, soakSeconds: 0, maxFailureRate: 0.02, minSample: 5, darkAfterSeconds: 1800 },
    });
    const off = await orchard(["ring", "update", "beta", "--no-follow"]);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toMatch(/does not follow its branch; default rollout policy: waves 20,100 · single first · soak 0s · max failure 2% of 5\+ · dark after 1800s/);
    const badWaves = await orchard(["ring", "update", "beta", "--waves", "50,20"]);
    expect(badWaves.code).not.toBe(0);
    expect(badWaves.stderr).toMatch(/rolloutPolicy\.waves.*waves must grow/);
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

describe("orchard user update", () => {
  it("reads the one user it names (not the whole list), and prints and refuses the same locally and remotely", async () => {
    // Between the command line and the console: what it asks for.
    const asked: string[] = [];
    const proxy = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        asked.push(`${req.method} ${req.url}`);
        const body = chunks.length ? Buffer.concat(chunks) : undefined;
        const answer = await fetch(`${app.url}${req.url}`, { method: req.method, headers: req.headers as Record<string, string>, body });
        res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" }).end(Buffer.from(await answer.arrayBuffer()));
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const viaProxy = (args: string[]) => orchard(["--server", `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, ...args], { token: tokens.admin });
    try {
      for (const ring of ["ops-a", "ops-b"]) await createRing(app.db.prisma, cliActor, { name: ring, branch: REF });
      expect((await orchard(["user", "create", "--email", "Lab.Ops@Example.com", "--role", "viewer"], { token: tokens.admin })).code).toBe(0);
      const args = ["user", "update", "LAB.OPS@example.com", "--role", "operator", "--rings", "ops-b,ops-a"];
      const remote = await viaProxy(args);
      expect(remote.code, remote.stderr).toBe(0);
      expect(remote.stdout).toBe("lab.ops@example.com is operator of ops-b, ops-a\n");
      expect(asked).toEqual(["GET /api/v1/users/by-email/LAB.OPS%40example.com", expect.stringMatching(/^PATCH \/api\/v1\/users\/c\w+$/)]);
      const local = await orchard(args, { local: true });
      expect([local.code, local.stdout]).toEqual([0, remote.stdout]);
      for (const json of [["--json"], []]) {
        const r = await orchard([...args, ...json], { token: tokens.admin });
        const l = await orchard([...args, ...json], { local: true });
        expect(r.stdout).toBe(l.stdout);
      }
      for (const [bad, message] of [
        [["user", "update", "nobody@example.com", "--disable"], "orchard: email: no user nobody@example.com\n"],
        [["user", "update", "not-an-email", "--disable"], "orchard: email: expected an e-mail address\n"],
      ] as [string[], string][]) {
        const r = await orchard(bad, { token: tokens.admin });
        const l = await orchard(bad, { local: true });
        expect([r.code, r.stderr], bad.join(" ")).toEqual([2, message]);
        expect([l.code, l.stderr], bad.join(" ")).toEqual([2, message]);
      }
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

describe("orchard webhook", () => {
  /** A receiver on 127.0.0.1 that verifies each delivery with the secret it was given. */
  const received: { type: string; verified: boolean }[] = [];
  const secrets: string[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = Object.fromEntries(["webhook-id", "webhook-timestamp", "webhook-signature"].map((h) => [h, String(req.headers[h])]));
      const verified = secrets.find((secret) => {
        try {
          new Webhook(secret).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      });
      received.push({ type: (JSON.parse(body) as { type: string }).type, verified: verified !== undefined });
      res.writeHead(verified ? 204 : 401).end();
    });
  });
  let url = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/orchard`;
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });
  const run = (args: string[]) => orchard(args, { token: tokens.admin });

  it("creates, lists, changes, tests, reads deliveries of and deletes subscriptions, the same locally and remotely, audited under who did it", async () => {
    // Created remotely (text: the secret alone on the last line) and locally (--json).
    const remote = await run(["webhook", "create", "--url", url, "--events", "rollout.started,rollout.paused", "--description", "chat"]);
    expect(remote.code, remote.stderr).toBe(0);
    const lines = remote.stdout.trim().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^Subscribed (\\S+) ${url}: rollout.started, rollout.paused$`));
    expect(lines.at(-1)).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const id = lines[0].split(" ")[1];
    secrets.push(lines.at(-1)!);
    const local = await orchard(["webhook", "create", "--url", `${url}/all`, "--events", "all", "--json"], { local: true });
    expect(local.code, local.stderr).toBe(0);
    const localCreated = JSON.parse(local.stdout) as { subscription: { id: string; events: string[] }; secret: string };
    expect(localCreated.subscription.events).toHaveLength(WEBHOOK_EVENT_KINDS.length);
    expect(localCreated.secret).toMatch(/^whsec_/);

    // Reads print the same either way.
    for (const args of [["webhook", "list"], ["webhook", "list", "--json"]]) {
      const r = await run(args);
      const l = await orchard(args, { local: true });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout, args.join(" ")).toBe(l.stdout);
    }
    expect((await run(["webhook", "list"])).stdout).toMatch(new RegExp(`${id} +${url} +rollout.started,rollout.paused +yes +0 +0 +never`));

    // Changes: disabled, a test event is refused naming the field; enabled again, it is delivered and verified.
    const disabled = await run(["webhook", "update", id, "--disable", "--events", "rollout.paused"]);
    expect(disabled.stdout.trim()).toBe(`Updated ${id} ${url} (disabled): rollout.paused`);
    const refusedRemote = await run(["webhook", "test", id]);
    const refusedLocal = await orchard(["webhook", "test", id], { local: true });
    expect([refusedRemote.code, refusedRemote.stderr]).toEqual([2, "orchard: id: the subscription is disabled: enable it to send it a test event\n"]);
    expect([refusedLocal.code, refusedLocal.stderr]).toEqual([refusedRemote.code, refusedRemote.stderr]);
    expect((await orchard(["webhook", "update", id, "--enable", "--json"], { local: true })).stdout).toMatch(/"enabled": true/);
    const tested = await run(["webhook", "test", id, "--json"]);
    expect(tested.code, tested.stderr).toBe(0);
    const { eventId } = JSON.parse(tested.stdout) as { eventId: string };
    await waitFor("the test event delivered", async () => received.some((r) => r.type === "webhook.test"), 20_000, 100);
    expect(received).toEqual([{ type: "webhook.test", verified: true }]);
    await waitFor("the delivery recorded", async () => (await run(["webhook", "deliveries", id, "--json"])).stdout.includes('"state": "delivered"'), 20_000, 200);
    for (const args of [["webhook", "deliveries", id], ["webhook", "deliveries", id, "--json", "--limit", "5"]]) {
      const r = await run(args);
      const l = await orchard(args, { local: true });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout, args.join(" ")).toBe(l.stdout);
    }
    expect((await run(["webhook", "deliveries", id])).stdout).toMatch(new RegExp(`${eventId} +webhook.test +delivered +1 +- +204`));

    // A new secret, made locally: sealed with the console's key (the data folder's key file), so the console signs with it.
    const rotated = await orchard(["webhook", "rotate-secret", id], { local: true });
    expect(rotated.code, rotated.stderr).toBe(0);
    const newSecret = rotated.stdout.trim().split("\n").at(-1)!;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(secrets[0]);
    secrets.splice(0, secrets.length, newSecret);
    expect((await run(["webhook", "test", id])).code).toBe(0);
    await waitFor("the second test event", async () => received.length === 2, 20_000, 100);
    expect(received[1]).toEqual({ type: "webhook.test", verified: true });

    // Removed remotely; gone for the local mode too.
    expect((await run(["webhook", "delete", id])).stdout.trim()).toBe(`Removed webhook ${id}; 0 undelivered message(s) dropped`);
    const again = await orchard(["webhook", "delete", id], { local: true });
    expect([again.code, again.stderr]).toEqual([2, `orchard: id: no webhook subscription ${id}\n`]);
    expect((await orchard(["webhook", "delete", localCreated.subscription.id, "--json"], { local: true })).code).toBe(0);

    const audit = await app.db.prisma.auditLog.findMany({ where: { targetType: "webhook" }, orderBy: { at: "asc" }, select: { action: true, actorLabel: true } });
    const me = `cli:${os.userInfo().username}`;
    expect(audit).toEqual([
      { action: "webhook.create", actorLabel: "token:hooks" },
      { action: "webhook.create", actorLabel: me },
      { action: "webhook.update", actorLabel: "token:hooks" },
      { action: "webhook.update", actorLabel: me },
      { action: "webhook.test", actorLabel: "token:hooks" },
      { action: "webhook.rotate-secret", actorLabel: me },
      { action: "webhook.test", actorLabel: "token:hooks" },
      { action: "webhook.delete", actorLabel: "token:hooks" },
      { action: "webhook.delete", actorLabel: me },
    ]);
  });

  it("refuses bad input naming the field, and a token that is not an admin's, with the same words and exit codes either way", async () => {
    const before = await app.db.prisma.webhookSubscription.count();
    for (const [args, message] of [
      [["webhook", "create", "--url", url, "--events", "rollout.started,rollout.exploded"], /^orchard: events\[1\]: expected one of rollout.started, /],
      [["webhook", "create", "--url", "ftp://example.com/x", "--events", "all"], /^orchard: url: expected an http:\/\/ or https:\/\/ URL/],
      [["webhook", "create", "--url", "http://user:pw@example.com/x", "--events", "all"], /^orchard: url: must not carry a user name or password/],
      [["webhook", "update", "no-such-id", "--disable"], /^orchard: id: no webhook subscription no-such-id/],
      [["webhook", "deliveries", "no-such-id"], /^orchard: id: no webhook subscription no-such-id/],
    ] as [string[], RegExp][]) {
      const r = await run(args);
      const l = await orchard(args, { local: true });
      expect([r.code, r.stderr], args.join(" ")).toEqual([l.code, l.stderr]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
    const both = await run(["webhook", "update", "x", "--enable", "--disable"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/option '--enable' cannot be used with option '--disable'/);
    // Locally, away from the console's key: refused with the reason and the ways out.
    const keyless = fs.mkdtempSync(path.join(os.tmpdir(), "orch-keyless-"));
    try {
      const away = await orchard(["webhook", "create", "--url", url, "--events", "all"], { local: true, env: { ORCHARD_DATA_DIR: keyless } });
      expect(away.code).toBe(1);
      expect(away.stderr).toBe(
        `orchard: no encryption key: ORCHARD_ENCRYPTION_KEY is unset and ${path.join(keyless, "encryption-key")} does not exist: ` +
          "run this where the console keeps its data folder, set ORCHARD_ENCRYPTION_KEY to the console's key, or go through the console's REST API (ORCHARD_URL and ORCHARD_TOKEN)\n",
      );
      expect(fs.readdirSync(keyless)).not.toContain("encryption-key");
    } finally {
      fs.rmSync(keyless, { recursive: true, force: true });
    }
    const operator = await orchard(["webhook", "list"]);
    expect([operator.code, operator.stderr]).toEqual([1, "orchard: this needs the admin role\n"]);
    expect(await app.db.prisma.webhookSubscription.count()).toBe(before);
  });
});
