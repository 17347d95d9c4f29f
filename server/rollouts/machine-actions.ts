// What an operator does to one machine's desired state: pin it to a release
// (it leaves every rollout until unpinned), unpin it (saying first what it
// will then be sent), or roll it back to its previous deployment (held
// there, out of rollouts, until released).
import { type Actor, writeAudit } from "../audit/audit";
import { answerTo, type RollbackTarget } from "../agents/desired";
import { prismaQuery, readMachineView, readRingView } from "../agents/views";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import { Prisma, type PrismaClient } from "../db/client";
import { conflict, invalid, notFound } from "../errors";
import { domainEvents } from "../events";
import type { z } from "zod";
import { previousDeploymentOf } from "../machines/machines";
import { assertSendable } from "../releases/sendable";
import { findRelease } from "./rollouts";
import { machineActionInput, type PinInput, pinInput, unpinInput } from "./schemas";
import { rejudgeMachines } from "./tracking";


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
  if (release.quarantinedAt) throw conflict(`release ${release.version} is quarantined (emergency brake)`, "version");
  assertSendable(release, "version");
  const booted = await newerBooted(tx, machine.bootedChecksum, release.checksum);
  if (booted && !data.allowDowngrade) {
    throw invalid(
      "allowDowngrade",
      `the machine runs ${booted.version}, newer than ${release.version}: pinning it to an older release needs allowDowngrade`,
    );
  }
  await tx.machine.update({
    where: { id: machine.id },
    data: { pinnedReleaseId: release.id, pinnedAt: now, pinAllowsDowngrade: data.allowDowngrade, rollbackTo: undefined },
  });
  await rejudgeMachines(tx, [machine.id]);
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

/** The release the machine boots, when it was made after `checksum`'s (the console's measure of a downgrade). */
async function newerBooted(tx: Prisma.TransactionClient | PrismaClient, booted: string | null, checksum: string) {
  if (!booted || booted === checksum) return null;
  const [row] = await tx.$queryRaw<{ version: string }[]>`
    SELECT b.version FROM releases b, releases t
     WHERE b.checksum = ${booted} AND t.checksum = ${checksum} AND t.created_at < b.created_at LIMIT 1`;
  return row ?? null;
}

/**
 * What unpinning (or releasing the rollback hold of) a machine would make
 * the console send it: the same answer its agent would get. A downgrade
 * (its ring runs an older release) is refused by the agent unless the unpin
 * allows it; rolling the ring forward is the other way out.
 */
export async function previewUnpin(db: PrismaClient | Prisma.TransactionClient, machineId: string) {
  const query = prismaQuery(db);
  const machine = await readMachineView(query, machineId);
  if (!machine) throw notFound(`machine ${machineId}`);
  const ring = machine.ringId ? await readRingView(query, machine.ringId) : null;
  // Once its turn has come, in a wave that starts its machines over time (no `now`): where it is headed.
  const after = answerTo({ ...machine, pinned: null, rollbackTo: null }, ring, null);
  const target = after.action === "none" ? null : after.desired;
  const newer = target ? await newerBooted(db, machine.bootedChecksum, target.checksum) : null;
  return {
    machineId,
    ring: ring?.name ?? null,
    /** Where the answer would come from: the ring's release, a rollout, or nothing. */
    follows: after.source,
    action: after.action,
    desired: after.desired ? { version: after.desired.version, checksum: after.desired.checksum, reason: after.desired.reason } : null,
    /** The machine runs a newer release than it would be sent: its agent refuses unless the unpin allows the downgrade. */
    downgrade: newer ? { from: newer.version, to: target!.version } : null,
  };
}

/** Unpins a machine and releases any rollback hold: it follows its ring and rollouts again. */
export async function unpinMachine(db: PrismaClient, actor: Actor, input: z.input<typeof unpinInput>, clock: Clock = systemClock) {
  const data = unpinInput.parse(input);
  const now = clock.now();
  const id = await db.$transaction((tx) => unpinInTransaction(tx, actor, data, now));
  domainEvents.emit("machineChanged", id);
  return { machineId: data.machineId, pinned: null };
}

/** Unpins one machine in the caller's transaction, with its audit row; returns the machine's row id. */
export async function unpinInTransaction(
  tx: Prisma.TransactionClient,
  actor: Actor,
  data: { machineId: string; reason?: string; allowDowngrade?: boolean },
  now: Date,
) {
  const machine = await machineFor(tx, data.machineId);
  // Allowed down to exactly the release it would be sent now, and to no later one by surprise.
  const preview = data.allowDowngrade ? await previewUnpin(tx, data.machineId) : null;
  const allowDowngradeTo = preview?.downgrade ? preview.desired!.checksum : null;
  await tx.machine.update({
    where: { id: machine.id },
    data: { pinnedReleaseId: null, pinnedAt: null, pinAllowsDowngrade: false, rollbackTo: Prisma.DbNull, allowDowngradeTo },
  });
  await rejudgeMachines(tx, [machine.id]);
  await writeAudit(
    tx,
    actor,
    {
      action: "machine.unpin",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { pinned: machine.pinnedRelease?.version ?? null, rollbackTo: machine.rollbackTo ?? null },
      after: { pinned: null, rollbackTo: null, allowDowngradeTo: preview?.downgrade ? preview.downgrade.to : null },
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
  const previous = previousDeploymentOf(machine.deployments, machine.bootedChecksum);
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
  await rejudgeMachines(tx, [machine.id]);
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
