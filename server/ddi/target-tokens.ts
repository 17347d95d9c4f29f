// A DDI device's target token: hawkBit's per-device credential
// (`Authorization: TargetToken …`, SWUpdate's `-k`). It is a machine token of
// the device (orch_m_…), kept only as its SHA-256 like every token, shown
// once when an operator issues it; issuing one revokes the device's previous
// tokens. A device needs one only to stop using its ring's gateway token.
import { type Actor, writeAudit } from "../audit/audit";
import { generateToken } from "../auth/tokens";
import { type Clock, systemClock } from "../clock";
import type { PrismaClient } from "../db/client";
import { invalid, notFound } from "../errors";
import { domainEvents } from "../events";
import { retireMachineInput } from "../machines/schemas";

/** Issues a new target token for DDI device `machineId` (revoking its previous ones) and returns it, shown this once. */
export async function issueTargetToken(db: PrismaClient, actor: Actor, input: { machineId: string; reason?: string }, clock: Clock = systemClock) {
  const data = retireMachineInput.parse(input);
  const now = clock.now();
  const issued = generateToken("machine");
  const machine = await db.$transaction(async (tx) => {
    const machine = await tx.machine.findUnique({ where: { machineId: data.machineId }, select: { id: true, backend: true, retiredAt: true } });
    if (!machine || machine.retiredAt) throw notFound(`machine ${data.machineId}`);
    if (machine.backend !== "swupdate") {
      throw invalid("machineId", `machine ${data.machineId} is not a DDI device (backend ${machine.backend}): only a device updated over hawkBit DDI takes a target token`);
    }
    const revoked = await tx.machineToken.updateMany({ where: { machineId: machine.id, revokedAt: null }, data: { revokedAt: now } });
    await tx.machineToken.create({ data: { machineId: machine.id, tokenHash: issued.hash, prefix: issued.prefix, createdAt: now } });
    await writeAudit(
      tx,
      actor,
      {
        action: "machine.target-token",
        targetType: "machine",
        targetId: data.machineId,
        reason: data.reason,
        before: { tokens: revoked.count },
        after: { prefix: issued.prefix },
      },
      now,
    );
    return machine;
  });
  domainEvents.emit("machineChanged", machine.id);
  return { machineId: data.machineId, targetToken: issued.token, prefix: issued.prefix };
}
