// Enrollment tokens: created by an operator, traded by an agent for a
// machine token. Only a hash is stored; the token is shown once.
import { type Actor, writeAudit } from "../audit/audit";
import { generateToken, hashesEqual, hashToken, tokenKind } from "../auth/tokens";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { Database, Prisma, PrismaClient } from "../db/client";
import { invalid, notFound } from "../errors";
import { type CreateEnrollmentTokenInput, createEnrollmentTokenInput } from "./schemas";

export const enrollmentTokenSelect = {
  id: true,
  name: true,
  prefix: true,
  labels: true,
  expiresAt: true,
  maxUses: true,
  uses: true,
  lastUsedAt: true,
  revokedAt: true,
  createdAt: true,
  ring: { select: { name: true } },
  createdBy: { select: { email: true } },
} satisfies Prisma.EnrollmentTokenSelect;

/** A token as lists show it: its labels as stored (checked by labelsSchema when it was created). */
function shown(row: Prisma.EnrollmentTokenGetPayload<{ select: typeof enrollmentTokenSelect }>) {
  return { ...row, labels: (row.labels ?? {}) as Record<string, string> };
}

export async function createEnrollmentToken(
  db: PrismaClient,
  actor: Actor,
  input: CreateEnrollmentTokenInput,
  clock: Clock = systemClock,
) {
  const data = createEnrollmentTokenInput.parse(input);
  const { token, hash, prefix } = generateToken("enrollment");
  const now = clock.now();
  const record = await db.$transaction(async (tx) => {
    let ringId: string | null = null;
    if (data.ring) {
      const ring = await tx.ring.findUnique({ where: { name: data.ring }, select: { id: true } });
      if (!ring) throw invalid("ring", `no ring named ${data.ring}`);
      ringId = ring.id;
    }
    const created = await tx.enrollmentToken.create({
      data: {
        name: data.name,
        tokenHash: hash,
        prefix,
        ringId,
        labels: data.labels ?? {},
        expiresAt: data.expiresInSeconds ? new Date(now.getTime() + data.expiresInSeconds * 1000) : null,
        maxUses: data.maxUses ?? null,
        createdById: actor.id,
      },
      select: enrollmentTokenSelect,
    });
    await writeAudit(tx, actor, {
      action: "enrollment-token.create",
      targetType: "enrollment-token",
      targetId: created.id,
      after: {
        name: data.name,
        prefix,
        ring: data.ring ?? null,
        expiresAt: created.expiresAt?.toISOString() ?? null,
        maxUses: created.maxUses,
      },
    });
    return created;
  });
  return { token, record: shown(record) };
}

export async function listEnrollmentTokens(db: PrismaClient) {
  const rows = await db.enrollmentToken.findMany({
    orderBy: { createdAt: "desc" },
    select: enrollmentTokenSelect,
    take: 500,
  });
  return rows.map(shown);
}

export async function revokeEnrollmentToken(db: PrismaClient, actor: Actor, id: string, clock: Clock = systemClock) {
  const row = await db.$transaction(async (tx) => {
    const before = await tx.enrollmentToken.findUnique({ where: { id }, select: { id: true, name: true, prefix: true, revokedAt: true } });
    if (!before) throw notFound("enrollment token");
    if (before.revokedAt) return tx.enrollmentToken.findUniqueOrThrow({ where: { id }, select: enrollmentTokenSelect });
    const after = await tx.enrollmentToken.update({
      where: { id },
      data: { revokedAt: clock.now() },
      select: enrollmentTokenSelect,
    });
    await writeAudit(tx, actor, {
      action: "enrollment-token.revoke",
      targetType: "enrollment-token",
      targetId: id,
      before: { name: before.name, prefix: before.prefix, revoked: false },
      after: { revoked: true },
    });
    return after;
  });
  return shown(row);
}

/**
 * Whether `token` is an enrollment token that is not revoked: what lets an
 * updater that is not our agent (Zincati, SWUpdate) in. An expired or used-up
 * one still serves the machines it enrolled (it only enrolls no new one); a
 * revoked one serves nobody. Read on the agent pool.
 */
export async function isLiveEnrollmentToken(db: Database, token: string): Promise<boolean> {
  if (tokenKind(token) !== "enrollment") return false;
  const hash = hashToken(token);
  const { rows } = await db.agent.pool.query<{ token_hash: string; revoked_at: Date | null }>(
    "SELECT token_hash, revoked_at FROM enrollment_tokens WHERE token_hash = $1",
    [hash],
  );
  return Boolean(rows[0] && hashesEqual(rows[0].token_hash, hash) && !rows[0].revoked_at);
}
