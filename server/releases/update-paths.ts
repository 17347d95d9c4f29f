// Safe update paths: floors and blocked paths on a branch, and the branch's
// update graph (releases in order, floors, blocked paths, and how many
// machines of each ring run each release). What a machine is sent follows
// from these in agents/desired.ts (through releases/paths.ts).
import { type Actor, writeAudit } from "../audit/audit";
import type { Prisma, PrismaClient } from "../db/client";
import { conflict, invalid } from "../errors";
import { domainEvents } from "../events";
import { rejudgeRollout } from "../rollouts/tracking";
import { ACTIVE_ROLLOUT_STATES } from "../vocabulary";
import { assertSendable } from "./sendable";
import {
  type BlockPathInput,
  blockPathInput,
  type SetFloorInput,
  setFloorInput,
  type UnblockPathInput,
  unblockPathInput,
  updateGraphInput,
} from "./schemas";

type Tx = Prisma.TransactionClient;

/** Every ring's cached answers are read again (a branch's path changed; this is rare, and rings are few). */
async function forgetRings(db: PrismaClient) {
  for (const ring of await db.ring.findMany({ select: { id: true } })) domainEvents.emit("ringChanged", ring.id);
}

async function releaseOf(tx: Tx, version: string, ref: string | undefined, field: string) {
  const found = await tx.release.findMany({
    where: { version, ...(ref ? { branch: { ref } } : {}) },
    select: { id: true, version: true, checksum: true, seq: true, floor: true, signatureState: true, signatureReason: true, branchId: true, branch: { select: { ref: true } } },
    take: 2,
  });
  if (found.length === 0) throw invalid(field, `no release ${version}${ref ? ` on ${ref}` : ""}`);
  if (found.length > 1) throw invalid("ref", `several branches have a release ${version}: name the ref`);
  return found[0]!;
}

/** Machines' answers on the branch change: its rollouts under way judge their machines again. */
async function rejudgeBranch(tx: Tx, branchId: string) {
  const rollouts = await tx.rollout.findMany({
    where: { state: { in: [...ACTIVE_ROLLOUT_STATES] }, release: { branchId } },
    select: { id: true },
  });
  for (const r of rollouts) await rejudgeRollout(tx, r.id);
}

/** Marks or unmarks a floor: every machine older than it boots it before anything newer. */
export async function setFloor(db: PrismaClient, actor: Actor, input: SetFloorInput) {
  const data = setFloorInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    const release = await releaseOf(tx, data.version, data.ref, "version");
    if (release.floor === data.floor) {
      throw conflict(`${release.version} ${data.floor ? "is already" : "is not"} a floor of ${release.branch.ref}`, "floor");
    }
    // Machines boot a floor on their way: one that may not be sent to them cannot be one.
    if (data.floor) assertSendable(release, "version");
    const updated = await tx.release.update({
      where: { id: release.id },
      data: { floor: data.floor, floorReason: data.floor ? (data.reason ?? null) : null },
      select: { version: true, floor: true, floorReason: true, branch: { select: { ref: true } } },
    });
    await writeAudit(tx, actor, {
      action: data.floor ? "release.floor" : "release.unfloor",
      targetType: "release",
      targetId: `${release.branch.ref}@${release.version}`,
      before: { floor: release.floor },
      after: { floor: data.floor },
      reason: data.reason,
    });
    await rejudgeBranch(tx, release.branchId);
    return { ref: updated.branch.ref, version: updated.version, floor: updated.floor, reason: updated.floorReason };
  });
  await forgetRings(db);
  return result;
}

async function pathEnds(tx: Tx, input: { ref?: string; from: string[]; to: string }) {
  const to = await releaseOf(tx, input.to, input.ref, "to");
  const from = [];
  for (const version of new Set(input.from)) {
    const release = await releaseOf(tx, version, to.branch.ref, "from");
    if (release.seq >= to.seq) throw invalid("from", `${version} is not older than ${to.version}: only paths forward can be blocked`);
    from.push(release);
  }
  return { to, from };
}

/** Blocks the direct paths from releases to a newer one: machines on them reach it another way, or not at all. */
export async function blockPath(db: PrismaClient, actor: Actor, input: BlockPathInput) {
  const data = blockPathInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    const { to, from } = await pathEnds(tx, data);
    const created = await tx.blockedPath.createMany({
      data: from.map((f) => ({ fromReleaseId: f.id, toReleaseId: to.id, reason: data.reason ?? null })),
      skipDuplicates: true,
    });
    if (created.count === 0) throw conflict(`every path named to ${to.version} is already blocked`, "from");
    await writeAudit(tx, actor, {
      action: "release.block-path",
      targetType: "release",
      targetId: `${to.branch.ref}@${to.version}`,
      after: { from: from.map((f) => f.version), to: to.version },
      reason: data.reason,
    });
    await rejudgeBranch(tx, to.branchId);
    return { ref: to.branch.ref, from: from.map((f) => f.version), to: to.version, blocked: created.count };
  });
  await forgetRings(db);
  return result;
}

export async function unblockPath(db: PrismaClient, actor: Actor, input: UnblockPathInput) {
  const data = unblockPathInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    const { to, from } = await pathEnds(tx, data);
    const removed = await tx.blockedPath.deleteMany({ where: { toReleaseId: to.id, fromReleaseId: { in: from.map((f) => f.id) } } });
    if (removed.count === 0) throw conflict(`no path named to ${to.version} is blocked`, "from");
    await writeAudit(tx, actor, {
      action: "release.unblock-path",
      targetType: "release",
      targetId: `${to.branch.ref}@${to.version}`,
      before: { from: from.map((f) => f.version), to: to.version },
    });
    await rejudgeBranch(tx, to.branchId);
    return { ref: to.branch.ref, from: from.map((f) => f.version), to: to.version, unblocked: removed.count };
  });
  await forgetRings(db);
  return result;
}

/** The branch's update graph: releases oldest first with floors, blocked paths, and machines per ring on each. */
export async function updateGraph(db: PrismaClient, input: { ref: string }, scope: readonly string[] | null = null) {
  const { ref } = updateGraphInput.parse(input);
  const branch = await db.branch.findUnique({ where: { ref }, select: { id: true, ref: true } });
  if (!branch) throw invalid("ref", `no branch ${ref}`);
  const [releases, blocked, rings, running] = await Promise.all([
    db.release.findMany({
      where: { branchId: branch.id },
      orderBy: { seq: "asc" },
      select: { id: true, version: true, checksum: true, floor: true, floorReason: true, quarantinedAt: true, createdAt: true },
    }),
    db.blockedPath.findMany({
      where: { to: { branchId: branch.id } },
      select: { reason: true, createdAt: true, from: { select: { version: true } }, to: { select: { version: true } } },
      orderBy: { createdAt: "asc" },
    }),
    db.ring.findMany({
      where: { OR: [{ branchId: branch.id }, { currentRelease: { branchId: branch.id } }], ...(scope ? { name: { in: [...scope] } } : {}) },
      select: { id: true, name: true, currentRelease: { select: { version: true } } },
      orderBy: { position: "asc" },
    }),
    db.$queryRaw<{ checksum: string; ring_id: string; n: number }[]>`
      SELECT m.booted_checksum AS checksum, m.ring_id, count(*)::int AS n
        FROM machines m JOIN releases r ON r.checksum = m.booted_checksum AND r.branch_id = ${branch.id}
       WHERE m.retired_at IS NULL AND m.ring_id IS NOT NULL
       GROUP BY m.booted_checksum, m.ring_id`,
  ]);
  const ringName = new Map(rings.map((r) => [r.id, r.name]));
  return {
    ref: branch.ref,
    rings: rings.map((r) => ({ name: r.name, currentRelease: r.currentRelease?.version ?? null })),
    releases: releases.map((r) => ({
      id: r.id,
      version: r.version,
      checksum: r.checksum,
      floor: r.floor,
      floorReason: r.floorReason,
      quarantined: r.quarantinedAt !== null,
      createdAt: r.createdAt,
      machines: Object.fromEntries(
        running.filter((x) => x.checksum === r.checksum && ringName.has(x.ring_id)).map((x) => [ringName.get(x.ring_id)!, x.n]),
      ) as Record<string, number>,
    })),
    blocked: blocked.map((b) => ({ from: b.from.version, to: b.to.version, reason: b.reason, createdAt: b.createdAt })),
  };
}
