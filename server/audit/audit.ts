// The audit log: every change made through the console or the command line
// writes one row, in the same transaction as the change.
import type { Prisma } from "../db/client";
import type { Grant, Role } from "../vocabulary";

export type { Role };

/** Who makes a change: a user, an API token, the command line or the console itself, with what they may do. */
export interface Actor extends Grant {
  /** The user's id; null for a token, the command line and the system itself. */
  id: string | null;
  /** The API token the change is made with. */
  tokenId?: string | null;
  /** What the audit log shows: an e-mail, `token:<name>`, `cli` or `system`. */
  label: string;
}

export const cliActor: Actor = { id: null, label: "cli", role: "admin", rings: null };
export const systemActor: Actor = { id: null, label: "system", role: "admin", rings: null };

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
      tokenId: actor.tokenId ?? null,
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
