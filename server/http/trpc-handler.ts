// tRPC over node:http in the console's own process, so that procedures share
// the agent service's caches. Sessions come from next-auth's JWT cookie.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import type { Clock } from "../clock";
import { MAX_BATCH_SIZE } from "../trpc/batch";
import type { Context } from "../trpc/init";
import { appRouter } from "../trpc/router";
import type { SecretBox } from "../secret-box";
import type { SignInPolicy } from "../users/users";
import type { WebhookPolicy } from "../webhooks/webhooks";
import { type SessionOptions, sessionUser } from "./session";

export const TRPC_PREFIX = "/api/trpc";
/** Mutations must carry this header: a cross-site form cannot set it (CSRF). */
export const CSRF_HEADER = "x-orchard-csrf";

export function createTrpcHandler(
  options: SessionOptions & { clock: Clock; webhookPolicy: WebhookPolicy; secretBox: SecretBox; signIn: SignInPolicy; ssoRings?: readonly string[]; sourcesDir?: string; artifactsDir?: string },
) {
  const handler = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PREFIX}/`,
    maxBodySize: 1024 * 1024,
    // One request runs its calls at once: a batch of hundreds would take
    // every console connection for seconds.
    maxBatchSize: MAX_BATCH_SIZE,
    async createContext({ req }): Promise<Context> {
      return {
        db: options.db,
        clock: options.clock,
        principal: await sessionUser(req, options),
        webhookPolicy: options.webhookPolicy,
        secretBox: options.secretBox,
        signIn: options.signIn,
        ssoRings: options.ssoRings,
        sourcesDir: options.sourcesDir,
        artifactsDir: options.artifactsDir,
      };
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
