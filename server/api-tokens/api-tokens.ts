// API tokens (service accounts): a named bearer token with a role and,
// optionally, a set of rings. Created by an admin and shown once; only its
// SHA-256 is kept. Its last use (when, from where) is recorded at most once a
// minute, so that a busy pipeline does not write on every call. Revoked and
// expired tokens stay listed, so that the audit rows written through them keep
// their name.
import { type Actor, writeAudit } from "../audit/audit";
import type { Principal } from "../auth/principal";
import { grantRings } from "../auth/principal";
import { checkRingsExist } from "../auth/scope";
import { generateToken, hashesEqual, hashToken, tokenKind } from "../auth/tokens";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { Prisma, PrismaClient } from "../db/client";
import { conflict, notFound } from "../errors";
import { API_TOKEN_STATES, type CreateApiTokenInput, createApiTokenInput } from "./schemas";

type ApiTokenState = (typeof API_TOKEN_STATES)[number];

const LAST_USE_EVERY_MS = 60_000;

export const apiTokenSelect = {
  id: true,
  name: true,
  prefix: true,
  role: true,
  allRings: true,
  rings: true,
  expiresAt: true,
  lastUsedAt: true,
  lastUsedFrom: true,
  revokedAt: true,
  createdAt: true,
  createdBy: { select: { email: true } },
} satisfies Prisma.ApiTokenSelect;

type ApiTokenRow = Prisma.ApiTokenGetPayload<{ select: typeof apiTokenSelect }>;

/** A token as lists and the API show it: its rings (null: every ring) and whether it still works. */
function shown(row: ApiTokenRow, now: Date) {
  const { allRings, rings, createdBy, ...rest } = row;
  const state: ApiTokenState = row.revokedAt ? "revoked" : row.expiresAt && row.expiresAt <= now ? "expired" : "active";
  return { ...rest, rings: grantRings({ allRings, rings }), createdBy: createdBy?.email ?? null, state };
}

export async function createApiToken(db: PrismaClient, actor: Actor, input: CreateApiTokenInput, clock: Clock = systemClock) {
  const data = createApiTokenInput.parse(input);
  const { token, hash, prefix } = generateToken("api");
  const now = clock.now();
  const record = await db.$transaction(async (tx) => {
    await checkRingsExist(tx, data.rings);
    if (await tx.apiToken.findUnique({ where: { name: data.name }, select: { id: true } })) {
      throw conflict(`an API token named ${data.name} already exists (revoked ones keep their names)`, "name");
    }
    const created = await tx.apiToken.create({
      data: {
        name: data.name,
        tokenHash: hash,
        prefix,
        role: data.role,
        allRings: !data.rings,
        rings: data.rings ?? [],
        expiresAt: data.expiresInDays ? new Date(now.getTime() + data.expiresInDays * 86_400_000) : null,
        createdById: actor.id,
      },
      select: apiTokenSelect,
    });
    await writeAudit(tx, actor, {
      action: "api-token.create",
      targetType: "api-token",
      targetId: created.id,
      after: { name: data.name, prefix, role: data.role, rings: data.rings ?? null, expiresAt: created.expiresAt?.toISOString() ?? null },
    });
    return created;
  });
  return { token, record: shown(record, now) };
}

export async function listApiTokens(db: PrismaClient, clock: Clock = systemClock) {
  const rows = await db.apiToken.findMany({ orderBy: [{ createdAt: "desc" }, { id: "desc" }], select: apiTokenSelect, take: 1000 });
  const now = clock.now();
  return rows.map((row) => shown(row, now));
}

export async function revokeApiToken(db: PrismaClient, actor: Actor, id: string, clock: Clock = systemClock) {
  const now = clock.now();
  const row = await db.$transaction(async (tx) => {
    const before = await tx.apiToken.findUnique({ where: { id }, select: { id: true, name: true, prefix: true, revokedAt: true } });
    if (!before) throw notFound(`API token ${id}`);
    if (before.revokedAt) return tx.apiToken.findUniqueOrThrow({ where: { id }, select: apiTokenSelect });
    const after = await tx.apiToken.update({ where: { id }, data: { revokedAt: now }, select: apiTokenSelect });
    await writeAudit(tx, actor, {
      action: "api-token.revoke",
      targetType: "api-token",
      targetId: id,
      before: { name: before.name, prefix: before.prefix, revoked: false },
      after: { revoked: true },
    });
    return after;
  });
  return shown(row, now);
}

export type TokenRefusal = "unknown" | "revoked" | "expired";

/**
 * The principal behind an API token, or why there is none. `from`: the
 * caller's address, recorded with the last use.
 */
export async function authenticateApiToken(
  db: PrismaClient,
  token: string,
  from: string | null,
  clock: Clock = systemClock,
): Promise<{ principal: Principal } | { refused: TokenRefusal }> {
  if (tokenKind(token) !== "api") return { refused: "unknown" };
  const hash = hashToken(token);
  const row = await db.apiToken.findUnique({
    where: { tokenHash: hash },
    select: { id: true, name: true, tokenHash: true, role: true, allRings: true, rings: true, expiresAt: true, revokedAt: true, lastUsedAt: true },
  });
  if (!row || !hashesEqual(row.tokenHash, hash)) return { refused: "unknown" };
  const now = clock.now();
  if (row.revokedAt) return { refused: "revoked" };
  if (row.expiresAt && row.expiresAt <= now) return { refused: "expired" };
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USE_EVERY_MS) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now, lastUsedFrom: from?.slice(0, 100) ?? null } });
  }
  return { principal: { kind: "token", id: row.id, name: row.name, role: row.role, rings: grantRings(row) } };
}
