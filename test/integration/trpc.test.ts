// tRPC through callers on real PostgreSQL: every procedure refuses the roles
// below the one it declares (checked over the router itself, so that a new
// procedure cannot slip through), and every change writes its audit row in
// the same transaction.
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../server/audit/audit";
import { systemClock } from "../../server/clock";
import { type Database, openDatabase } from "../../server/db/client";
import { appRouter, createCaller } from "../../server/trpc/router";
import { roleAtLeast } from "../../server/users/users";
import { freshDatabaseUrl, oneUserPerRole, userPrincipal } from "../helpers/console";

let db: Database;
const users: Record<Role, { id: string; email: string; role: Role }> = {} as never;

beforeAll(async () => {
  db = await openDatabase({ databaseUrl: await freshDatabaseUrl(), dataDir: "/tmp", migrate: false });
  Object.assign(users, await oneUserPerRole(db.prisma));
});

afterAll(async () => {
  await db?.close();
});

const callerFor = (role: Role | null) =>
  createCaller({ db, clock: systemClock, principal: role ? userPrincipal(users[role]) : null });

type ProcedureDef = { _def: { type: "query" | "mutation"; meta?: { role: Role | null } } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, ProcedureDef>);

async function invoke(role: Role | null, path: string) {
  let target: unknown = callerFor(role);
  for (const part of path.split(".")) target = (target as Record<string, unknown>)[part];
  try {
    await (target as (input: unknown) => Promise<unknown>)(undefined);
    return "ok";
  } catch (error) {
    return error instanceof TRPCError ? error.code : "thrown";
  }
}

describe("roles, for every procedure of the router", () => {
  it("declares a role (or null for public) on every procedure", () => {
    expect(procedures.length).toBeGreaterThan(10);
    for (const [path, procedure] of procedures) {
      expect(procedure._def.meta, path).toHaveProperty("role");
    }
  });

  for (const [path, procedure] of procedures) {
    const needed = procedure._def.meta?.role ?? null;
    for (const role of [null, "viewer", "operator", "admin"] as const) {
      const allowed = needed === null || (role !== null && roleAtLeast(role, needed));
      it(`${path} × ${role ?? "signed out"} → ${allowed ? "allowed" : "refused"}`, async () => {
        const outcome = await invoke(role, path);
        if (allowed) expect(["ok", "BAD_REQUEST"]).toContain(outcome);
        else expect(outcome).toBe(role === null ? "UNAUTHORIZED" : "FORBIDDEN");
      });
    }
  }
});

describe("changes and their audit rows", () => {
  it("writes one audit row with actor, before and after for each change", async () => {
    const operator = callerFor("operator");
    await operator.rings.create({ name: "canary", branch: "exampleos/x86_64/stable" });
    await operator.releases.add({ ref: "exampleos/x86_64/stable", checksum: "c".repeat(64), version: "2026.11.1" });
    await operator.rings.setRelease({ ring: "canary", version: "2026.11.1", reason: "first release" });
    const rows = await db.prisma.auditLog.findMany({ where: { actorId: users.operator.id }, orderBy: { at: "asc" } });
    expect(rows.map((r) => r.action)).toEqual(["branch.create", "ring.create", "release.add", "ring.set-release"]);
    const set = rows.at(-1)!;
    expect(set).toMatchObject({
      actorLabel: "operator@example.com",
      targetType: "ring",
      targetId: "canary",
      reason: "first release",
      before: { release: null },
      after: { release: "2026.11.1", checksum: "c".repeat(64) },
    });
  });

  it("refuses bad input with a message naming the field, and changes nothing", async () => {
    const operator = callerFor("operator");
    const before = await db.prisma.auditLog.count();
    await expect(operator.releases.add({ ref: "exampleos/x86_64/stable", checksum: "XYZ", version: "1" })).rejects.toThrow(
      /checksum: expected 64 hex characters/,
    );
    await expect(operator.rings.create({ name: "beta", branch: "exampleos/x86_64/stable", after: "nope" })).rejects.toThrow(
      /after: no ring named nope/,
    );
    await expect(operator.rings.setRelease({ ring: "canary", version: "9.9.9" })).rejects.toThrow(/version: /);
    expect(await db.prisma.ring.count({ where: { name: "beta" } })).toBe(0);
    expect(await db.prisma.auditLog.count()).toBe(before);
  });

  it("keeps releases immutable", async () => {
    const operator = callerFor("operator");
    await expect(
      operator.releases.add({ ref: "exampleos/x86_64/stable", checksum: "d".repeat(64), version: "2026.11.1" }),
    ).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it("refuses to change the audit log itself", async () => {
    await expect(db.prisma.auditLog.updateMany({ data: { action: "forged" } })).rejects.toThrow(/append-only/);
    await expect(db.prisma.auditLog.deleteMany({})).rejects.toThrow(/append-only/);
  });

  it("shows an enrollment token once and stores only its hash", async () => {
    const admin = callerFor("admin");
    const created = await admin.enrollmentTokens.create({ name: "lab", ring: "canary", maxUses: 3, expiresInSeconds: 3600 });
    expect(created.token).toMatch(/^orch_e_/);
    const listed = await admin.enrollmentTokens.list();
    expect(JSON.stringify(listed)).not.toContain(created.token);
    expect(JSON.stringify(listed)).not.toMatch(/tokenHash|token_hash/);
    const stored = await db.prisma.enrollmentToken.findFirstOrThrow({ where: { name: "lab" } });
    expect(stored.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.tokenHash).not.toContain(created.token);
  });

  it("lets an admin manage users but not demote or disable themselves", async () => {
    const admin = callerFor("admin");
    const { user, password } = await admin.users.create({ email: "New.User@Example.com", role: "viewer" });
    expect(user.email).toBe("new.user@example.com");
    expect(password).toMatch(/^.{20}$/);
    expect(JSON.stringify(await admin.users.list())).not.toMatch(/passwordHash|\$2[aby]\$/);
    await admin.users.update({ userId: user.id, role: "operator" });
    await expect(admin.users.update({ userId: users.admin.id, role: "viewer" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(admin.users.update({ userId: users.admin.id, disabled: true })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
