// A machine's labels as the console edits them, through tRPC callers on real
// PostgreSQL: what machines.get says the caller may do to them (role, rings,
// a retired machine) and which labels the agent cannot set (a ring's failure
// domain, worded for the caller's rings); setting, changing and removing
// labels in one call with its audit row; a bad name refused naming the label.
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../server/audit/audit";
import { systemClock } from "../../server/clock";
import { type Database, openDatabase } from "../../server/db/client";
import { createCaller } from "../../server/trpc/router";
import { freshDatabaseUrl, oneUserPerRole, userPrincipal } from "../helpers/console";

const REF = "exampleos/x86_64/stable";
let db: Database;
const users = {} as Record<Role, { id: string; email: string; role: Role }>;
const caller = (role: Role, rings: string[] | null = null) => createCaller({ db, clock: systemClock, principal: userPrincipal(users[role], rings) });

async function machine(machineId: string, ring: string, labels: Record<string, string>, retired = false) {
  const { id } = await db.prisma.ring.findUniqueOrThrow({ where: { name: ring }, select: { id: true } });
  await db.prisma.machine.create({
    data: { machineId, hostname: machineId, backend: "sim", agentVersion: "1.0.0", ringId: id, labels, retiredAt: retired ? new Date() : null },
  });
}

const labelsOf = async (machineId: string) =>
  (await db.prisma.machine.findUniqueOrThrow({ where: { machineId }, select: { labels: true } })).labels;

beforeAll(async () => {
  db = await openDatabase({ databaseUrl: await freshDatabaseUrl(), dataDir: "/tmp", migrate: false });
  Object.assign(users, await oneUserPerRole(db.prisma));
  const admin = caller("admin");
  await admin.rings.create({ name: "canary", branch: REF, failureDomainLabel: "site" });
  await admin.rings.create({ name: "beta", branch: REF, failureDomainLabel: "rack" });
  await admin.rings.create({ name: "stable", branch: REF });
  await machine("m-canary", "canary", { site: "fra-1", team: "kiosk" });
  await machine("m-stable", "stable", { team: "kiosk" });
  await machine("m-retired", "stable", { team: "kiosk" }, true);
});

afterAll(async () => {
  await db?.close();
});

describe("what machines.get says of labels", () => {
  it("lets operators and admins edit, not viewers, and not on a retired machine", async () => {
    expect((await caller("operator").machines.get({ machineId: "m-canary" })).actions.setLabels).toEqual({ allowed: true, why: null });
    expect((await caller("admin").machines.get({ machineId: "m-canary" })).actions.setLabels).toEqual({ allowed: true, why: null });
    expect((await caller("operator", ["canary"]).machines.get({ machineId: "m-canary" })).actions.setLabels).toEqual({ allowed: true, why: null });
    expect((await caller("viewer").machines.get({ machineId: "m-canary" })).actions.setLabels).toEqual({
      allowed: false,
      why: "acting on a machine needs the operator role",
    });
    expect((await caller("operator").machines.get({ machineId: "m-retired" })).actions.setLabels).toMatchObject({ allowed: false, why: expect.stringMatching(/retired/) });
  });

  it("says what else the caller may do to the machine, and why not: the console offers exactly those", async () => {
    const none = { allowed: false, why: "acting on a machine needs the operator role" };
    const viewer = (await caller("viewer").machines.get({ machineId: "m-canary" })).actions;
    expect(Object.values(viewer).every((a) => a.allowed === false && a.why === none.why)).toBe(true);
    const ok = { allowed: true, why: null };
    // Neither pinned nor held, and reporting no previous deployment.
    expect((await caller("operator", ["canary"]).machines.get({ machineId: "m-canary" })).actions).toEqual({
      move: ok,
      pin: ok,
      unpin: { allowed: false, why: "the machine is neither pinned nor held" },
      rollback: { allowed: false, why: "the machine reports no previous deployment" },
      retire: ok,
      allowReenroll: ok,
      setLabels: ok,
      issueTargetToken: { allowed: false, why: "only a device updated over hawkBit DDI takes a target token" },
    });
    const retired = (await caller("admin").machines.get({ machineId: "m-retired" })).actions;
    expect(retired.retire).toEqual({ allowed: false, why: "the machine is retired" });
    expect(retired.pin.allowed).toBe(false);
    expect(retired.allowReenroll).toEqual(ok);
  });

  it("names the failure domains the agent cannot set, naming only the caller's rings", async () => {
    const canary = await caller("viewer").machines.get({ machineId: "m-canary" });
    expect(canary.reservedLabels).toEqual([
      { key: "site", why: "Ring canary counts its reboot slots per site: only an enrollment token or an operator sets it, never the machine's agent." },
      { key: "rack", why: "A failure domain (ring beta counts reboot slots per rack): only an enrollment token or an operator sets it, never the machine's agent." },
    ]);
    const scoped = await caller("viewer", ["stable"]).machines.get({ machineId: "m-stable" });
    expect(scoped.reservedLabels.map((r) => r.why)).toEqual([
      "A failure domain (another ring counts reboot slots per site): only an enrollment token or an operator sets it, never the machine's agent.",
      "A failure domain (another ring counts reboot slots per rack): only an enrollment token or an operator sets it, never the machine's agent.",
    ]);
  });
});

describe("machines.setLabels", () => {
  it("adds, changes and removes labels in one call, with one audit row", async () => {
    const answer = await caller("operator", ["canary"]).machines.setLabels({
      machineId: "m-canary",
      set: { site: "fra-2", floor: "3" },
      remove: ["team"],
      reason: "moved to the second hall",
    });
    expect(answer).toEqual({ machineId: "m-canary", labels: { site: "fra-2", floor: "3" } });
    expect(await labelsOf("m-canary")).toEqual({ site: "fra-2", floor: "3" });
    const audit = await db.prisma.auditLog.findMany({ where: { action: "machine.labels", targetId: "m-canary" }, select: { actorLabel: true, reason: true, before: true, after: true } });
    expect(audit).toEqual([
      {
        actorLabel: "operator@example.com",
        reason: "moved to the second hall",
        before: { labels: { site: "fra-1", team: "kiosk" } },
        after: { labels: { site: "fra-2", floor: "3" } },
      },
    ]);
  });

  it("refuses a bad label name, naming the label, and changes nothing", async () => {
    const error = await caller("operator").machines.setLabels({ machineId: "m-stable", set: { "bad key!": "x", ok: "y" } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe("BAD_REQUEST");
    expect((error as TRPCError).message).toMatch(/^set\.bad key!: label names are/);
    expect(await labelsOf("m-stable")).toEqual({ team: "kiosk" });
  });

  it("refuses viewers, callers of other rings and retired machines", async () => {
    await expect(caller("viewer").machines.setLabels({ machineId: "m-stable", set: { a: "b" } })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(caller("operator", ["canary"]).machines.setLabels({ machineId: "m-stable", set: { a: "b" } })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringMatching(/^machineId: ring stable outside your scope/),
    });
    await expect(caller("operator").machines.setLabels({ machineId: "m-retired", set: { a: "b" } })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await labelsOf("m-stable")).toEqual({ team: "kiosk" });
    expect(await labelsOf("m-retired")).toEqual({ team: "kiosk" });
  });
});
