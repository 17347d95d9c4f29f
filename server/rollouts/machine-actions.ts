// What an operator does to one machine's desired state: pin it to a release
// (it leaves every rollout until unpinned), unpin it, or roll it back to its
// previous deployment.
import { type Actor, writeAudit } from "../audit/audit";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import { Prisma, type PrismaClient } from "../db/client";
import { conflict, invalid, notFound } from "../errors";
import { domainEvents } from "../events";
import type { Deployment } from "../protocol/v1";
import type { z } from "zod";
import { findRelease } from "./rollouts";
import { machineActionInput, type PinInput, pinInput } from "./schemas";

export interface RollbackTarget {
  checksum: string;
  ref: string | null;
  version: string | null;
  reason: string;
  /** Stay there until an operator releases the machine (a machine rollback), or move on once booted (a rollout's revert). */
  hold: boolean;
}

async function machineFor(db: Prisma.TransactionClient, machineId: string) {
  const machine = await db.machine.findUnique({
    where: { machineId },
    select: {
      id: true,
      bootedChecksum: true,
      deployments: true,
      pinnedReleaseId: true,
      rollbackTo: true,
      pinnedRelease: { select: { version: true } },
      retiredAt: true,
    },
  });
  if (!machine || machine.retiredAt) throw notFound(`machine ${machineId}`);
  return machine;
}

export async function pinMachine(db: PrismaClient, actor: Actor, input: PinInput, clock: Clock = systemClock) {
  const data = pinInput.parse(input);
  const now = clock.now();
  const id = await db.$transaction((tx) => pinInTransaction(tx, actor, data, now));
  domainEvents.emit("machineChanged", id);
  return { machineId: data.machineId, pinned: data.version };
}

/** Pins one machine in the caller's transaction, with its audit row; returns the machine's row id. */
export async function pinInTransaction(tx: Prisma.TransactionClient, actor: Actor, data: z.output<typeof pinInput>, now: Date) {
  const machine = await machineFor(tx, data.machineId);
  const release = await findRelease(tx, data.version, data.ref);
  if (release.quarantinedAt) throw conflict(`version: release ${release.version} is quarantined (emergency brake)`);
  const booted = machine.bootedChecksum
    ? await tx.release.findFirst({ where: { checksum: machine.bootedChecksum }, select: { createdAt: true, version: true } })
    : null;
  if (booted && release.createdAt < booted.createdAt && !data.allowDowngrade) {
    throw invalid(
      "allowDowngrade",
      `the machine runs ${booted.version}, newer than ${release.version}: pinning it to an older release needs allowDowngrade`,
    );
  }
  await tx.machine.update({
    where: { id: machine.id },
    data: { pinnedReleaseId: release.id, pinnedAt: now, pinAllowsDowngrade: data.allowDowngrade, rollbackTo: undefined },
  });
  await writeAudit(
    tx,
    actor,
    {
      action: "machine.pin",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { pinned: machine.pinnedRelease?.version ?? null },
      after: { pinned: release.version, allowDowngrade: data.allowDowngrade },
    },
    now,
  );
  return machine.id;
}

/** Unpins a machine and releases any rollback hold: it follows its ring and rollouts again. */
export async function unpinMachine(db: PrismaClient, actor: Actor, input: { machineId: string; reason?: string }, clock: Clock = systemClock) {
  const data = machineActionInput.parse(input);
  const now = clock.now();
  const id = await db.$transaction((tx) => unpinInTransaction(tx, actor, data, now));
  domainEvents.emit("machineChanged", id);
  return { machineId: data.machineId, pinned: null };
}

/** Unpins one machine in the caller's transaction, with its audit row; returns the machine's row id. */
export async function unpinInTransaction(tx: Prisma.TransactionClient, actor: Actor, data: { machineId: string; reason?: string }, now: Date) {
  const machine = await machineFor(tx, data.machineId);
  await tx.machine.update({
    where: { id: machine.id },
    data: { pinnedReleaseId: null, pinnedAt: null, pinAllowsDowngrade: false, rollbackTo: Prisma.DbNull },
  });
  await writeAudit(
    tx,
    actor,
    {
      action: "machine.unpin",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { pinned: machine.pinnedRelease?.version ?? null, rollbackTo: machine.rollbackTo ?? null },
      after: { pinned: null, rollbackTo: null },
    },
    now,
  );
  return machine.id;
}

/** Boots the machine's previous deployment (no download) and holds it there until unpinned. */
export async function rollbackMachine(db: PrismaClient, actor: Actor, input: { machineId: string; reason?: string }, clock: Clock = systemClock) {
  const data = machineActionInput.parse(input);
  const now = clock.now();
  const result = await db.$transaction((tx) => rollbackInTransaction(tx, actor, data, now));
  domainEvents.emit("machineChanged", result.id);
  return { machineId: data.machineId, rollbackTo: result.target };
}

/** Sends one machine back to its previous deployment in the caller's transaction, with its audit row. */
export async function rollbackInTransaction(tx: Prisma.TransactionClient, actor: Actor, data: { machineId: string; reason?: string }, now: Date) {
  const machine = await machineFor(tx, data.machineId);
  const deployments = (machine.deployments ?? []) as Deployment[];
  const previous = deployments.find((d) => !d.booted && d.checksum !== machine.bootedChecksum);
  if (!previous) throw conflict("the machine reports no previous deployment to roll back to");
  const quarantined = await tx.release.findFirst({
    where: { checksum: previous.checksum, quarantinedAt: { not: null } },
    select: { version: true },
  });
  if (quarantined) throw conflict(`its previous deployment is release ${quarantined.version}, which is quarantined (emergency brake)`);
  const target: RollbackTarget = {
    checksum: previous.checksum,
    ref: previous.ref,
    version: previous.version ?? null,
    reason: `rollback by ${actor.label}${data.reason ? `: ${data.reason}` : ""}`,
    hold: true,
  };
  await tx.machine.update({ where: { id: machine.id }, data: { rollbackTo: { ...target } } });
  await writeAudit(
    tx,
    actor,
    {
      action: "machine.rollback",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { booted: machine.bootedChecksum },
      after: { rollbackTo: previous.checksum, version: previous.version ?? null },
    },
    now,
  );
  return { id: machine.id, target };
}
