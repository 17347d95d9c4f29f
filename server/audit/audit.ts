// The audit log: every change made through the console or the command line
// writes one row, in the same transaction as the change.
import type { Prisma } from "../db/client";
import type { Role } from "../vocabulary";

export type { Role };

export interface Actor {
  /** The user's id; null for the command line and the system itself. */
  id: string | null;
  /** What the audit log shows: an e-mail, `cli` or `system`. */
  label: string;
  role: Role;
}

export const cliActor: Actor = { id: null, label: "cli", role: "admin" };
export const systemActor: Actor = { id: null, label: "system", role: "admin" };

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId?: string | null;
  reason?: string | null;
  before?: Prisma.InputJsonValue | null;
  after?: Prisma.InputJsonValue | null;
}

export async function writeAudit(
  tx: Prisma.TransactionClient,
  actor: Actor,
  entry: AuditEntry,
  at?: Date,
) {
  await tx.auditLog.create({
    data: {
      at,
      actorId: actor.id,
      actorLabel: actor.label,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId ?? null,
      reason: entry.reason ?? null,
      before: entry.before ?? undefined,
      after: entry.after ?? undefined,
    },
  });
}
