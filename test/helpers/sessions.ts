// Session cookies as next-auth issues them after a sign-in: a session row
// (server/sessions/sessions.ts) and a JWT carrying its id, encoded with the
// console's secret.
import { encode } from "next-auth/jwt";
import type { Database } from "../../server/db/client";
import { startSession } from "../../server/sessions/sessions";

export const SESSION_COOKIE = "next-auth.session-token";

/** The cookie header of a fresh session of `userId`, and the session's id. */
export async function signedInCookie(db: Database, userId: string, secret: string) {
  const sid = await startSession(db.prisma, userId);
  return { sid, cookie: await cookieFor({ sub: userId, sid }, secret) };
}

/** The cookie header for any JWT payload (a forged or pre-session one, say). */
export async function cookieFor(token: Record<string, unknown>, secret: string) {
  return `${SESSION_COOKIE}=${await encode({ token, secret })}`;
}
