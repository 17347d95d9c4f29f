// tRPC over node:http in the console's own process, so that procedures share
// the agent service's caches. Sessions come from next-auth's JWT cookie.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { getToken } from "next-auth/jwt";
import type { Clock } from "../clock";
import type { Database } from "../db/client";
import type { Context } from "../trpc/init";
import { appRouter } from "../trpc/router";
import { getSessionUser } from "../users/users";

export const TRPC_PREFIX = "/api/trpc";
/** Mutations must carry this header: a cross-site form cannot set it (CSRF). */
export const CSRF_HEADER = "x-orchard-csrf";

export function createTrpcHandler(options: { db: Database; clock: Clock; secret: string; secureCookie: boolean }) {
  const handler = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PREFIX}/`,
    maxBodySize: 1024 * 1024,
    async createContext({ req }): Promise<Context> {
      const token = await getToken({
        req: { cookies: parseCookies(req.headers.cookie), headers: req.headers } as unknown as Parameters<
          typeof getToken
        >[0]["req"],
        secret: options.secret,
        secureCookie: options.secureCookie,
      });
      const user = token?.sub ? await getSessionUser(options.db.prisma, token.sub) : null;
      return { db: options.db, clock: options.clock, user };
    },
  });
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "GET" && req.headers[CSRF_HEADER] !== "1") {
      req.resume();
      res.writeHead(403, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `missing ${CSRF_HEADER} header` } }));
      return;
    }
    handler(req, res);
  };
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
