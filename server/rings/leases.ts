// Reboot slots seen from the console: who holds each, since when, until
// when; an operator can force one free (the server frees expired ones itself).
import { z } from "zod";
import { type Actor, writeAudit } from "../audit/audit";
import type { PrismaClient } from "../db/client";
import { notFound } from "../errors";
import { ringNameWhere } from "../auth/scope";
import { machineIdSchema } from "../protocol/v1";

export const forceReleaseInput = z.object({ machineId: machineIdSchema, reason: z.string().max(500).optional() });

export async function listRebootLeases(db: PrismaClient, scope: readonly string[] | null = null) {
  const ring = ringNameWhere(scope);
  const leases = await db.rebootLease.findMany({
    where: ring ? { ring } : undefined,
    orderBy: [{ acquiredAt: "asc" }],
    select: {
      domain: true,
      acquiredAt: true,
      expiresAt: true,
      ring: { select: { name: true, rebootSlots: true, failureDomainLabel: true } },
      machine: { select: { machineId: true, hostname: true, updateState: true, lastSeenAt: true } },
    },
    take: 1000,
  });
  return leases;
}

export async function forceReleaseLease(db: PrismaClient, actor: Actor, input: z.input<typeof forceReleaseInput>) {
  const data = forceReleaseInput.parse(input);
  return db.$transaction(async (tx) => {
    const lease = await tx.rebootLease.findFirst({
      where: { machine: { machineId: data.machineId } },
      select: { id: true, acquiredAt: true, expiresAt: true, domain: true, ring: { select: { name: true } } },
    });
    if (!lease) throw notFound(`a reboot slot held by ${data.machineId}`);
    await tx.rebootLease.delete({ where: { id: lease.id } });
    // It sticks: the machine is not granted a slot again for what it works on now (until its target changes).
    const [machine] = await tx.$queryRaw<{ updateTarget: string | null }[]>`
      UPDATE machines SET slot_refused_target = update_target WHERE machine_id = ${data.machineId}
      RETURNING update_target AS "updateTarget"`;
    await writeAudit(tx, actor, {
      action: "reboot-slot.force-release",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { ring: lease.ring?.name ?? null, domain: lease.domain, acquiredAt: lease.acquiredAt.toISOString(), expiresAt: lease.expiresAt.toISOString() },
      after: { held: false, refusedFor: machine?.updateTarget ?? null },
    });
    return { machineId: data.machineId, released: true };
  });
}
