// The console's link to its tRPC API: batching within the server's limit,
// superjson, and the header that every mutation must carry (CSRF). The
// pages' client uses it, and a test runs it against the real server.
import { httpBatchLink } from "@trpc/client";
import superjson from "superjson";
import { MAX_BATCH_SIZE } from "../server/trpc/batch";
import type { AppRouter } from "../server/trpc/router";

export function consoleLink(url = "/api/trpc", options: { headers?: Record<string, string>; fetch?: typeof fetch } = {}) {
  return httpBatchLink<AppRouter>({
    url,
    transformer: superjson,
    // The server refuses bigger batches; more calls at once go in several.
    maxItems: MAX_BATCH_SIZE,
    headers: { "x-orchard-csrf": "1", ...options.headers },
    fetch: options.fetch,
  });
}
