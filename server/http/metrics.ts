// Prometheus metrics at /metrics: the fleet (machines by ring, health and
// update state; offline, stuck, dark and rolled-back machines per ring;
// rollouts by state; every rollout under way with its rings' waves and
// machines per step), the agent protocol's requests by route and status with
// their latency, the REST API's by method, route template and status with
// theirs (and its rate limit's refusals), webhook deliveries (attempts by
// outcome; each subscription's queue and the age of its oldest delivery;
// labelled by the subscription's id, never its URL), and the process
// (memory, CPU, event-loop lag, GC). Served
// only when ORCHARD_METRICS_TOKEN is set, to a scraper that sends it as a
// bearer token; without it /metrics does not exist.
//
// The fleet's figures (and the webhook queues) are read from the database when a scrape asks for them
// and kept for ORCHARD_METRICS_CACHE_MS: scrapes within that time (several
// Prometheus servers, or one with a short interval) share one read.
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { bearerToken, hashToken, hashesEqual } from "../auth/tokens";
import type { Clock } from "../clock";
import { type FleetFigures, fleetFigures } from "../dashboard/fleet-figures";
import { livenessCounts } from "../dashboard/liveness";
import type { PrismaClient } from "../db/client";
import type { Logger } from "../logger";
import { MACHINE_STEPS, ROLLOUT_STATES, WEBHOOK_ATTEMPT_OUTCOMES, type WebhookAttemptOutcome } from "../vocabulary";
import { webhookQueues } from "../webhooks/webhooks";

export interface ConsoleMetrics {
  /** Counts one answered agent request. */
  agentRequest(route: string, status: number, seconds: number): void;
  /** Counts one answered REST API request; `route` is its template (`/api/v1/machines/{machineId}`), never a concrete path. */
  apiRequest(method: string, route: string, status: number, seconds: number): void;
  /** Counts a REST API request refused by a rate limit: an API token's, or an address's without a valid token. */
  apiRateLimited(limit: "token" | "address"): void;
  /** Counts one attempt at a webhook delivery by this process. */
  webhookAttempt(subscriptionId: string, outcome: WebhookAttemptOutcome): void;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export interface MetricsOptions {
  /** The scraper's bearer token; none: no /metrics. */
  token: string | undefined;
  db: PrismaClient;
  clock: Clock;
  log: Logger;
  /** How long a read of the fleet's figures answers scrapes, in milliseconds. */
  cacheMs: number;
}

/** The protocol's routes, so that an unknown path cannot add a label value. */
const ROUTES = new Set([
  "POST /enroll",
  "POST /checkin",
  "POST /events",
  "POST /reboot-lock",
  "DELETE /reboot-lock",
  // Zincati's (server/http/zincati-handler.ts): never the token in its URL.
  "zincati GET /v1/graph",
  "zincati POST /v1/pre-reboot",
  "zincati POST /v1/steady-state",
  // hawkBit DDI's (server/http/ddi-handler.ts): route names, never ids.
  "ddi GET base",
  "ddi GET deploymentBase",
  "ddi POST deploymentBase feedback",
  "ddi GET cancelAction",
  "ddi POST cancelAction feedback",
  "ddi GET installedBase",
  "ddi PUT configData",
  "ddi GET artifact",
  "ddi HEAD artifact",
]);

/** What a scrape reads from the database: the fleet, and each webhook subscription's queue. */
type Figures = FleetFigures & { webhooks: Awaited<ReturnType<typeof webhookQueues>> };

/** The REST API's methods, so that an odd one cannot add a label value (its routes are templates already). */
const API_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

interface FleetRead {
  figures: Figures | null;
  seconds: number;
}

/** The fleet's figures, read at most once per `cacheMs` however many scrapes ask (a failed read counts too). */
function cachedFleet(options: MetricsOptions): () => Promise<FleetRead> {
  let cached: { until: number; read: Promise<FleetRead> } | null = null;
  return () => {
    if (cached && performance.now() < cached.until) return cached.read;
    const started = performance.now();
    const entry = {
      until: Number.POSITIVE_INFINITY,
      read: Promise.all([fleetFigures(options.db, options.clock, livenessCounts(options.db, options.clock)), webhookQueues(options.db)])
        .then(([fleet, webhooks]): Figures => ({ ...fleet, webhooks }))
        .catch((error: unknown) => {
          options.log.warn({ err: error }, "the fleet's metrics could not be read");
          return null;
        })
        .then((figures) => {
          entry.until = performance.now() + options.cacheMs;
          return { figures, seconds: (performance.now() - started) / 1000 };
        }),
    };
    cached = entry;
    return entry.read;
  };
}

export function createMetrics(options: MetricsOptions): ConsoleMetrics {
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

  const apiRequests = new Counter({
    name: "orchard_api_requests_total",
    help: "REST API (/api/v1) requests answered, by method, route template and HTTP status.",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const apiDuration = new Histogram({
    name: "orchard_api_request_duration_seconds",
    help: "Time to answer a REST API request, by method and route template.",
    labelNames: ["method", "route"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const apiRateLimited = new Counter({
    name: "orchard_api_rate_limited_total",
    help: "REST API requests refused with 429 by a rate limit: an API token's (ORCHARD_API_RATE_LIMIT) or an address's without a valid token (ORCHARD_API_RATE_PER_ADDRESS).",
    labelNames: ["limit"] as const,
    registers: [registry],
  });
  for (const limit of ["token", "address"] as const) apiRateLimited.inc({ limit }, 0);

  const fleet = cachedFleet(options);
  /** A gauge set from the fleet's figures at each scrape; none of its series when they could not be read. */
  const fleetGauge = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (gauge: Gauge<L>, figures: Figures) => void,
  ) =>
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const read = await fleet();
        this.reset();
        if (read.figures) fill(this, read.figures);
      },
    });

  new Gauge({
    name: "orchard_fleet_metrics_up",
    help: "1 when the fleet's figures below were read from the database, 0 when the read failed (they are then absent).",
    registers: [registry],
    async collect() {
      this.set((await fleet()).figures ? 1 : 0);
    },
  });
  /** Of the last read that worked (a failed one leaves them as they were). */
  const lastRead = (name: string, help: string, value: (read: FleetRead & { figures: Figures }) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const read = await fleet();
        if (read.figures) this.set(value({ ...read, figures: read.figures }));
      },
    });
  lastRead("orchard_fleet_metrics_timestamp_seconds", "When the fleet's figures were last read (scrapes within ORCHARD_METRICS_CACHE_MS share one read).", (r) => r.figures.at.getTime() / 1000);
  lastRead("orchard_fleet_metrics_read_seconds", "Time the last read of the fleet's figures took.", (r) => r.seconds);
  fleetGauge("orchard_machines", "Machines (not retired) by ring, health and update state.", ["ring", "health", "update_state"], (g, f) => {
    for (const m of f.machines) g.set({ ring: m.ring, health: m.health, update_state: m.updateState }, m.n);
  });
  const perRing = (name: string, help: string, value: (ring: FleetFigures["rings"][number]) => number) =>
    fleetGauge(name, help, ["ring"], (g, f) => {
      for (const ring of f.rings) g.set({ ring: ring.ring }, value(ring));
    });
  perRing("orchard_machines_offline", "Machines that have not checked in for three of their ring's check-in intervals.", (r) => r.offline);
  perRing("orchard_machines_stuck", "Machines mid-update (downloading, staged, rebooting, verifying) for more than 30 minutes.", (r) => r.stuck);
  perRing("orchard_machines_dark", "Machines dark in a rollout under way: updated and not back healthy on the release in time.", (r) => r.dark);
  perRing("orchard_machines_rolled_back", "Machines reporting that they rolled back to their previous deployment.", (r) => r.rolledBack);
  fleetGauge("orchard_rollouts", "Rollouts by state (every state, zero included).", ["state"], (g, f) => {
    for (const state of ROLLOUT_STATES) g.set({ state }, f.rolloutsByState[state]);
  });
  fleetGauge(
    "orchard_rollout_state",
    "1 for each rollout under way (running, paused, awaiting_approval), with its release and who paused it.",
    ["rollout", "release", "state", "paused_by"],
    (g, f) => {
      for (const r of f.activeRollouts) {
        const pausedBy = r.state === "paused" && r.pausedBy ? { paused_by: r.pausedBy } : {};
        g.set({ rollout: r.id, release: r.version, state: r.state, ...pausedBy }, 1);
      }
    },
  );
  fleetGauge("orchard_rollout_ring_wave", "The newest open wave (from 1; 0 before the first opens) of each ring of a rollout under way, with the ring's phase.", ["rollout", "ring", "phase"], (g, f) => {
    for (const r of f.activeRollouts) for (const ring of r.rings) g.set({ rollout: r.id, ring: ring.name, phase: ring.phase }, ring.currentWave);
  });
  fleetGauge("orchard_rollout_ring_waves", "How many waves each ring of a rollout under way has.", ["rollout", "ring"], (g, f) => {
    for (const r of f.activeRollouts) for (const ring of r.rings) g.set({ rollout: r.id, ring: ring.name }, ring.waves);
  });
  fleetGauge(
    "orchard_rollout_machines",
    "Machines of each ring of a rollout under way by step (not_reached: eligible, in no wave yet).",
    ["rollout", "ring", "step"],
    (g, f) => {
      for (const r of f.activeRollouts) {
        for (const ring of r.rings) {
          for (const step of MACHINE_STEPS) g.set({ rollout: r.id, ring: ring.name, step }, ring.steps[step]);
          g.set({ rollout: r.id, ring: ring.name, step: "not_reached" }, ring.notReached);
        }
      }
    },
  );

  // Webhooks. Each process counts its own attempts (sum them over the
  // processes); the queues come from the database (take the max).
  fleetGauge("orchard_webhook_subscription_enabled", "1 for each enabled webhook subscription, 0 for a disabled one (its queue waits).", ["subscription"], (g, f) => {
    for (const q of f.webhooks) g.set({ subscription: q.id }, q.enabled ? 1 : 0);
  });
  fleetGauge("orchard_webhook_queue_pending", "Deliveries of each webhook subscription not yet delivered nor given up.", ["subscription"], (g, f) => {
    for (const q of f.webhooks) g.set({ subscription: q.id }, q.pending);
  });
  fleetGauge(
    "orchard_webhook_queue_oldest_age_seconds",
    "How long the oldest pending delivery of each webhook subscription has waited since it was queued (0: none pending).",
    ["subscription"],
    (g, f) => {
      const now = options.clock.now().getTime();
      for (const q of f.webhooks) g.set({ subscription: q.id }, q.oldest ? Math.max(0, (now - q.oldest.getTime()) / 1000) : 0);
    },
  );
  /** Subscriptions whose counters this process shows (every one known at the last read, from zero). */
  const counted = new Set<string>();
  const attempts = new Counter({
    name: "orchard_webhook_deliveries_total",
    help: "Attempts at webhook deliveries by this process, by subscription and outcome: delivered, retried (failed, tried again later), failed (given up after 24 hours of failures).",
    labelNames: ["subscription", "outcome"] as const,
    registers: [registry],
    async collect() {
      const { figures } = await fleet();
      if (!figures) return;
      const ids = new Set(figures.webhooks.map((q) => q.id));
      for (const id of counted) {
        if (ids.has(id)) continue;
        for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) this.remove({ subscription: id, outcome });
        counted.delete(id);
      }
      for (const id of ids) {
        if (counted.has(id)) continue;
        for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) this.inc({ subscription: id, outcome }, 0);
        counted.add(id);
      }
    },
  });

  const tokenHash = options.token ? hashToken(options.token) : null;
  return {
    agentRequest(route, status, seconds) {
      const known = ROUTES.has(route) ? route : "other";
      requests.inc({ route: known, status: String(status) });
      duration.observe({ route: known }, seconds);
    },
    webhookAttempt(subscriptionId, outcome) {
      attempts.inc({ subscription: subscriptionId, outcome });
    },
    apiRequest(method, route, status, seconds) {
      const known = API_METHODS.has(method) ? method : "other";
      apiRequests.inc({ method: known, route, status: String(status) });
      apiDuration.observe({ method: known, route }, seconds);
    },
    apiRateLimited(limit) {
      apiRateLimited.inc({ limit });
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
      try {
        const text = await registry.metrics();
        res.writeHead(200, { "content-type": registry.contentType }).end(text);
      } catch (error) {
        options.log.error({ err: error }, "metrics scrape failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics could not be collected\n");
      }
    },
  };
}
