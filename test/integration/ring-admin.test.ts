// Renaming, reordering and removing rings through tRPC callers on real
// PostgreSQL (and the agent API for enrollment): users' and API tokens' ring
// scopes follow a rename in the same transaction, positions stay 0, 1, 2…,
// an empty ring is removed with its unused enrollment tokens revoked, and
// every refusal names its field and changes nothing. The list says what may
// be done to each ring and why not.
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Role } from "../../server/audit/audit";
import { appRouter, createCaller } from "../../server/trpc/router";
import { call, enrollBody, hex } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole, userPrincipal } from "../helpers/console";

const REF = "exampleos/x86_64/stable";
let app: TestConsole;
let n = 0;
const users = {} as Record<Role, { id: string; email: string; role: Role }>;

const caller = (role: Role = "operator", rings: string[] | null = null, ssoRings: string[] = []) =>
  createCaller({ db: app.db, clock: app.clock, principal: userPrincipal(users[role], rings), ssoRings });
const db = () => app.db.prisma;
const changes = () => db().auditLog.count();
const order = async () => (await db().ring.findMany({ orderBy: { position: "asc" }, select: { name: true, position: true } })).map((r) => `${r.position}:${r.name}`);

/** The tRPC error of a call that must fail: its code and the field it names. */
async function refusal(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof TRPCError)) throw error;
    const cause = error.cause as { field?: string; issues?: { path: (string | number)[] }[] } | undefined;
    return { code: error.code, message: error.message, field: cause?.field ?? cause?.issues?.[0]?.path.join(".") };
  }
  throw new Error("expected a refusal");
}

async function machine(machineId: string, ring: string, retired = false) {
  const { id } = await db().ring.findUniqueOrThrow({ where: { name: ring }, select: { id: true } });
  await db().machine.create({
    data: { machineId, hostname: machineId, backend: "sim", agentVersion: "1.0.0", ringId: id, retiredAt: retired ? new Date() : null },
  });
}

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  for (const role of ["viewer", "operator", "admin"] as const) {
    users[role] = await db().user.create({ data: { email: `${role}@example.com`, role, passwordHash: "x" }, select: { id: true, email: true, role: true } });
  }
  await caller("admin").releases.add({ ref: REF, version: "1.0", checksum: hex("a") });
});

afterAll(async () => {
  await app?.stop();
});

let names: string[];
beforeEach(async () => {
  // Rings of its own per test, after those of the tests before.
  n++;
  names = ["canary", "beta", "stable"].map((r) => `${r}${n}`);
  for (const name of names) await caller().rings.create({ name, branch: REF });
});

/** This test's rings in order (the names only), after checking that every position is 0, 1, 2… */
const ours = async () => {
  const all = await order();
  expect(all.map((p) => Number(p.split(":")[0]))).toEqual(all.map((_, i) => i));
  return all.map((p) => p.split(":")[1]).filter((name) => names.includes(name) || name.endsWith(`${n}`));
};

describe("renaming a ring", () => {
  it("renames it, rewrites the scopes that name it in the same transaction, and keeps its machines and rollouts", async () => {
    const [canary, beta] = names;
    await machine(`m-${n}`, canary);
    const scoped = await db().user.create({ data: { email: `scoped${n}@example.com`, role: "operator", passwordHash: "x", allRings: false, rings: [canary, beta] }, select: { id: true } });
    const token = await caller("admin").apiTokens.create({ name: `ci${n}`, role: "operator", rings: [canary] });
    const rollout = await caller().rollouts.start({ ref: REF, version: "1.0", rings: [canary] });

    const result = await caller().rings.rename({ ring: canary, name: `early${n}`, reason: "naming scheme" });
    expect(result).toEqual({ ring: `early${n}`, previousName: canary, usersRescoped: 1, apiTokensRescoped: 1, warnings: [] });
    expect((await db().user.findUniqueOrThrow({ where: { id: scoped.id }, select: { rings: true } })).rings).toEqual([`early${n}`, beta]);
    expect((await db().apiToken.findFirstOrThrow({ where: { name: `ci${n}` }, select: { rings: true } })).rings).toEqual([`early${n}`]);
    expect(token.token).toBeTruthy();
    expect((await caller().machines.get({ machineId: `m-${n}` })).ring?.name).toBe(`early${n}`);
    expect((await caller().rollouts.get({ rolloutId: rollout.id })).rings.map((r) => r.ring.name)).toEqual([`early${n}`]);
    // The scoped user acts on the ring under its new name.
    await expect(caller("operator", [`early${n}`]).rings.reshuffle({ ring: `early${n}` })).resolves.toMatchObject({ reshuffled: true });
    const audit = await db().auditLog.findFirstOrThrow({ where: { action: "ring.rename" }, orderBy: { at: "desc" } });
    expect(audit).toMatchObject({ targetId: `early${n}`, reason: "naming scheme", before: { name: canary }, after: { name: `early${n}`, usersRescoped: 1, apiTokensRescoped: 1 } });
  });

  it("warns that single sign-on's group mapping still names the old name", async () => {
    const [canary] = names;
    const result = await caller("operator", null, [canary]).rings.rename({ ring: canary, name: `first${n}` });
    expect(result.warnings).toEqual([expect.stringMatching(new RegExp(`^ORCHARD_OIDC_GROUPS still names ring ${canary}:`))]);
  });

  it("refuses a taken name, a bad name, an unknown ring and a scoped caller, naming the field and changing nothing", async () => {
    const [canary, beta] = names;
    const before = [await changes(), await order()];
    expect(await refusal(caller().rings.rename({ ring: canary, name: beta }))).toMatchObject({ code: "CONFLICT", field: "name", message: `name: ring ${beta} already exists` });
    expect(await refusal(caller().rings.rename({ ring: canary, name: "Not A Name" }))).toMatchObject({ code: "BAD_REQUEST", field: "name" });
    expect(await refusal(caller().rings.rename({ ring: canary, name: canary }))).toMatchObject({ code: "BAD_REQUEST", field: "name" });
    expect(await refusal(caller().rings.rename({ ring: `nope${n}`, name: `other${n}` }))).toMatchObject({ code: "BAD_REQUEST", field: "ring" });
    expect(await refusal(caller("operator", [canary]).rings.rename({ ring: canary, name: `other${n}` }))).toMatchObject({ code: "FORBIDDEN" });
    expect(await refusal(caller("viewer").rings.rename({ ring: canary, name: `other${n}` }))).toMatchObject({ code: "FORBIDDEN" });
    expect([await changes(), await order()]).toEqual(before);
  });
});

describe("reordering rings", () => {
  it("moves a ring before or after another, or takes a whole order; positions stay 0, 1, 2…", async () => {
    const [canary, beta, stable] = names;
    expect(await caller().rings.reorder({ ring: stable, before: canary })).toMatchObject({ changed: true });
    expect(await ours()).toEqual([stable, canary, beta]);
    await caller().rings.reorder({ ring: stable, after: beta });
    expect(await ours()).toEqual([canary, beta, stable]);
    const all = (await caller().rings.list()).map((r) => r.name);
    const reversed = [beta, canary, ...all.filter((name) => name !== beta && name !== canary)];
    const result = await caller().rings.reorder({ order: reversed, reason: "beta first" });
    expect(result).toEqual({ order: reversed, changed: true });
    expect((await caller().rings.list()).map((r) => r.name)).toEqual(reversed);
    await ours();
    // The same order again changes nothing and writes nothing.
    const audits = await changes();
    expect(await caller().rings.reorder({ order: reversed })).toEqual({ order: reversed, changed: false });
    expect(await changes()).toBe(audits);
  });

  it("says which rings may move up or down", async () => {
    const list = await caller().rings.list();
    expect(list[0].actions.moveUp).toEqual({ allowed: false, why: "it is the first ring already" });
    expect(list[0].actions.moveDown).toEqual({ allowed: true, why: null });
    expect(list.at(-1)!.actions.moveDown).toEqual({ allowed: false, why: "it is the last ring already" });
    const scoped = await caller("operator", [names[0]]).rings.list();
    expect(scoped.map((r) => r.name)).toEqual([names[0]]);
    expect(scoped[0].actions.rename).toMatchObject({ allowed: false, why: expect.stringMatching(/whole fleet/) });
  });

  it("refuses unknown rings, incomplete or repeated orders and ambiguous moves, naming the field and changing nothing", async () => {
    const [canary, beta] = names;
    const all = (await caller().rings.list()).map((r) => r.name);
    const before = [await changes(), await order()];
    expect(await refusal(caller().rings.reorder({ ring: canary, before: `nope${n}` }))).toMatchObject({ code: "BAD_REQUEST", field: "before" });
    expect(await refusal(caller().rings.reorder({ ring: `nope${n}`, after: beta }))).toMatchObject({ code: "BAD_REQUEST", field: "ring" });
    expect(await refusal(caller().rings.reorder({ ring: canary, after: canary }))).toMatchObject({ code: "BAD_REQUEST", field: "after" });
    expect(await refusal(caller().rings.reorder({ ring: canary, before: beta, after: beta }))).toMatchObject({ code: "BAD_REQUEST", field: "before" });
    expect(await refusal(caller().rings.reorder({ before: beta }))).toMatchObject({ code: "BAD_REQUEST", field: "ring" });
    const missing = await refusal(caller().rings.reorder({ order: all.filter((name) => name !== canary) }));
    expect(missing).toMatchObject({ code: "BAD_REQUEST", field: "order", message: expect.stringContaining(`missing ${canary}`) });
    expect(await refusal(caller().rings.reorder({ order: [...all, canary] }))).toMatchObject({ code: "BAD_REQUEST", field: "order" });
    expect(await refusal(caller().rings.reorder({ order: [...all, `nope${n}`] }))).toMatchObject({ code: "BAD_REQUEST", field: "order" });
    expect(await refusal(caller("operator", [canary, beta]).rings.reorder({ ring: canary, after: beta }))).toMatchObject({ code: "FORBIDDEN" });
    expect([await changes(), await order()]).toEqual(before);
  });
});

describe("removing a ring", () => {
  it("removes an empty ring: positions close up, its unused enrollment token stops working, scopes lose its name", async () => {
    const [canary, beta, stable] = names;
    await machine(`gone-${n}`, beta, true); // retired: no hold on the ring
    const token = await enrollmentToken(app, { ring: beta });
    const scoped = await db().user.create({ data: { email: `rm${n}@example.com`, role: "viewer", passwordHash: "x", allRings: false, rings: [beta, stable] }, select: { id: true } });
    expect((await caller().rings.list()).find((r) => r.name === beta)!.actions.remove).toEqual({ allowed: true, why: null });

    const result = await caller().rings.remove({ ring: beta, reason: "merged into stable" });
    expect(result).toEqual({ ring: beta, removed: true, enrollmentTokensRevoked: 1, usersRescoped: 1, apiTokensRescoped: 0, warnings: [] });
    expect(await ours()).toEqual([canary, stable]);
    expect((await db().user.findUniqueOrThrow({ where: { id: scoped.id }, select: { rings: true } })).rings).toEqual([stable]);
    const enroll = await call(app.url, "POST", "/enroll", { token, body: enrollBody(`new-${n}`) });
    expect(enroll.status).toBe(401);
    expect(await db().machine.count({ where: { machineId: `new-${n}` } })).toBe(0);
    expect(await db().machine.findUniqueOrThrow({ where: { machineId: `gone-${n}` }, select: { ringId: true } })).toEqual({ ringId: null });
    const audit = await db().auditLog.findFirstOrThrow({ where: { action: "ring.remove" }, orderBy: { at: "desc" } });
    expect(audit).toMatchObject({ targetId: beta, reason: "merged into stable", before: { name: beta, branch: REF }, after: { enrollmentTokensRevoked: 1 } });
  });

  it("refuses a ring with machines, one a rollout is under way on, and one with rollout history, saying why and changing nothing", async () => {
    const [canary, beta, stable] = names;
    await machine(`m2-${n}`, canary);
    const running = await caller().rollouts.start({ ref: REF, version: "1.0", rings: [beta] });
    const done = await caller().rollouts.start({ ref: REF, version: "1.0", rings: [stable] });
    await caller().rollouts.abort({ rolloutId: done.id });
    const token = await enrollmentToken(app, { ring: canary });
    const before = [await changes(), await order()];

    const withMachines = await refusal(caller().rings.remove({ ring: canary }));
    expect(withMachines).toEqual({ code: "CONFLICT", field: "ring", message: `ring: ring ${canary} cannot be removed: it has 1 machine: move or retire it first` });
    const underWay = await refusal(caller().rings.remove({ ring: beta }));
    expect(underWay).toMatchObject({ code: "CONFLICT", field: "ring", message: expect.stringContaining("rollout 1.0 (running) is under way on it") });
    const history = await refusal(caller().rings.remove({ ring: stable }));
    expect(history).toMatchObject({ code: "CONFLICT", field: "ring", message: expect.stringContaining("took part in 1 rollout (newest: 1.0, aborted)") });
    expect(await refusal(caller().rings.remove({ ring: `nope${n}` }))).toMatchObject({ code: "BAD_REQUEST", field: "ring" });
    expect(await refusal(caller("operator", [canary]).rings.remove({ ring: canary }))).toMatchObject({ code: "FORBIDDEN" });
    expect([await changes(), await order()]).toEqual(before);
    expect(await db().enrollmentToken.count({ where: { revokedAt: { not: null } , ring: { name: canary } } })).toBe(0);
    expect(token).toBeTruthy();

    // The list says the same, ring by ring.
    const list = await caller().rings.list();
    const why = (name: string) => list.find((r) => r.name === name)!.actions.remove;
    expect(why(canary)).toEqual({ allowed: false, why: "it has 1 machine: move or retire it first" });
    expect(why(beta).why).toContain("under way");
    expect(why(stable).why).toContain("rename it instead");
    await caller().rollouts.abort({ rolloutId: running.id });
  });
});

describe("the router", () => {
  it("keeps renaming, reordering and removing to unscoped operators", () => {
    const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { meta?: { role?: Role; rings?: string } } }>;
    for (const path of ["rings.rename", "rings.reorder", "rings.remove"]) expect(procedures[path]._def.meta).toMatchObject({ role: "operator", rings: "fleet" });
  });
});
