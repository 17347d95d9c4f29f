// Ring-scoped roles through tRPC callers on real PostgreSQL: for every
// procedure of the router (read from the router itself, so that a new one
// cannot slip through), a caller limited to ring canary is refused, with the
// field named and nothing changed, whatever touches another ring; allowed on
// its own rings; and the lists show it only what its rings hold (checked
// first: the matrix's allowed calls change things).
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../server/audit/audit";
import type { RingTarget } from "../../server/auth/scope";
import { systemClock } from "../../server/clock";
import { type Database, openDatabase } from "../../server/db/client";
import { appRouter, createCaller } from "../../server/trpc/router";
import { roleAtLeast } from "../../server/users/users";
import { freshDatabaseUrl, oneUserPerRole, userPrincipal } from "../helpers/console";

const REF = "exampleos/x86_64/stable";
const sum = (c: string) => c.repeat(64);
let db: Database;
const users = {} as Record<Role, { id: string; email: string; role: Role }>;
const rollouts = { stable: "", both: "", canary: "" };

const caller = (role: Role, rings: string[] | null = null) => createCaller({ db, clock: systemClock, principal: userPrincipal(users[role], rings) });

async function machine(machineId: string, ring: string) {
  const { id } = await db.prisma.ring.findUniqueOrThrow({ where: { name: ring }, select: { id: true } });
  await db.prisma.machine.create({
    data: {
      machineId,
      hostname: machineId,
      backend: "sim",
      agentVersion: "1.0.0",
      ringId: id,
      deployments: [{ checksum: sum("a"), ref: REF, version: "1.0", booted: true, staged: false, pinned: false }],
      bootedChecksum: sum("a"),
      bootedVersion: "1.0",
      bootedRef: REF,
      lastSeenAt: new Date(),
    },
  });
}

beforeAll(async () => {
  db = await openDatabase({ databaseUrl: await freshDatabaseUrl(), dataDir: "/tmp", migrate: false });
  Object.assign(users, await oneUserPerRole(db.prisma));
  const admin = caller("admin");
  await admin.releases.add({ ref: REF, version: "1.0", checksum: sum("a") });
  await admin.releases.add({ ref: REF, version: "1.1", checksum: sum("c") });
  await admin.releases.add({ ref: REF, version: "1.2", checksum: sum("d") });
  for (const ring of ["canary", "beta", "stable"]) {
    await admin.rings.create({ name: ring, branch: REF });
    await admin.rings.setRelease({ ring, version: "1.0" });
  }
  await machine("m-canary", "canary");
  await machine("m-beta", "beta");
  await machine("m-stable", "stable");
  rollouts.stable = (await admin.rollouts.start({ ref: REF, version: "1.1", rings: ["stable"] })).id;
  rollouts.both = (await admin.rollouts.start({ ref: REF, version: "1.2", rings: ["beta", "canary"] })).id;
});

afterAll(async () => {
  await db?.close();
});

type ProcedureDef = { _def: { type: "query" | "mutation"; meta?: { role: Role | null; rings?: RingTarget | RingTarget[] } } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, ProcedureDef>);
const targetsOf = (p: ProcedureDef) => {
  const rings = p._def.meta?.rings;
  return rings === undefined ? [] : typeof rings === "string" ? [rings] : rings;
};

/** An input whose targets all lie in `ring`'s reach: its name, its machine, a rollout over it. */
function inputFor(targets: readonly RingTarget[], ring: "canary" | "stable") {
  const input: Record<string, unknown> = {};
  for (const target of targets) {
    if (target === "ring") input.ring = ring;
    if (target === "rings") input.rings = [ring];
    if (target === "machine") input.machineId = `m-${ring}`;
    if (target === "machines") input.machineIds = [`m-${ring}`];
    if (target === "rollout") input.rolloutId = ring === "stable" ? rollouts.stable : rollouts.both;
    if (target === "branch") input.branch = REF;
  }
  return input;
}

async function invoke(role: Role, rings: string[], path: string, input: unknown) {
  let target: unknown = caller(role, rings);
  for (const part of path.split(".")) target = (target as Record<string, unknown>)[part];
  try {
    await (target as (input: unknown) => Promise<unknown>)(input);
    return { outcome: "ok" };
  } catch (error) {
    return error instanceof TRPCError ? { outcome: error.code, cause: error.cause } : { outcome: "thrown" };
  }
}

const changeCount = () => db.prisma.auditLog.count();

describe("what a scoped caller sees", () => {
  it("lists only the machines, rings, leases and rollouts of its rings", async () => {
    const scoped = caller("viewer", ["canary"]);
    const machines = await scoped.machines.list({});
    expect(machines.rows.map((m) => m.machineId)).toEqual(["m-canary"]);
    expect((await scoped.machines.list({ ring: "stable" })).rows).toEqual([]);
    expect((await scoped.rings.list()).map((r) => r.name)).toEqual(["canary"]);
    const listed = await scoped.rollouts.list({});
    expect(listed.rows.map((r) => r.id)).toEqual([rollouts.both]);
    const summary = await scoped.dashboard.summary();
    expect(summary.total).toBe(1);
    expect(summary.versionsByRing.map((r) => r.ring)).toEqual(["canary"]);
    expect(summary.activeRollouts.map((r) => r.id)).toEqual([rollouts.both]);
  });

  it("shows a rollout that reaches beyond its rings read-only, saying which rings it lacks", async () => {
    const rollout = await caller("operator", ["canary"]).rollouts.get({ rolloutId: rollouts.both });
    expect(rollout.actions.pause).toEqual({ allowed: false, why: "ring beta is outside your rings" });
    expect(rollout.actions.revertRing.canary.allowed).toBe(false);
    expect(rollout.readOnly).toBe("ring beta is outside your rings");
    const whole = await caller("operator", ["canary", "beta"]).rollouts.get({ rolloutId: rollouts.both });
    expect(whole.actions.pause.allowed).toBe(true);
    expect(whole.readOnly).toBeNull();
    const before = await changeCount();
    await expect(caller("operator", ["canary"]).rollouts.pause({ rolloutId: rollouts.both })).rejects.toThrow(/rolloutId: ring beta outside your scope/);
    expect(await changeCount()).toBe(before);
  });

  it("needs every ring of a new rollout and both ends of a move", async () => {
    const operator = caller("operator", ["canary"]);
    await expect(operator.rollouts.start({ ref: REF, version: "1.1", rings: ["canary", "stable"] })).rejects.toThrow(/rings: ring stable outside/);
    await expect(operator.machines.move({ machineIds: ["m-canary"], ring: "stable" })).rejects.toThrow(/ring: ring stable outside/);
    await expect(operator.machines.move({ machineIds: ["m-stable"], ring: "canary" })).rejects.toThrow(/machineIds: ring stable outside/);
  });

  it("acts on every machine a filter matches within its rings only", async () => {
    const operator = caller("operator", ["canary"]);
    expect(await operator.machines.pinMany({ matching: {}, version: "1.0", reason: "scope" })).toEqual({ count: 1, pinned: "1.0" });
    const pinned = await db.prisma.machine.findMany({ where: { pinnedReleaseId: { not: null } }, select: { machineId: true } });
    expect(pinned.map((m) => m.machineId)).toEqual(["m-canary"]);
    await expect(operator.machines.unpinMany({ matching: { ring: "stable" } })).rejects.toThrow(/matching: no machine matches/);
    expect(await operator.machines.unpinMany({ matching: {} })).toEqual({ count: 1 });
  });

  it("keeps the audit log and the brake to unscoped callers", async () => {
    await expect(caller("operator", ["canary"]).audit.list({})).rejects.toThrow(/whole fleet/);
    await expect(caller("operator", ["canary"]).releases.brake({ ref: REF, version: "1.1", reason: "x" })).rejects.toThrow(/whole fleet/);
    expect((await caller("operator").audit.list({})).total).toBeGreaterThan(0);
  });
});

describe("ring scopes, for every procedure of the router", () => {
  it("declares what every signed-in procedure touches", () => {
    for (const [path, procedure] of procedures) {
      if (procedure._def.meta?.role === null) continue;
      expect(procedure._def.meta, path).toHaveProperty("rings");
    }
  });

  for (const [path, procedure] of procedures) {
    const needed = procedure._def.meta?.role ?? null;
    if (needed === null) continue;
    const targets = targetsOf(procedure);
    const limited = targets.some((t) => t !== "scoped" && t !== "none");
    for (const role of ["viewer", "operator"] as const) {
      if (!roleAtLeast(role, needed)) continue;
      if (limited) {
        it(`${path} × ${role} of canary, on stable → refused, nothing changed`, async () => {
          const before = await changeCount();
          const { outcome, cause } = await invoke(role, ["canary"], path, inputFor(targets, "stable"));
          expect(outcome).toBe("FORBIDDEN");
          if (!targets.includes("fleet")) expect((cause as { field?: string })?.field).toBeTruthy();
          expect(await changeCount()).toBe(before);
        });
      }
      // Every ring here follows REF, so no scope short of the whole fleet covers a branch: a
      // scoped operator acting on a branch of their own is in release-sources-cli.test.ts.
      if (!targets.includes("fleet") && !targets.includes("branch")) {
        it(`${path} × ${role} of canary and beta, on canary → not refused for its scope`, async () => {
          const { outcome } = await invoke(role, ["canary", "beta"], path, inputFor(targets, "canary"));
          expect(outcome).not.toBe("FORBIDDEN");
        });
      }
    }
  }
});
