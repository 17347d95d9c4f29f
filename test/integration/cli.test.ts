// The `orchard` command as a user runs it: a child process on the configured
// database, --help everywhere, exit code 2 on bad arguments.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../server/clock";
import { openDatabase } from "../../server/db/client";
import { logger } from "../../server/logger";
import { RolloutController } from "../../server/rollouts/controller";
import { freshDatabaseUrl } from "../helpers/console";

const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");
let env: NodeJS.ProcessEnv;

async function orchard(args: string[], input?: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

beforeAll(async () => {
  env = { ...process.env, DATABASE_URL: await freshDatabaseUrl(), LOG_LEVEL: "warn" };
});

describe("orchard command", () => {
  it("answers --help on every command", async () => {
    for (const args of [[], ["user", "create"], ["enroll-token", "create"], ["ring", "create"], ["ring", "set-release"], ["ring", "update"], ["release", "add"], ["machine", "list"], ["webhook", "create"], ["webhook", "deliveries"]]) {
      const res = await orchard([...args, "--help"]);
      expect(res.code, args.join(" ")).toBe(0);
      expect(res.stdout).toMatch(/Usage: orchard/);
    }
  });

  it("runs when reached through a symlink, as npx and npm link run it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "orchard-bin-"));
    try {
      const link = path.join(dir, "orchard");
      fs.symlinkSync(bin, link);
      const res = await new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(process.execPath, [link, "--help"], { env }, (error, stdout) => resolve({ code: error ? 1 : 0, stdout }));
      });
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/Usage: orchard/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("creates rings, releases and tokens through the domain functions", async () => {
    expect((await orchard(["ring", "create", "canary", "--branch", "exampleos/x86_64/stable"])).code).toBe(0);
    expect((await orchard(["ring", "create", "stable", "--branch", "exampleos/x86_64/stable"])).code).toBe(0);
    const beta = await orchard(["ring", "create", "beta", "--branch", "exampleos/x86_64/stable", "--after", "canary"]);
    expect(beta.stdout).toMatch(/position 2/);
    const release = await orchard(["release", "add", "--ref", "exampleos/x86_64/stable", "--checksum", "e".repeat(64), "--version", "2026.11.1"]);
    expect(release.code).toBe(0);
    expect((await orchard(["ring", "set-release", "beta", "2026.11.1"])).stdout).toMatch(/beta now runs 2026.11.1/);

    const token = await orchard(["enroll-token", "create", "--ring", "beta", "--uses", "3", "--expires", "24h"]);
    expect(token.code).toBe(0);
    expect(token.stdout.trim().split("\n").at(-1)).toMatch(/^orch_e_[A-Za-z0-9_-]+$/);

    const list = await orchard(["machine", "list", "--json"]);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it("keeps a ring's app set: orchard ring app set, list and rm, a bad ref refused with exit 2", async () => {
    const kiosk = "app/org.example.Kiosk/x86_64/stable";
    expect((await orchard(["ring", "create", "kiosks", "--branch", "exampleos/x86_64/stable"])).code).toBe(0);
    expect((await orchard(["release", "add", "--ref", kiosk, "--checksum", "c".repeat(64), "--version", "k1"])).code).toBe(0);
    const set = await orchard(["ring", "app", "set", "kiosks", kiosk, "k1", "--remote", "orchard-kiosk", "--url", "https://apps.example.com/repo"]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/Ring kiosks runs app\/org.example.Kiosk\/x86_64\/stable k1/);
    const list = JSON.parse((await orchard(["ring", "app", "list", "kiosks", "--json"])).stdout) as { managed: boolean; apps: { ref: string; remote: { name: string } }[] };
    expect(list).toMatchObject({ managed: true, apps: [{ ref: kiosk, remote: { name: "orchard-kiosk" } }] });
    const bad = await orchard(["ring", "app", "set", "kiosks", "runtime/org.example.Platform/x86_64/1.0", "k1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/ref/);
    expect((await orchard(["ring", "app", "rm", "kiosks", kiosk])).stdout).toMatch(/no longer has/);
    expect((await orchard(["ring", "app", "list", "kiosks"])).stdout).toMatch(/has no apps \(its machines remove the apps Orchard installed\)/);
  });

  it("renames, reorders and removes rings, with --json and clear refusals", async () => {
    for (const ring of ["ra", "rb"]) expect((await orchard(["ring", "create", ring, "--branch", "exampleos/x86_64/stable"])).code).toBe(0);
    const renamed = await orchard(["ring", "rename", "ra", "rfirst", "--json"]);
    expect(JSON.parse(renamed.stdout)).toMatchObject({ ring: "rfirst", previousName: "ra", usersRescoped: 0, apiTokensRescoped: 0, warnings: [] });
    expect((await orchard(["ring", "reorder", "rb", "--before", "rfirst"])).stdout).toMatch(/Rollout order: .*rb → rfirst/);
    const names = async () => (JSON.parse((await orchard(["ring", "list", "--json"])).stdout) as { name: string }[]).map((r) => r.name);
    const order = await names();
    expect(order.indexOf("rb")).toBe(order.indexOf("rfirst") - 1);
    const full = await orchard(["ring", "reorder", ...order.filter((n) => n !== "rb"), "rb", "--json"]);
    expect(JSON.parse(full.stdout)).toMatchObject({ changed: true });
    expect((await names()).at(-1)).toBe("rb");
    const taken = await orchard(["ring", "rename", "rfirst", "rb"]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/name: ring rb already exists/);
    expect((await orchard(["ring", "reorder", "rb", "rfirst", "--after", "canary"])).code).toBe(2);
    expect((await orchard(["ring", "remove", "rb"])).stdout).toMatch(/Removed ring rb \(0 enrollment token\(s\) revoked/);
    const unknown = await orchard(["ring", "remove", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/ring: no ring named nope/);
    expect(await names()).not.toContain("rb");
  });

  it("reads the new user's password from stdin, or generates and prints it", async () => {
    const piped = await orchard(["user", "create", "--email", "ops@example.com", "--role", "operator"], "a-long-password-123\n");
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toMatch(/password:/);
    const generated = await orchard(["user", "create", "--email", "view@example.com", "--role", "viewer"], "");
    expect(generated.stdout).toMatch(/password: \S{20}/);
  });

  it("fails with a clear message and exit code 2 on bad arguments", async () => {
    const cases: [string[], RegExp][] = [
      [["user", "create", "--email", "x@example.com", "--role", "root"], /role/],
      [["ring", "create", "Bad Name", "--branch", "a/b"], /name/],
      [["ring", "create", "gamma"], /--branch/],
      [["release", "add", "--ref", "a/b", "--checksum", "xyz", "--version", "1"], /checksum: expected 64 hex characters/],
      [["ring", "set-release", "nope", "1"], /ring/],
      [["enroll-token", "create", "--expires", "soon"], /duration/],
      [["frobnicate"], /unknown command/],
    ];
    for (const [args, message] of cases) {
      const res = await orchard(args, "");
      expect(res.code, args.join(" ")).toBe(2);
      expect(res.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("exits 1 when the request is valid but refused", async () => {
    const again = await orchard(["release", "add", "--ref", "exampleos/x86_64/stable", "--checksum", "f".repeat(64), "--version", "2026.11.1"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/immutable/);
  });

  it("marks floors, blocks paths and shows a branch's update graph", async () => {
    const REF = "exampleos/x86_64/paths";
    for (const [c, version] of [["1", "p1"], ["2", "p2"], ["3", "p3"]]) {
      expect((await orchard(["release", "add", "--ref", REF, "--checksum", c.repeat(64), "--version", version])).code).toBe(0);
    }
    expect((await orchard(["release", "floor", "p2", "--reason", "migrates"])).stdout).toMatch(/p2 of exampleos\/x86_64\/paths is now a floor/);
    expect((await orchard(["release", "block", "--from", "p1", "--to", "p3"])).stdout).toMatch(/Blocked p1 → p3/);
    const backwards = await orchard(["release", "block", "--from", "p3", "--to", "p1"]);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/p3 is not older than p1/);
    const graph = await orchard(["release", "graph", "--ref", REF]);
    expect(graph.stdout).toMatch(/^p2 +floor/m);
    expect(graph.stdout).toMatch(/p1 → p3/);
    const json = JSON.parse((await orchard(["release", "graph", "--ref", REF, "--json"])).stdout) as { releases: { version: string; floor: boolean }[] };
    expect(json.releases.map((r) => [r.version, r.floor])).toEqual([["p1", false], ["p2", true], ["p3", false]]);
    expect((await orchard(["release", "unblock", "--from", "p1", "--to", "p3"])).code).toBe(0);
    expect((await orchard(["release", "floor", "p2", "--off"])).stdout).toMatch(/no longer a floor/);
  });

  it("previews, starts, lists, pauses, resumes and reverts rollouts, and pins and rolls back machines", async () => {
    const db = await openDatabase({ databaseUrl: env.DATABASE_URL!, dataDir: "/tmp", migrate: false });
    try {
      await orchard(["release", "add", "--ref", "exampleos/x86_64/stable", "--checksum", "1".repeat(64), "--version", "2026.10.3"]);
      const canary = await db.prisma.ring.findUniqueOrThrow({ where: { name: "canary" } });
      for (let i = 0; i < 4; i++) {
        await db.prisma.machine.create({
          data: {
            machineId: `cli-${i}`,
            hostname: `cli-${i}`,
            backend: "sim",
            agentVersion: "1",
            ringId: canary.id,
            cohort: i / 4,
            bootedChecksum: "1".repeat(64),
            deployments: [
              { checksum: "1".repeat(64), ref: "exampleos/x86_64/stable", version: "2026.10.3", booted: true },
              { checksum: "0".repeat(64), ref: "exampleos/x86_64/stable", version: "2026.10.2", booted: false },
            ],
          },
        });
      }
      const preview = await orchard(["rollout", "preview", "--release", "2026.11.1", "--rings", "canary", "--waves", "50,100"]);
      expect(preview.code).toBe(0);
      expect(preview.stdout).toMatch(/ring canary: 4 machines/);
      expect(preview.stdout).toMatch(/wave 1 \(1 machine\): 1 machine/);
      const json = JSON.parse((await orchard(["rollout", "preview", "--release", "2026.11.1", "--rings", "canary", "--no-single-first", "--json"])).stdout);
      expect(json.rings[0].waves.map((w: { label: string }) => w.label)).toEqual(["10 %", "50 %", "100 %"]);

      const started = await orchard(["rollout", "start", "--release", "2026.11.1", "--rings", "canary", "--soak", "10m", "--max-failure", "10%", "--min-sample", "3", "--dark-after", "1h"]);
      expect(started.code).toBe(0);
      const id = started.stdout.trim().split("\n").at(-1)!;
      expect(id).toMatch(/^c[a-z0-9]{20,}$/);
      const listed = JSON.parse((await orchard(["rollout", "list", "--json"])).stdout);
      expect(listed[0]).toMatchObject({ id, state: "running" });
      expect((await orchard(["rollout", "pause", id, "--reason", "lunch"])).stdout).toMatch(/is paused .*lunch/);
      expect((await orchard(["rollout", "pause", id])).code).toBe(1);
      expect((await orchard(["rollout", "resume", id])).stdout).toMatch(/is running/);
      // Nothing to revert before a wave opens; then the console's controller opens the first.
      const early = await orchard(["rollout", "revert", id]);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/no ring has started: there is nothing to revert/);
      await new RolloutController(db, { clock: systemClock, log: logger, intervalMs: 1000 }).stepRollout(id);
      expect((await orchard(["rollout", "revert", id])).stdout).toMatch(/is reverted/);
      expect((await orchard(["rollout", "abort", "nope"])).code).toBe(2);

      expect((await orchard(["machine", "pin", "cli-1", "2026.10.3"])).stdout).toMatch(/Pinned cli-1 to 2026.10.3/);
      expect((await orchard(["machine", "unpin", "cli-1"])).code).toBe(0);
      const back = await orchard(["machine", "rollback", "cli-2", "--json"]);
      expect(JSON.parse(back.stdout)).toMatchObject({ machineId: "cli-2", rollbackTo: { version: "2026.10.2" } });
      const brake = await orchard(["release", "brake", "2026.11.1", "--reason", "drill"]);
      expect(brake.stdout).toMatch(/quarantined/);
    } finally {
      await db.close();
    }
  });
});
