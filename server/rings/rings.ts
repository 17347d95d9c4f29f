// Rings: ordered groups of machines, each following one branch, with a
// current release and a reboot/check-in policy.
import { assertSendable } from "../releases/sendable";
import { randomBytes } from "node:crypto";
import { type Actor, writeAudit } from "../audit/audit";
import type { Prisma, PrismaClient } from "../db/client";
import { conflict, invalid, notFound } from "../errors";
import { ACTIVE_ROLLOUT_STATES } from "../vocabulary";
import { ringNameWhere } from "../auth/scope";
import { domainEvents } from "../events";
import { ensureBranch } from "../releases/releases";
import { cohortOf } from "../rollouts/cohort";
import { policyOf } from "../rollouts/policy";
import type { MaintenanceWindow } from "../rollouts/windows";
import {
  type CreateRingInput,
  createRingInput,
  type SetRingReleaseInput,
  setRingReleaseInput,
  type UpdateRingPolicyInput,
  updateRingPolicyInput,
  reshuffleRingInput,
  type RemoveRingInput,
  removeRingInput,
  type RenameRingInput,
  renameRingInput,
  type ReorderRingsInput,
  reorderRingsInput,
} from "./schemas";

const policySelect = {
  rebootSlots: true,
  rebootLeaseSeconds: true,
  checkInIntervalSeconds: true,
  timeZone: true,
  maintenanceWindows: true,
  blackoutDates: true,
  failureDomainLabel: true,
  follow: true,
  followApproval: true,
  rolloutPolicy: true,
} satisfies Prisma.RingSelect;

export const ringSelect = {
  id: true,
  name: true,
  position: true,
  ...policySelect,
  cohortSeed: true,
  updatedAt: true,
  branch: { select: { ref: true } },
  currentRelease: { select: { version: true, checksum: true, createdAt: true } },
} satisfies Prisma.RingSelect;

/** A ring as the console shows it: its policy's JSON columns as they were checked when written (ringPolicySchema). */
function shown<R extends Prisma.RingGetPayload<{ select: typeof ringSelect }>>(ring: R) {
  return {
    ...ring,
    maintenanceWindows: ring.maintenanceWindows as MaintenanceWindow[],
    blackoutDates: ring.blackoutDates as string[],
    rolloutPolicy: policyOf(ring.rolloutPolicy),
  };
}

/** Serialises changes to the rings' order (create, reorder, remove) so positions stay 0, 1, 2… */
async function lockRingOrder(tx: Prisma.TransactionClient) {
  await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext('orchard:rings:order'))::text`;
}

export async function createRing(db: PrismaClient, actor: Actor, input: CreateRingInput) {
  const data = createRingInput.parse(input);
  const ring = await db.$transaction(async (tx) => {
    await lockRingOrder(tx);
    if (await tx.ring.findUnique({ where: { name: data.name }, select: { id: true } })) {
      throw conflict(`ring ${data.name} already exists`, "name");
    }
    const rings = await tx.ring.findMany({
      orderBy: [{ position: "asc" }, { name: "asc" }],
      select: { id: true, name: true },
    });
    let index = rings.length;
    if (data.after) {
      const at = rings.findIndex((r) => r.name === data.after);
      if (at < 0) throw invalid("after", `no ring named ${data.after}`);
      index = at + 1;
    }
    // Renumber so positions stay dense: 0, 1, 2…
    for (let i = index; i < rings.length; i++) {
      await tx.ring.update({ where: { id: rings[i].id }, data: { position: i + 1 } });
    }
    const branch = await ensureBranch(tx, actor, data.branch);
    const created = await tx.ring.create({
      data: {
        name: data.name,
        position: index,
        branchId: branch.id,
        rebootSlots: data.rebootSlots,
        rebootLeaseSeconds: data.rebootLeaseSeconds,
        checkInIntervalSeconds: data.checkInIntervalSeconds,
        timeZone: data.timeZone,
        maintenanceWindows: data.maintenanceWindows,
        blackoutDates: data.blackoutDates,
        failureDomainLabel: data.failureDomainLabel,
      },
      select: ringSelect,
    });
    await writeAudit(tx, actor, {
      action: "ring.create",
      targetType: "ring",
      targetId: data.name,
      after: { name: data.name, branch: data.branch, position: index },
    });
    return created;
  });
  domainEvents.emit("ringChanged", ring.id);
  return shown(ring);
}

/** Whether an action on a ring is possible now, and why not (in an operator's words). */
export interface RingActionAllowed {
  allowed: boolean;
  why: string | null;
}

const yes: RingActionAllowed = { allowed: true, why: null };
const no = (why: string): RingActionAllowed => ({ allowed: false, why });
const FLEET_ONLY = "renaming, reordering and removing rings change the whole fleet: only for callers on every ring";

/** What keeps a ring from being removed, per ring id: its machines, a rollout under way, its rollout history. */
async function removalBlockers(db: PrismaClient | Prisma.TransactionClient, ringIds: string[]) {
  const [machines, rollouts] = await Promise.all([
    db.machine.groupBy({ by: ["ringId"], where: { ringId: { in: ringIds }, retiredAt: null }, _count: { _all: true } }),
    db.rolloutRing.findMany({
      where: { ringId: { in: ringIds } },
      orderBy: { rollout: { createdAt: "desc" } },
      select: { ringId: true, rollout: { select: { id: true, state: true, release: { select: { version: true } } } } },
    }),
  ]);
  const machineCount = new Map(machines.map((m) => [m.ringId, m._count._all]));
  const why = new Map<string, string>();
  for (const id of ringIds) {
    const count = machineCount.get(id) ?? 0;
    const ofRing = rollouts.filter((r) => r.ringId === id);
    const active = ofRing.find((r) => (ACTIVE_ROLLOUT_STATES as readonly string[]).includes(r.rollout.state));
    if (count > 0) why.set(id, `it has ${count} ${count === 1 ? "machine" : "machines"}: move or retire ${count === 1 ? "it" : "them"} first`);
    else if (active) why.set(id, `rollout ${active.rollout.release.version} (${active.rollout.state.replace("_", " ")}) is under way on it`);
    else if (ofRing.length > 0) {
      const newest = ofRing[0].rollout;
      why.set(
        id,
        `it took part in ${ofRing.length} ${ofRing.length === 1 ? "rollout" : "rollouts"} (newest: ${newest.release.version}, ${newest.state}), whose history names it: rename it instead`,
      );
    }
  }
  return why;
}

/** Every ring, or those of the caller's scope, with what a fleet-wide caller may do to each now. */
export async function listRings(db: PrismaClient, scope: readonly string[] | null = null) {
  const [rings, counts, total] = await Promise.all([
    db.ring.findMany({ where: ringNameWhere(scope), orderBy: [{ position: "asc" }, { name: "asc" }], select: ringSelect }),
    db.machine.groupBy({ by: ["ringId"], where: { retiredAt: null }, _count: { _all: true } }),
    db.ring.count(),
  ]);
  const byRing = new Map(counts.map((c) => [c.ringId, c._count._all]));
  const blockers = scope === null ? await removalBlockers(db, rings.map((r) => r.id)) : new Map<string, string>();
  return rings.map((r, index) => {
    const machines = byRing.get(r.id) ?? 0;
    const blocked = blockers.get(r.id);
    const actions =
      scope !== null
        ? { rename: no(FLEET_ONLY), moveUp: no(FLEET_ONLY), moveDown: no(FLEET_ONLY), remove: no(FLEET_ONLY) }
        : {
            rename: yes,
            moveUp: index === 0 ? no("it is the first ring already") : yes,
            moveDown: index === total - 1 ? no("it is the last ring already") : yes,
            remove: blocked ? no(blocked) : yes,
          };
    return { ...shown(r), machines, actions };
  });
}

export async function getRingByName(db: PrismaClient | Prisma.TransactionClient, name: string) {
  const ring = await db.ring.findUnique({ where: { name }, select: ringSelect });
  if (!ring) throw notFound(`ring ${name}`);
  return shown(ring);
}

export async function setRingRelease(db: PrismaClient, actor: Actor, input: SetRingReleaseInput) {
  const data = setRingReleaseInput.parse(input);
  const ring = await db.$transaction(async (tx) => {
    const ring = await tx.ring.findUnique({
      where: { name: data.ring },
      select: { id: true, branchId: true, branch: { select: { ref: true } }, currentRelease: { select: { version: true } } },
    });
    if (!ring) throw invalid("ring", `no ring named ${data.ring}`);
    const release = await tx.release.findUnique({
      where: { branchId_version: { branchId: ring.branchId, version: data.version } },
      select: { id: true, version: true, checksum: true, signatureState: true, signatureReason: true },
    });
    if (!release) {
      throw invalid("version", `branch ${ring.branch.ref} has no release ${data.version}`);
    }
    assertSendable(release, "version");
    const updated = await tx.ring.update({
      where: { id: ring.id },
      data: { currentReleaseId: release.id },
      select: ringSelect,
    });
    await writeAudit(tx, actor, {
      action: "ring.set-release",
      targetType: "ring",
      targetId: data.ring,
      reason: data.reason,
      before: { release: ring.currentRelease?.version ?? null },
      after: { release: release.version, checksum: release.checksum },
    });
    return updated;
  });
  domainEvents.emit("ringChanged", ring.id);
  return shown(ring);
}

export async function updateRingPolicy(db: PrismaClient, actor: Actor, input: UpdateRingPolicyInput) {
  const { ring: name, rolloutPolicy: policyChange, ...policy } = updateRingPolicyInput.parse(input);
  const ring = await db.$transaction(async (tx) => {
    const before = await tx.ring.findUnique({ where: { name }, select: { id: true, ...policySelect } });
    if (!before) throw invalid("ring", `no ring named ${name}`);
    // The default rollout policy changes part by part: what the change does not name stays.
    const named = Object.fromEntries(Object.entries(policyChange ?? {}).filter(([, v]) => v !== undefined));
    const rolloutPolicy = policyChange ? { ...policyOf(before.rolloutPolicy), ...named } : undefined;
    const updated = await tx.ring.update({ where: { id: before.id }, data: { ...policy, rolloutPolicy }, select: { ...ringSelect, ...policySelect } });
    const { id: _id, ...beforePolicy } = before;
    await writeAudit(tx, actor, {
      action: "ring.update-policy",
      targetType: "ring",
      targetId: name,
      before: { ...beforePolicy, rolloutPolicy: policyOf(before.rolloutPolicy) } as Prisma.InputJsonValue,
      after: {
        ...Object.fromEntries(Object.keys(policySelect).map((k) => [k, updated[k as keyof typeof policySelect]])),
        rolloutPolicy: policyOf(updated.rolloutPolicy),
      } as Prisma.InputJsonValue,
    });
    return updated;
  });
  domainEvents.emit("ringChanged", ring.id);
  return shown(ring);
}

/** Reshuffles the ring's cohorts: a new seed, so other machines go first in its next rollouts. */
export async function reshuffleRing(db: PrismaClient, actor: Actor, input: { ring: string; reason?: string }) {
  const data = reshuffleRingInput.parse(input);
  const ring = await db.$transaction(async (tx) => {
    const ring = await tx.ring.findUnique({ where: { name: data.ring }, select: { id: true, cohortSeed: true } });
    if (!ring) throw invalid("ring", `no ring named ${data.ring}`);
    const seed = randomBytes(8).toString("hex");
    await tx.ring.update({ where: { id: ring.id }, data: { cohortSeed: seed } });
    const machines = await tx.machine.findMany({ where: { ringId: ring.id }, select: { id: true, machineId: true } });
    for (let i = 0; i < machines.length; i += 5000) {
      const slice = machines.slice(i, i + 5000);
      await tx.$executeRaw`
        UPDATE machines AS m SET cohort = v.cohort
          FROM unnest(${slice.map((m) => m.id)}::text[], ${slice.map((m) => cohortOf(m.machineId, seed))}::float8[]) AS v(id, cohort)
         WHERE m.id = v.id`;
    }
    await writeAudit(tx, actor, {
      action: "ring.reshuffle",
      targetType: "ring",
      targetId: data.ring,
      reason: data.reason,
      before: { cohortSeed: ring.cohortSeed },
      after: { cohortSeed: seed, machines: machines.length },
    });
    return ring;
  });
  domainEvents.emit("ringChanged", ring.id);
  domainEvents.emit("machinesChanged");
  return { ring: data.ring, reshuffled: true };
}

/** Users' and API tokens' ring scopes hold ring names: a rename or a removal rewrites them in its transaction. */
async function rewriteScopes(tx: Prisma.TransactionClient, from: string, to: string | null) {
  const users = to
    ? await tx.$executeRaw`UPDATE users SET rings = array_replace(rings, ${from}, ${to}), updated_at = now() WHERE ${from} = ANY(rings)`
    : await tx.$executeRaw`UPDATE users SET rings = array_remove(rings, ${from}), updated_at = now() WHERE ${from} = ANY(rings)`;
  const apiTokens = to
    ? await tx.$executeRaw`UPDATE api_tokens SET rings = array_replace(rings, ${from}, ${to}) WHERE ${from} = ANY(rings)`
    : await tx.$executeRaw`UPDATE api_tokens SET rings = array_remove(rings, ${from}) WHERE ${from} = ANY(rings)`;
  return { users, apiTokens };
}

/** What single sign-on's group mapping (ORCHARD_OIDC_GROUPS, read at start) cannot follow: it names rings as text. */
function ssoWarning(name: string, ssoRings: readonly string[], what: string) {
  return ssoRings.includes(name)
    ? [`ORCHARD_OIDC_GROUPS still names ring ${name}: users who sign in through single sign-on are given ${name} ${what}; change the mapping in the console's environment and restart it`]
    : [];
}

export interface RingChangeOptions {
  /** The ring names single sign-on's group mapping uses (ORCHARD_OIDC_GROUPS), to warn about. */
  ssoRings?: readonly string[];
}

/**
 * Renames a ring. Ring scopes of users and API tokens name rings, so they
 * are rewritten in the same transaction; rollouts, machines, tokens and
 * reboot slots refer to the ring by id and follow. The audit log keeps the
 * old name in its past rows.
 */
export async function renameRing(db: PrismaClient, actor: Actor, input: RenameRingInput, options: RingChangeOptions = {}) {
  const data = renameRingInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    const ring = await tx.ring.findUnique({ where: { name: data.ring }, select: { id: true } });
    if (!ring) throw invalid("ring", `no ring named ${data.ring}`);
    if (data.name === data.ring) throw invalid("name", `is the ring's name already`);
    if (await tx.ring.findUnique({ where: { name: data.name }, select: { id: true } })) {
      throw conflict(`ring ${data.name} already exists`, "name");
    }
    await tx.ring.update({ where: { id: ring.id }, data: { name: data.name } });
    const rescoped = await rewriteScopes(tx, data.ring, data.name);
    await writeAudit(tx, actor, {
      action: "ring.rename",
      targetType: "ring",
      targetId: data.name,
      reason: data.reason,
      before: { name: data.ring },
      after: { name: data.name, usersRescoped: rescoped.users, apiTokensRescoped: rescoped.apiTokens },
    });
    return { id: ring.id, rescoped };
  });
  domainEvents.emit("ringChanged", result.id);
  return {
    ring: data.name,
    previousName: data.ring,
    usersRescoped: result.rescoped.users,
    apiTokensRescoped: result.rescoped.apiTokens,
    warnings: ssoWarning(data.ring, options.ssoRings ?? [], "(no longer a ring) instead of the new name"),
  };
}

/** Moves one ring right before or after another, or sets the whole order; positions stay 0, 1, 2… */
export async function reorderRings(db: PrismaClient, actor: Actor, input: ReorderRingsInput) {
  const data = reorderRingsInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    await lockRingOrder(tx);
    const rings = await tx.ring.findMany({ orderBy: [{ position: "asc" }, { name: "asc" }], select: { id: true, name: true, position: true } });
    const before = rings.map((r) => r.name);
    let after: string[];
    if (data.order) {
      const known = new Set(before);
      const unknown = data.order.filter((name) => !known.has(name));
      if (unknown.length > 0) throw invalid("order", `no ring named ${unknown.join(", ")}`);
      const twice = data.order.filter((name, i) => data.order!.indexOf(name) !== i);
      if (twice.length > 0) throw invalid("order", `names ${[...new Set(twice)].join(", ")} more than once`);
      const missing = before.filter((name) => !data.order!.includes(name));
      if (missing.length > 0) throw invalid("order", `must name every ring; missing ${missing.join(", ")}`);
      after = data.order;
    } else {
      const field = data.before !== undefined ? "before" : "after";
      const other = (data.before ?? data.after)!;
      if (!before.includes(data.ring!)) throw invalid("ring", `no ring named ${data.ring}`);
      if (!before.includes(other)) throw invalid(field, `no ring named ${other}`);
      if (other === data.ring) throw invalid(field, "names the ring being moved");
      after = before.filter((name) => name !== data.ring);
      const at = after.indexOf(other) + (field === "after" ? 1 : 0);
      after.splice(at, 0, data.ring!);
    }
    const byName = new Map(rings.map((r) => [r.name, r]));
    for (const [position, name] of after.entries()) {
      const ring = byName.get(name)!;
      if (ring.position !== position) await tx.ring.update({ where: { id: ring.id }, data: { position } });
    }
    const changed = after.some((name, i) => name !== before[i]);
    if (changed) {
      await writeAudit(tx, actor, {
        action: "ring.reorder",
        targetType: "ring",
        targetId: data.ring ?? "*",
        reason: data.reason,
        before: { order: before },
        after: { order: after },
      });
    }
    return { order: after, changed, ids: changed ? rings.map((r) => r.id) : [] };
  });
  for (const id of result.ids) domainEvents.emit("ringChanged", id);
  return { order: result.order, changed: result.changed };
}

/**
 * Removes an empty ring: no machines (retired ones keep no hold on it), no
 * rollout under way and no rollout history (past rollouts name their rings,
 * and are kept). Its unused enrollment tokens are revoked (a token of no
 * ring would otherwise enroll machines into no ring), and its name leaves
 * users' and API tokens' ring scopes, all in the same transaction.
 */
export async function removeRing(db: PrismaClient, actor: Actor, input: RemoveRingInput, options: RingChangeOptions = {}) {
  const data = removeRingInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    await lockRingOrder(tx);
    const ring = await tx.ring.findUnique({
      where: { name: data.ring },
      select: { id: true, position: true, branch: { select: { ref: true } }, currentRelease: { select: { version: true } } },
    });
    if (!ring) throw invalid("ring", `no ring named ${data.ring}`);
    // The same lock a new rollout takes on its rings: none starts on it meanwhile.
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`orchard:ring:${ring.id}`}))::text`;
    const blocked = (await removalBlockers(tx, [ring.id])).get(ring.id);
    if (blocked) throw conflict(`ring ${data.ring} cannot be removed: ${blocked}`, "ring");
    const now = new Date();
    const tokens = await tx.enrollmentToken.updateMany({ where: { ringId: ring.id, revokedAt: null }, data: { revokedAt: now } });
    const rescoped = await rewriteScopes(tx, data.ring, null);
    await tx.ring.delete({ where: { id: ring.id } });
    await tx.$executeRaw`UPDATE rings SET position = position - 1 WHERE position > ${ring.position}`;
    await writeAudit(tx, actor, {
      action: "ring.remove",
      targetType: "ring",
      targetId: data.ring,
      reason: data.reason,
      before: { name: data.ring, branch: ring.branch.ref, position: ring.position, release: ring.currentRelease?.version ?? null },
      after: { removed: true, enrollmentTokensRevoked: tokens.count, usersRescoped: rescoped.users, apiTokensRescoped: rescoped.apiTokens },
    });
    return { id: ring.id, tokens: tokens.count, rescoped };
  });
  domainEvents.emit("ringChanged", result.id);
  return {
    ring: data.ring,
    removed: true,
    enrollmentTokensRevoked: result.tokens,
    usersRescoped: result.rescoped.users,
    apiTokensRescoped: result.rescoped.apiTokens,
    warnings: ssoWarning(data.ring, options.ssoRings ?? [], "(no longer a ring; a new ring of that name would be theirs)"),
  };
}
