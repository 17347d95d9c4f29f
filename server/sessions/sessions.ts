// Console sessions that the server can end: one row per signed-in browser,
// whose id the session cookie (next-auth's JWT) carries.
//
// Why rows and not a per-user epoch in the JWT: signing out must end that one
// browser's session, not every session of the user, and a row answers "is this
// session still on?" with the same single indexed read that re-reading the
// user's role already costs (one join). Signing out deletes the row;
// disabling a user, changing their role or their password, or removing them
// deletes all their rows, so re-enabling a user revives nothing. A session
// also ends SESSION_LIFETIME_SECONDS after sign-in whatever happens:
// next-auth renews the cookie's expiry on /api/auth/session, never the row's.
import { randomBytes } from "node:crypto";
import type { Prisma, PrismaClient } from "../db/client";
import { grantRings, type Principal } from "../auth/principal";

/** A session's absolute lifetime: a working day. */
export const SESSION_LIFETIME_SECONDS = 12 * 60 * 60;

type Db = PrismaClient | Prisma.TransactionClient;

/** Opens a session for a user who just signed in; returns its id (for the cookie). */
export async function startSession(db: Db, userId: string, now = new Date()): Promise<string> {
  const id = randomBytes(24).toString("base64url");
  await db.session.create({
    data: { id, userId, createdAt: now, expiresAt: new Date(now.getTime() + SESSION_LIFETIME_SECONDS * 1000) },
    select: { id: true },
  });
  // Sessions that ended on their own are deleted here, at the next sign-in of anyone.
  await db.session.deleteMany({ where: { expiresAt: { lte: now } } });
  return id;
}

/** The signed-in user behind a session, re-read from the database; null when the session was ended or expired, or the user is disabled. */
export async function resolveSession(db: PrismaClient, sessionId: string, now = new Date()): Promise<Principal | null> {
  const session = await db.session.findUnique({
    where: { id: sessionId },
    select: {
      expiresAt: true,
      user: { select: { id: true, email: true, role: true, allRings: true, rings: true, disabledAt: true } },
    },
  });
  if (!session || session.expiresAt <= now || session.user.disabledAt) return null;
  const { user } = session;
  return { kind: "user", id: user.id, name: user.email, role: user.role, rings: grantRings(user) };
}

/** Ends one session (sign-out). Ending a session that is already gone is not an error. */
export async function endSession(db: PrismaClient, sessionId: string): Promise<void> {
  await db.session.deleteMany({ where: { id: sessionId } });
}

/** Ends every session of a user, inside the transaction that changes the user; returns how many. */
export async function endUserSessions(tx: Db, userId: string): Promise<number> {
  const { count } = await tx.session.deleteMany({ where: { userId } });
  return count;
}
