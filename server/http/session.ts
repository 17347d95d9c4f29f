// The signed-in user behind a node:http request: next-auth's JWT session
// cookie, verified with the console's secret, then its session row and user
// read from the database. A cookie whose session was ended (sign-out, a
// disabled user, a new role or password) or that carries no session id is no
// session, however valid its signature and expiry.
import type { IncomingMessage } from "node:http";
import { getToken } from "next-auth/jwt";
import type { Database } from "../db/client";
import type { Principal } from "../auth/principal";
import { resolveSession } from "../sessions/sessions";

export interface SessionOptions {
  db: Database;
  secret: string;
  secureCookie: boolean;
}

export async function sessionUser(req: IncomingMessage, options: SessionOptions): Promise<Principal | null> {
  const token = await getToken({
    req: { cookies: parseCookies(req.headers.cookie), headers: req.headers } as unknown as Parameters<typeof getToken>[0]["req"],
    secret: options.secret,
    secureCookie: options.secureCookie,
  });
  const sessionId = typeof token?.sid === "string" ? token.sid : null;
  return sessionId ? resolveSession(options.db.prisma, sessionId) : null;
}

/** Cookies of a request header, as next-auth's session store reads them. */
function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of header?.split(";") ?? []) {
    const at = part.indexOf("=");
    if (at < 1) continue;
    const name = part.slice(0, at).trim();
    try {
      cookies.set(name, decodeURIComponent(part.slice(at + 1).trim()));
    } catch {
      // A malformed cookie is no session.
    }
  }
  return cookies;
}
