// Prometheus metrics at /metrics: the agent protocol's requests by route and
// status with their latency, and the process (memory, CPU, event-loop lag,
// GC). Served only when ORCHARD_METRICS_TOKEN is set, to a scraper that sends
// it as a bearer token; without it /metrics does not exist.
import type { IncomingMessage, ServerResponse } from "node:http";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import { bearerToken, hashToken, hashesEqual } from "../auth/tokens";

export interface ConsoleMetrics {
  /** Counts one answered agent request. */
  agentRequest(route: string, status: number, seconds: number): void;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** The protocol's routes, so that an unknown path cannot add a label value. */
const ROUTES = new Set(["POST /enroll", "POST /checkin", "POST /events", "POST /reboot-lock", "DELETE /reboot-lock"]);

export function createMetrics(scrapeToken: string | undefined): ConsoleMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "orchard_agent_requests_total",
    help: "Agent protocol requests answered, by route and HTTP status.",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "orchard_agent_request_duration_seconds",
    help: "Time to answer an agent protocol request.",
    labelNames: ["route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const tokenHash = scrapeToken ? hashToken(scrapeToken) : null;

  return {
    agentRequest(route, status, seconds) {
      const known = ROUTES.has(route) ? route : "other";
      requests.inc({ route: known, status: String(status) });
      duration.observe({ route: known }, seconds);
    },
    async handle(req, res) {
      req.resume();
      if (!tokenHash) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
        return;
      }
      const given = bearerToken(req.headers.authorization);
      if (!given || !hashesEqual(hashToken(given), tokenHash)) {
        res.writeHead(401, { "content-type": "text/plain", "www-authenticate": "Bearer" }).end("a valid metrics token is required\n");
        return;
      }
      res.writeHead(200, { "content-type": registry.contentType }).end(await registry.metrics());
    },
  };
}
