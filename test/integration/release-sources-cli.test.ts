// Release sources through the command line (remote, through the REST API,
// and local, on the database) and the REST API: add, list, sync, update,
// remove with --json; the same output either way; the refusals of a token's
// role and rings (a branch belongs to the rings that follow it); an
// unsigned release refused by the REST API naming the field.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { createRing } from "../../server/rings/rings";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { ed25519Keys, TestRepo } from "../helpers/ostree-repo";

const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");
const REF = "cli-os/x86_64/stable";
let app: TestConsole;
let repo: TestRepo;
let tmp: string;
const tokens = { operator: "", viewer: "", lab: "" };
const keys = ed25519Keys();

function orchard(args: string[], mode: { token?: string; local?: boolean } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ORCHARD_URL: "", ORCHARD_TOKEN: "", ORCHARD_DATA_DIR: path.join(tmp, "cli-data") };
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
  tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "orch-src-cli-"));
  repo = TestRepo.create(path.join(tmp, "repo"));
  await repo.serve();
  fs.writeFileSync(path.join(tmp, "signing.pub"), `${keys.publicKey}\n`);
  // Only explicit syncs: the test compares outputs taken a moment apart.
  app = await startTestConsole({ ORCHARD_SOURCE_POLL_MS: "600000" }, { controller: false });
  const db = app.db.prisma;
  await createRing(db, cliActor, { name: "canary", branch: REF });
  await createRing(db, cliActor, { name: "lab", branch: "lab-os/x86_64/stable" });
  tokens.operator = (await createApiToken(db, cliActor, { name: "ci", role: "operator" })).token;
  tokens.viewer = (await createApiToken(db, cliActor, { name: "wall", role: "viewer" })).token;
  tokens.lab = (await createApiToken(db, cliActor, { name: "lab-ops", role: "operator", rings: ["lab"] })).token;
});

afterAll(async () => {
  await app?.stop();
  await repo?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("release sources on the command line and the REST API", () => {
  it("adds, lists and syncs a source remotely, audited under the token, with --json", async () => {
    const signed = repo.commit(REF, { version: "1.0", subject: "One", treeDir: path.join(tmp, "tree") });
    repo.signEd25519(signed, keys);
    repo.commit(REF, { version: "1.1", subject: "Unsigned", treeDir: path.join(tmp, "tree") });
    const added = await orchard(["source", "add", "cli-os", "--branch", REF, "--url", repo.url, "--ed25519-key-file", path.join(tmp, "signing.pub"), "--interval", "10m", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ name: "cli-os", kind: "ostree", branch: REF, ref: REF, url: repo.url, pollIntervalSeconds: 600, key: { type: "ed25519" } });

    const synced = await orchard(["release", "sync", "--source", "cli-os", "--json"]);
    expect(synced.code, synced.stderr).toBe(0);
    expect(JSON.parse(synced.stdout)).toEqual([expect.objectContaining({ source: "cli-os", ok: true, created: ["1.0", "1.1"], error: null })]);
    const again = await orchard(["source", "sync", "cli-os"]);
    expect([again.code, again.stdout.trim()]).toEqual([0, "cli-os: nothing new"]);

    const audit = await app.db.prisma.auditLog.findMany({ where: { targetType: { in: ["release-source", "release"] } }, orderBy: { at: "asc" }, select: { action: true, actorLabel: true } });
    expect(audit).toEqual([
      { action: "source.add", actorLabel: "token:ci" },
      { action: "release.add", actorLabel: "source:cli-os" },
      { action: "release.add", actorLabel: "source:cli-os" },
    ]);
  });

  it("prints the same remotely and locally", async () => {
    for (const args of [["source", "list"], ["source", "list", "--json"], ["release", "list"], ["release", "show", "1.1"]]) {
      const remote = await orchard(args);
      const local = await orchard(args, { local: true });
      expect(remote.code, `${args.join(" ")}: ${remote.stderr}`).toBe(0);
      expect(remote.stdout, args.join(" ")).toBe(local.stdout);
    }
    const shown = await orchard(["release", "show", "1.1"]);
    expect(shown.stdout).toMatch(/signature: unsigned \(the commit has no ed25519 signature/);
    expect(shown.stdout).toMatch(/not sendable: release 1.1 is unsigned/);
  });

  it("refuses an unsigned release on the REST API, naming the field", async () => {
    const res = await fetch(`${app.url}/api/v1/rings/canary/release`, {
      method: "PUT",
      headers: { authorization: `Bearer ${tokens.operator}`, "content-type": "application/json" },
      body: JSON.stringify({ version: "1.1" }),
    });
    expect(res.status).toBe(409);
    const problem = (await res.json()) as { field: string; detail: string; code: string };
    expect(problem).toMatchObject({ code: "CONFLICT", field: "version" });
    expect(problem.detail).toMatch(/release 1.1 is unsigned.*cannot be sent to machines/);
    const ok = await fetch(`${app.url}/api/v1/rings/canary/release`, {
      method: "PUT",
      headers: { authorization: `Bearer ${tokens.operator}`, "content-type": "application/json" },
      body: JSON.stringify({ version: "1.0" }),
    });
    expect(ok.status).toBe(200);
  });

  it("refuses what a token's role or rings do not allow", async () => {
    const viewer = await orchard(["source", "remove", "cli-os"], { token: tokens.viewer });
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/operator/);
    expect((await orchard(["source", "list"], { token: tokens.viewer })).code).toBe(0);
    // canary follows cli-os's branch, and lab-ops holds lab only.
    const lab = await orchard(["source", "update", "cli-os", "--interval", "1h"], { token: tokens.lab });
    expect(lab.code).toBe(1);
    expect(lab.stderr).toMatch(/branch: ring canary outside your scope/);
    // Naming a branch of its own beside the source changes nothing.
    const sneaky = await fetch(`${app.url}/api/v1/sources/cli-os`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${tokens.lab}`, "content-type": "application/json" },
      body: JSON.stringify({ branch: "lab-os/x86_64/stable", enabled: false }),
    });
    expect(sneaky.status).toBe(403);
    const labAdd = await orchard(["source", "add", "lab-os", "--branch", "lab-os/x86_64/stable", "--url", repo.url, "--ed25519-key", keys.publicKey, "--disabled"], { token: tokens.lab });
    expect(labAdd.code, labAdd.stderr).toBe(0);
    // A branch that no ring follows is the whole fleet's.
    const orphan = await orchard(["source", "add", "orphan", "--branch", "nobody/x86_64/stable", "--url", repo.url, "--ed25519-key", keys.publicKey], { token: tokens.lab });
    expect(orphan.code).toBe(1);
    expect(orphan.stderr).toMatch(/whole fleet/);
  });

  it("reports a failing source with exit code 1, then updates and removes it", async () => {
    const failing = await orchard(["source", "update", "cli-os", "--url", "http://127.0.0.1:9/nothing", "--json"]);
    expect(failing.code, failing.stderr).toBe(0);
    const sync = await orchard(["source", "sync", "cli-os"]);
    expect(sync.code).toBe(1);
    expect(sync.stdout).toMatch(/^cli-os: failed: .+ \(next attempt /);
    const list = JSON.parse((await orchard(["source", "list", "--json"])).stdout) as { name: string; lastError: string | null; consecutiveFailures: number }[];
    expect(list.find((s) => s.name === "cli-os")).toMatchObject({ consecutiveFailures: 1, lastError: expect.any(String) });
    const bad = await orchard(["source", "add", "bad", "--branch", REF, "--url", "ftp://x", "--ed25519-key", "nope"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/config\.url/);
    const removed = await orchard(["source", "remove", "cli-os", "--json"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ source: "cli-os", removed: true, releasesKept: 2 });
    expect((await orchard(["source", "remove", "cli-os"])).code).toBe(2);
  });
});
