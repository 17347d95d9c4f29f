// The machines page's bulk actions and filters through tRPC callers on real
// PostgreSQL: pin, unpin and roll back many machines in one transaction with
// one audit row each, all or nothing; viewers refused; inputs that name the
// field; and the version, branch, label and last-seen filters.
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../server/audit/audit";
import { systemClock } from "../../server/clock";
import { type Database, openDatabase } from "../../server/db/client";
import { createCaller } from "../../server/trpc/router";
import { freshDatabaseUrl, oneUserPerRole, userPrincipal } from "../helpers/console";

const REF = "exampleos/x86_64/stable";
const OTHER_REF = "exampleos/x86_64/testing";
const sum = (c: string) => c.repeat(64);
let db: Database;
const users = {} as Record<Role, { id: string; email: string; role: Role }>;
const caller = (role: Role) => createCaller({ db, clock: systemClock, principal: userPrincipal(users[role]) });

async function machine(machineId: string, options: { previous?: boolean; version?: string; ref?: string; labels?: Record<string, string>; lastSeenAt?: Date | null } = {}) {
  const version = options.version ?? "1.0";
  const deployments = [{ checksum: sum("a"), ref: options.ref ?? REF, version, booted: true, staged: false, pinned: false }];
  if (options.previous !== false) deployments.push({ checksum: sum("b"), ref: REF, version: "0.9", booted: false, staged: false, pinned: false });
  await db.prisma.machine.create({
    data: {
      machineId,
      hostname: machineId,
      backend: "sim",
      agentVersion: "1.0.0",
      labels: options.labels ?? {},
      deployments,
      bootedChecksum: sum("a"),
      bootedVersion: version,
      bootedRef: options.ref ?? REF,
      lastSeenAt: options.lastSeenAt === undefined ? new Date() : options.lastSeenAt,
    },
  });
}

async function auditRows(action: string) {
  return db.prisma.auditLog.findMany({ where: { action }, orderBy: { targetId: "asc" }, select: { targetId: true, actorLabel: true, reason: true } });
}

beforeAll(async () => {
  db = await openDatabase({ databaseUrl: await freshDatabaseUrl(), dataDir: "/tmp", migrate: false });
  Object.assign(users, await oneUserPerRole(db.prisma));
  const admin = caller("admin");
  await admin.releases.add({ ref: REF, version: "1.0", checksum: sum("a") });
  await admin.releases.add({ ref: REF, version: "1.1", checksum: sum("c") });
  await machine("bulk-1", { labels: { site: "fra-1" } });
  await machine("bulk-2", { labels: { site: "lon-1" } });
  await machine("bulk-3", { previous: false, version: "1.1", ref: OTHER_REF, lastSeenAt: new Date(Date.now() - 2 * 3600_000) });
  await machine("bulk-4", { lastSeenAt: null });
});

afterAll(async () => {
  await db?.close();
});

describe("bulk actions on machines", () => {
  it("refuses viewers", async () => {
    await expect(caller("viewer").machines.pinMany({ machineIds: ["bulk-1"], version: "1.1" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(caller("viewer").machines.unpinMany({ machineIds: ["bulk-1"] })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(caller("viewer").machines.rollbackMany({ machineIds: ["bulk-1"] })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await db.prisma.auditLog.count({ where: { action: { startsWith: "machine." } } })).toBe(0);
  });

  it("names the field of a bad input", async () => {
    const operator = caller("operator");
    for (const [input, field] of [
      [{ machineIds: [], version: "1.1" }, "machineIds"],
      [{ machineIds: ["bulk-1", "bulk-1"], version: "1.1" }, "machineIds"],
      [{ machineIds: Array.from({ length: 201 }, (_, i) => `m-${i}`), version: "1.1" }, "machineIds"],
      [{ machineIds: ["bulk-1"], version: "" }, "version"],
      [{ version: "1.1" }, "machineIds"],
      [{ machineIds: ["bulk-1"], matching: {}, version: "1.1" }, "machineIds"],
      [{ matching: { label: "site=nowhere" }, version: "1.1" }, "matching"],
    ] as const) {
      const error = await operator.machines.pinMany(input as never).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TRPCError);
      expect((error as TRPCError).code).toBe("BAD_REQUEST");
      expect((error as TRPCError).message).toMatch(new RegExp(`^${field}`));
    }
  });

  it("pins many machines in one go, one audit row each", async () => {
    const answer = await caller("operator").machines.pinMany({ machineIds: ["bulk-1", "bulk-2"], version: "1.1", reason: "hold for the fair" });
    expect(answer).toEqual({ count: 2, pinned: "1.1" });
    const pinned = await db.prisma.machine.findMany({
      where: { machineId: { in: ["bulk-1", "bulk-2", "bulk-3"] } },
      orderBy: { machineId: "asc" },
      select: { machineId: true, pinnedRelease: { select: { version: true } } },
    });
    expect(pinned.map((m) => [m.machineId, m.pinnedRelease?.version ?? null])).toEqual([
      ["bulk-1", "1.1"],
      ["bulk-2", "1.1"],
      ["bulk-3", null],
    ]);
    expect(await auditRows("machine.pin")).toEqual([
      { targetId: "bulk-1", actorLabel: "operator@example.com", reason: "hold for the fair" },
      { targetId: "bulk-2", actorLabel: "operator@example.com", reason: "hold for the fair" },
    ]);
  });

  it("changes nothing when one machine of the batch fails, and says which", async () => {
    const error = await caller("operator")
      .machines.rollbackMany({ machineIds: ["bulk-1", "bulk-3"] })
      .then(
        () => null,
        (e: unknown) => e as TRPCError,
      );
    expect(error?.code).toBe("CONFLICT");
    expect(error?.message).toMatch(/^machineIds: bulk-3: .*no previous deployment/);
    const first = await db.prisma.machine.findUniqueOrThrow({ where: { machineId: "bulk-1" }, select: { rollbackTo: true } });
    expect(first.rollbackTo).toBeNull();
    expect(await auditRows("machine.rollback")).toEqual([]);

    const missing = await caller("operator")
      .machines.unpinMany({ machineIds: ["bulk-1", "nope-9"] })
      .then(
        () => null,
        (e: unknown) => e as TRPCError,
      );
    expect(missing?.code).toBe("NOT_FOUND");
    expect(missing?.message).toMatch(/^machineIds: nope-9: /);
    expect(await auditRows("machine.unpin")).toEqual([]);
    const still = await db.prisma.machine.findUniqueOrThrow({ where: { machineId: "bulk-1" }, select: { pinnedReleaseId: true } });
    expect(still.pinnedReleaseId).not.toBeNull();
  });

  it("rolls back and unpins many machines", async () => {
    const operator = caller("operator");
    expect(await operator.machines.rollbackMany({ machineIds: ["bulk-1", "bulk-2"] })).toEqual({ count: 2 });
    const held = await db.prisma.machine.findMany({ where: { machineId: { in: ["bulk-1", "bulk-2"] } }, select: { rollbackTo: true } });
    expect(held.map((m) => (m.rollbackTo as { checksum: string }).checksum)).toEqual([sum("b"), sum("b")]);
    expect((await auditRows("machine.rollback")).map((r) => r.targetId)).toEqual(["bulk-1", "bulk-2"]);

    expect(await operator.machines.unpinMany({ machineIds: ["bulk-1", "bulk-2"] })).toEqual({ count: 2 });
    const free = await db.prisma.machine.findMany({
      where: { machineId: { in: ["bulk-1", "bulk-2"] } },
      select: { pinnedReleaseId: true, rollbackTo: true },
    });
    expect(free).toEqual([
      { pinnedReleaseId: null, rollbackTo: null },
      { pinnedReleaseId: null, rollbackTo: null },
    ]);
    expect((await auditRows("machine.unpin")).map((r) => r.targetId)).toEqual(["bulk-1", "bulk-2"]);
  });

  it("acts on every machine the filter matches, not only a page of them", async () => {
    const operator = caller("operator");
    const before = (await auditRows("machine.pin")).length;
    expect(await operator.machines.pinMany({ matching: { version: "1.0", lastSeen: "15m" }, version: "1.1", reason: "all of them" })).toEqual({ count: 2, pinned: "1.1" });
    const pinned = await db.prisma.machine.findMany({ where: { pinnedReleaseId: { not: null } }, select: { machineId: true }, orderBy: { machineId: "asc" } });
    expect(pinned.map((m) => m.machineId)).toEqual(["bulk-1", "bulk-2"]);
    expect((await auditRows("machine.pin")).length).toBe(before + 2);
    expect(await operator.machines.unpinMany({ matching: { label: "site=fra-1" } })).toEqual({ count: 1 });
    expect(await operator.machines.unpinMany({ matching: { label: "site=lon-1" } })).toEqual({ count: 1 });
  });
});

describe("filters of the machines list", () => {
  const ids = async (input: Parameters<ReturnType<typeof caller>["machines"]["list"]>[0]) =>
    (await caller("viewer").machines.list(input)).rows.map((r) => r.machineId);

  it("filters by version, branch, label and last seen", async () => {
    expect(await ids({ version: "1.1" })).toEqual(["bulk-3"]);
    expect(await ids({ branch: OTHER_REF })).toEqual(["bulk-3"]);
    expect(await ids({ branch: REF })).toEqual(["bulk-1", "bulk-2", "bulk-4"]);
    expect(await ids({ label: "site=lon-1" })).toEqual(["bulk-2"]);
    expect(await ids({ label: "site=nowhere" })).toEqual([]);
    expect(await ids({ lastSeen: "15m" })).toEqual(["bulk-1", "bulk-2"]);
    expect(await ids({ lastSeen: "1h" })).toEqual(["bulk-3"]);
    expect(await ids({ lastSeen: "24h" })).toEqual([]);
    expect(await ids({ lastSeen: "never" })).toEqual(["bulk-4"]);
  });

  it("refuses a label without a value, naming the field", async () => {
    await expect(caller("viewer").machines.list({ label: "site" })).rejects.toThrow(/^label: /);
    await expect(caller("viewer").machines.list({ version: "1\u0000" })).rejects.toThrow(/^version: /);
  });
});
