// Rings: ordered groups of machines, each following one branch, with a
// current release and a reboot/check-in policy.
import { assertSendable } from "../releases/sendable";
import { randomBytes } from "node:crypto";
import { type Actor, writeAudit } from "../audit/audit";
import type { Prisma, PrismaClient } from "../db/client";
import { conflict, invalid, notFound } from "../errors";
import { ringNameWhere } from "../auth/scope";
import { domainEvents } from "../events";
import { ensureBranch } from "../releases/releases";
import { cohortOf } from "../rollouts/cohort";
import type { MaintenanceWindow } from "../rollouts/windows";
import {
  type CreateRingInput,
  createRingInput,
  type SetRingReleaseInput,
  setRingReleaseInput,
  type UpdateRingPolicyInput,
  updateRingPolicyInput,
  reshuffleRingInput,
} from "./schemas";

const policySelect = {
  rebootSlots: true,
  rebootLeaseSeconds: true,
  checkInIntervalSeconds: true,
  timeZone: true,
  maintenanceWindows: true,
  blackoutDates: true,
  failureDomainLabel: true,
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
  return { ...ring, maintenanceWindows: ring.maintenanceWindows as MaintenanceWindow[], blackoutDates: ring.blackoutDates as string[] };
}

export async function createRing(db: PrismaClient, actor: Actor, input: CreateRingInput) {
  const data = createRingInput.parse(input);
  const ring = await db.$transaction(async (tx) => {
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

/** Every ring, or those of the caller's scope. */
export async function listRings(db: PrismaClient, scope: readonly string[] | null = null) {
  const [rings, counts] = await Promise.all([
    db.ring.findMany({ where: ringNameWhere(scope), orderBy: [{ position: "asc" }, { name: "asc" }], select: ringSelect }),
    db.machine.groupBy({ by: ["ringId"], where: { retiredAt: null }, _count: { _all: true } }),
  ]);
  const byRing = new Map(counts.map((c) => [c.ringId, c._count._all]));
  return rings.map((r) => ({ ...shown(r), machines: byRing.get(r.id) ?? 0 }));
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
  const { ring: name, ...policy } = updateRingPolicyInput.parse(input);
  const ring = await db.$transaction(async (tx) => {
    const before = await tx.ring.findUnique({ where: { name }, select: { id: true, ...policySelect } });
    if (!before) throw invalid("ring", `no ring named ${name}`);
    const updated = await tx.ring.update({ where: { id: before.id }, data: policy, select: { ...ringSelect, ...policySelect } });
    const { id: _id, ...beforePolicy } = before;
    await writeAudit(tx, actor, {
      action: "ring.update-policy",
      targetType: "ring",
      targetId: name,
      before: beforePolicy as Prisma.InputJsonValue,
      after: Object.fromEntries(Object.keys(policySelect).map((k) => [k, updated[k as keyof typeof policySelect]])) as Prisma.InputJsonValue,
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
