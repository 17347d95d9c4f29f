// The audit log is append-only: its triggers refuse UPDATE, DELETE and
// TRUNCATE, and the README's production setup runs the console as a role
// that does not own the tables, so that it cannot disable them. The second
// test follows that README section word for word: its SQL as a superuser and
// as the owner, its migrate command, then a console started as the
// restricted role, doing its work, and refused every way around the triggers.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { listAudit } from "../../server/audit/list-audit";
import { fleetSummary } from "../../server/dashboard/dashboard";
import { startRollout } from "../../server/rollouts/rollouts";
import { call, hex, ProtocolMachines } from "../helpers/agent-http";
import { enrollmentToken, freshDatabaseUrl, ringsOnRelease1, startTestConsole, type TestConsole } from "../helpers/console";
import { adminUrl } from "../helpers/databases";

const root = path.resolve(import.meta.dirname, "../..");
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function connect(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  cleanups.push(() => client.end());
  return client;
}

/** The error a statement fails with (its SQLSTATE and message), or null when it succeeds. */
async function refusal(client: pg.Client, sql: string) {
  try {
    await client.query(sql);
    return null;
  } catch (error) {
    const e = error as { code?: string; message: string };
    return { code: e.code, message: e.message };
  }
}

describe("the audit log", () => {
  it("refuses TRUNCATE, alone, beside other tables and with CASCADE, as it refuses UPDATE and DELETE", async () => {
    const client = await connect(await freshDatabaseUrl());
    await client.query(
      `INSERT INTO audit_log (id, actor_label, action, target_type) VALUES ('a1', 'cli', 'ring.create', 'ring')`,
    );
    for (const sql of [
      "TRUNCATE audit_log",
      "TRUNCATE TABLE audit_log RESTART IDENTITY CASCADE",
      "TRUNCATE machine_changes, audit_log",
      "UPDATE audit_log SET action = 'forged'",
      "DELETE FROM audit_log",
    ]) {
      const refused = await refusal(client, sql);
      expect(refused, sql).toMatchObject({ code: "P0001", message: expect.stringMatching(/^audit_log is append-only \((TRUNCATE|UPDATE|DELETE) refused\)$/) });
    }
    expect((await client.query("SELECT count(*)::int AS n FROM audit_log")).rows[0].n).toBe(1);
  });
});

/** The README's section on the restricted role: its two SQL blocks and its migrate command. */
function readmeSetup() {
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### A database role that cannot rewrite the audit log"));
  const blocks = [...section.matchAll(/```(sql|sh)\n([\s\S]*?)```/g)].slice(0, 3).map((m) => ({ lang: m[1], text: m[2] }));
  expect(blocks.map((b) => b.lang)).toEqual(["sql", "sh", "sql"]);
  const statements = (text: string) =>
    text
      .split("\n")
      .filter((line) => !line.startsWith("--"))
      .join("\n")
      .split(";")
      .map((s) => s.trim())
      .filter(Boolean);
  return { superuser: statements(blocks[0].text), migrate: blocks[1].text.trim(), owner: statements(blocks[2].text) };
}

describe("the console as a role that owns nothing (README, Running it in production)", () => {
  it("works, and can neither empty the audit log nor disable, drop or skip its triggers", async () => {
    const setup = readmeSetup();
    const name = `${inject("runPrefix")}_${randomBytes(3).toString("hex")}`;
    const roles = { owner: `${name}_owner`, console: `${name}_console` };
    const database = `${name}_db`;
    /** The README's names and host, made this test's own. */
    const ours = (text: string) =>
      text
        .replaceAll("orchard_owner", roles.owner)
        .replaceAll("orchard_console", roles.console)
        .replace(/DATABASE orchard OWNER/, `DATABASE "${database}" OWNER`);
    const urlAs = (role: string, password: string) => {
      const url = new URL(adminUrl());
      url.username = role;
      url.password = password;
      url.pathname = `/${database}`;
      return url.toString();
    };
    const ownerUrl = urlAs(roles.owner, "owner-secret");
    const consoleUrl = urlAs(roles.console, "console-secret");

    // As a superuser: the two roles and the database.
    const admin = await connect(adminUrl());
    cleanups.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS "${roles.console}"`);
      await admin.query(`DROP ROLE IF EXISTS "${roles.owner}"`);
    });
    for (const sql of setup.superuser) await admin.query(ours(sql));

    // The migrate command, as written, against this database.
    const command = setup.migrate.replace(/^DATABASE_URL=postgresql:\/\/orchard_owner:owner-secret@db\.example\.com:5432\/orchard /, "");
    expect(command).toBe("npx prisma migrate deploy");
    await promisify(execFile)("npx", ["prisma", "migrate", "deploy"], { cwd: root, env: { ...process.env, DATABASE_URL: ownerUrl } });

    // As the owner: the grants.
    const owner = await connect(ownerUrl);
    for (const sql of setup.owner) await owner.query(ours(sql));

    // The console, as the restricted role: first admin, rings and releases,
    // agents enrolling and checking in, events, a rollout stepped by the
    // controller, a reboot slot taken and given back, the audit log and the
    // dashboard read.
    const app: TestConsole = await startTestConsole({ DATABASE_URL: consoleUrl });
    cleanups.push(() => app.stop());
    await ringsOnRelease1(app, "exampleos/x86_64/stable", ["canary"]);
    const machines = new ProtocolMachines(app.url);
    const token = await enrollmentToken(app, { ring: "canary" });
    for (const id of ["m-1", "m-2"]) {
      expect((await machines.enroll(id, token)).status).toBe(201);
      expect((await machines.report(id, { booted: hex("1"), version: "1" })).status).toBe(200);
    }
    const events = await call(app.url, "POST", "/events", {
      token: machines.tokens.get("m-1"),
      body: { events: [{ id: "e1", at: "2026-11-30T08:00:00Z", type: "agent.started" }] },
    });
    expect(events.body).toEqual({ accepted: 1, duplicates: 0 });
    const rollout = await startRollout(app.db.prisma, cliActor, { version: "2", rings: ["canary"], waves: [100], singleFirst: false });
    await app.controller.stepRollout(rollout.id);
    const answer = await machines.report("m-1", { booted: hex("1"), version: "1", state: "staged", target: hex("2") });
    expect(answer.body).toMatchObject({ action: "update", desired: { checksum: hex("2") } });
    const slot = await call(app.url, "POST", "/reboot-lock", { token: machines.tokens.get("m-1"), body: { checksum: hex("2") } });
    expect(slot.body).toMatchObject({ granted: true });
    expect((await call(app.url, "DELETE", "/reboot-lock", { token: machines.tokens.get("m-1") })).body).toEqual({ released: true });
    await app.agents.flushLastSeen();
    await app.agents.freeExpiredLeases();
    expect((await fleetSummary(app.db.prisma)).total).toBe(2);
    const audit = await listAudit(app.db.prisma, {});
    expect(audit.rows.map((r) => r.action)).toEqual(expect.arrayContaining(["machine.enroll", "rollout.start", "user.create"]));
    const auditRows = (await owner.query("SELECT count(*)::int AS n FROM audit_log")).rows[0].n;

    // Every way around the triggers, as the console's role: refused for want of privilege.
    const restricted = await connect(consoleUrl);
    for (const sql of [
      "TRUNCATE audit_log",
      "DELETE FROM audit_log",
      "UPDATE audit_log SET action = 'forged'",
      "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_truncate",
      "ALTER TABLE audit_log DISABLE TRIGGER ALL",
      "DROP TRIGGER audit_log_append_only ON audit_log",
      "DROP FUNCTION audit_log_append_only() CASCADE",
      "DROP TABLE audit_log",
      "ALTER TABLE audit_log OWNER TO CURRENT_USER",
      "SET session_replication_role = replica",
      "CREATE TABLE audit_copy (id text)",
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES ('x', 'x', 'x', now())",
    ]) {
      expect(await refusal(restricted, sql), sql).toMatchObject({ code: "42501" });
    }
    expect((await owner.query("SELECT count(*)::int AS n FROM audit_log")).rows[0].n).toBe(auditRows);

    // The owner meets the trigger, but could disable it: the reason the console is not the owner.
    expect(await refusal(owner, "TRUNCATE audit_log")).toMatchObject({ code: "P0001", message: "audit_log is append-only (TRUNCATE refused)" });
    await owner.query("BEGIN");
    expect(await refusal(owner, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_truncate")).toBeNull();
    await owner.query("ROLLBACK");
  }, 120_000);
});
