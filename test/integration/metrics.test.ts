// /metrics: Prometheus text for a scraper holding the metrics token, nothing
// for anyone else, and no such path when no token is configured; the fleet's
// figures (machines, rollouts under way, waves, dark and rolled-back
// machines) against what the console itself shows, read once per cache time;
// webhook deliveries by outcome and each subscription's queue, against a real
// receiver.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { fleetSummary } from "../../server/dashboard/dashboard";
import { NO_RING } from "../../server/dashboard/fleet-figures";
import { createRing } from "../../server/rings/rings";
import { abortRollout, approveRollout, getRollout, startRollout } from "../../server/rollouts/rollouts";
import { MACHINE_STEPS, ROLLOUT_STATES, WEBHOOK_ATTEMPT_OUTCOMES } from "../../server/vocabulary";
import { createWebhook, deleteWebhook, sendTestEvent, updateWebhook } from "../../server/webhooks/webhooks";
import { call, checkinBody, enrollBody, hex } from "../helpers/agent-http";
import { enrollmentToken, ringsOnRelease1, startTestConsole, type TestConsole } from "../helpers/console";
import { parseScrape, seriesOf, sumOf, valueOf } from "../helpers/prometheus";
import { REF, SimFleet } from "../helpers/sim-machines";
import { waitFor } from "../helpers/fleet";

const METRICS_TOKEN = "m".repeat(24);
let app: TestConsole;

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_METRICS_TOKEN: METRICS_TOKEN });
});
afterAll(async () => {
  await app?.stop();
});

const scrape = (url: string, token?: string) =>
  fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("metrics", () => {
  it("counts agent requests by route and status for the scraper with the token, and refuses anyone else", async () => {
    const enrolled = await call<{ token: string }>(app.url, "POST", "/enroll", { token: await enrollmentToken(app), body: enrollBody("metrics-1") });
    expect(enrolled.status).toBe(201);
    expect((await call(app.url, "POST", "/checkin", { token: enrolled.body.token, body: checkinBody(1) })).status).toBe(200);
    expect((await call(app.url, "POST", "/checkin", { token: "orch_m_forged", body: checkinBody(2) })).status).toBe(401);
    expect((await call(app.url, "GET", "/nowhere")).status).toBe(404);

    expect((await scrape(app.url)).status).toBe(401);
    expect((await scrape(app.url, "x".repeat(24))).status).toBe(401);
    const res = await scrape(app.url, METRICS_TOKEN);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/orchard_agent_requests_total\{route="POST \/enroll",status="201"\} 1/);
    expect(text).toMatch(/orchard_agent_requests_total\{route="POST \/checkin",status="200"\} 1/);
    expect(text).toMatch(/orchard_agent_requests_total\{route="POST \/checkin",status="401"\} 1/);
    // An unknown path does not make a label of its own.
    expect(text).toMatch(/orchard_agent_requests_total\{route="other",status="404"\} 1/);
    expect(text).toMatch(/orchard_agent_request_duration_seconds_count\{route="POST \/checkin"\} 2/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    expect(text).not.toContain(enrolled.body.token);
  });

  it("counts REST API requests by method, route template and status, with their latency, and never names a machine", async () => {
    const machineId = "api-metrics-7f3a";
    const enrolled = await call(app.url, "POST", "/enroll", { token: await enrollmentToken(app), body: enrollBody(machineId) });
    expect(enrolled.status).toBe(201);
    const token = (await createApiToken(app.db.prisma, cliActor, { name: "metrics-reader", role: "viewer" })).token;
    const get = (path: string, bearer: string | null = token) =>
      fetch(`${app.url}/api/v1${path}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    expect((await get(`/machines/${machineId}`)).status).toBe(200);
    expect((await get(`/machines/${machineId}/timeline`)).status).toBe(200);
    expect((await get("/machines/no-such-machine-9c2e")).status).toBe(404);
    expect((await get(`/machines/${machineId}`, null)).status).toBe(401);
    expect((await fetch(`${app.url}/api/v1/machines/${machineId}`, { method: "PUT", headers: { authorization: `Bearer ${token}` } })).status).toBe(405);
    expect((await get("/nowhere/at-all")).status).toBe(404);

    const text = await (await scrape(app.url, METRICS_TOKEN)).text();
    const m = parseScrape(text);
    const requests = (method: string, route: string, status: string) => valueOf(m, "orchard_api_requests_total", { method, route, status });
    expect(requests("GET", "/api/v1/machines/{machineId}", "200")).toBe(1);
    expect(requests("GET", "/api/v1/machines/{machineId}", "404")).toBe(1);
    expect(requests("GET", "/api/v1/machines/{machineId}", "401")).toBe(1);
    expect(requests("PUT", "/api/v1/machines/{machineId}", "405")).toBe(1);
    expect(requests("GET", "/api/v1/machines/{machineId}/timeline", "200")).toBe(1);
    // A path that is no route does not make a label of its own.
    expect(requests("GET", "other", "404")).toBe(1);
    expect(valueOf(m, "orchard_api_request_duration_seconds_count", { method: "GET", route: "/api/v1/machines/{machineId}" })).toBe(3);
    expect(valueOf(m, "orchard_api_rate_limited_total", { limit: "token" })).toBe(0);
    // Routes are templates: no machine's id, nor any path as it was asked.
    for (const concrete of [machineId, "no-such-machine-9c2e", "nowhere"]) expect(text).not.toContain(concrete);
    for (const series of seriesOf(m, "orchard_api_requests_total")) expect(series.labels.route).toMatch(/^(\/api\/v1(\/[a-z.-]+|\/\{\w+\})+|other)$/);
  });

  it("has no /metrics without a configured token", async () => {
    const plain = await startTestConsole();
    try {
      expect((await scrape(plain.url, METRICS_TOKEN)).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });
});

describe("fleet metrics", () => {
  let fleet: TestConsole;
  let sims: SimFleet;
  const read = async () => {
    const res = await scrape(fleet.url, METRICS_TOKEN);
    expect(res.status).toBe(200);
    return parseScrape(await res.text());
  };

  beforeAll(async () => {
    fleet = await startTestConsole({ ORCHARD_METRICS_TOKEN: METRICS_TOKEN, ORCHARD_METRICS_CACHE_MS: "0" }, { controller: false });
    sims = new SimFleet(fleet);
    // A machine enrolled while there was no ring: in none.
    const ringless = await call<{ token: string }>(fleet.url, "POST", "/enroll", { token: await enrollmentToken(fleet), body: enrollBody("ringless-1") });
    expect((await call(fleet.url, "POST", "/checkin", { token: ringless.body.token, body: checkinBody(1) })).status).toBe(200);
    await ringsOnRelease1(fleet, REF, ["canary", "beta"]);
    await createRing(fleet.db.prisma, cliActor, { name: "stable", branch: REF });
  });
  afterAll(async () => {
    await fleet?.stop();
  });

  it("counts machines by ring, health and update state, and follows a rollout through approval, a gate's pause, dark and rolled-back machines", async () => {
    const canary = await sims.enroll("canary", 3, hex("1"));
    const beta = await sims.enroll("beta", 4, hex("1"));
    canary[0].health = "unhealthy";
    await sims.checkin(canary[0]);

    let m = await read();
    expect(valueOf(m, "orchard_fleet_metrics_up")).toBe(1);
    expect(valueOf(m, "orchard_machines", { ring: "canary", health: "unhealthy", update_state: "idle" })).toBe(1);
    expect(valueOf(m, "orchard_machines", { ring: "canary", health: "healthy", update_state: "idle" })).toBe(2);
    expect(valueOf(m, "orchard_machines", { ring: "beta", health: "healthy", update_state: "idle" })).toBe(4);
    expect(sumOf(m, "orchard_machines", { ring: NO_RING })).toBe(1);
    expect(sumOf(m, "orchard_machines")).toBe(8);
    // Every ring has its per-ring figures, an empty one too; nobody is offline, stuck, dark or rolled back.
    for (const name of ["orchard_machines_offline", "orchard_machines_stuck", "orchard_machines_dark", "orchard_machines_rolled_back"]) {
      expect(seriesOf(m, name).map((s) => s.labels.ring).sort(), name).toEqual([NO_RING, "beta", "canary", "stable"].sort());
      expect(sumOf(m, name), name).toBe(0);
    }
    for (const state of ROLLOUT_STATES) expect(valueOf(m, "orchard_rollouts", { state }), state).toBe(0);
    expect(seriesOf(m, "orchard_rollout_state")).toEqual([]);

    canary[0].health = "healthy";
    await sims.checkin(canary[0]);
    const db = fleet.db.prisma;
    const rollout = await startRollout(db, cliActor, {
      version: "2", rings: ["canary", "beta"], waves: [100], singleFirst: false, soakSeconds: 0, minSample: 1, maxFailureRate: 0.2, darkAfterSeconds: 600, approveBetween: true,
    });
    await fleet.controller.stepRollout(rollout.id);
    m = await read();
    expect(valueOf(m, "orchard_rollouts", { state: "running" })).toBe(1);
    expect(valueOf(m, "orchard_rollout_state", { rollout: rollout.id })).toBe(1);
    expect(seriesOf(m, "orchard_rollout_state")[0].labels).toEqual({ rollout: rollout.id, release: "2", state: "running" });
    expect(valueOf(m, "orchard_rollout_ring_wave", { rollout: rollout.id, ring: "canary", phase: "active" })).toBe(1);
    expect(valueOf(m, "orchard_rollout_ring_wave", { rollout: rollout.id, ring: "beta", phase: "pending" })).toBe(0);
    expect(valueOf(m, "orchard_rollout_ring_waves", { rollout: rollout.id, ring: "canary" })).toBe(1);
    expect(valueOf(m, "orchard_rollout_machines", { rollout: rollout.id, ring: "canary", step: "assigned" })).toBe(3);
    expect(valueOf(m, "orchard_rollout_machines", { rollout: rollout.id, ring: "beta", step: "not_reached" })).toBe(4);

    // Canary updates; beta waits for an operator.
    await sims.round(canary);
    fleet.clock.advance(1000);
    await fleet.controller.stepRollout(rollout.id);
    await fleet.controller.stepRollout(rollout.id);
    expect((await getRollout(db, rollout.id)).state).toBe("awaiting_approval");
    m = await read();
    expect(valueOf(m, "orchard_rollouts", { state: "awaiting_approval" })).toBe(1);
    expect(valueOf(m, "orchard_rollouts", { state: "running" })).toBe(0);
    expect(seriesOf(m, "orchard_rollout_state")[0].labels.state).toBe("awaiting_approval");
    expect(valueOf(m, "orchard_rollout_machines", { rollout: rollout.id, ring: "canary", step: "succeeded" })).toBe(3);
    expect(valueOf(m, "orchard_rollout_ring_wave", { rollout: rollout.id, ring: "beta", phase: "awaiting_approval" })).toBe(0);

    // Approved: in beta one machine rolls back and one goes dark; the gate pauses the rollout.
    await approveRollout(db, cliActor, { rolloutId: rollout.id }, fleet.clock);
    await fleet.controller.stepRollout(rollout.id);
    await sims.round([...beta], (s) => (s === beta[0] ? "roll-back" : s === beta[1] ? "go-dark" : "succeed"));
    fleet.clock.advance(601_000);
    for (let i = 0; i < 3; i++) await fleet.controller.stepRollout(rollout.id);
    const detail = await getRollout(db, rollout.id);
    expect(detail.state).toBe("paused");
    m = await read();
    expect(valueOf(m, "orchard_rollouts", { state: "paused" })).toBe(1);
    expect(seriesOf(m, "orchard_rollout_state")[0].labels).toEqual({ rollout: rollout.id, release: "2", state: "paused", paused_by: detail.pausedBy });
    expect(detail.pausedBy).toBe("gate");
    for (const ring of detail.rings) {
      for (const step of MACHINE_STEPS) {
        expect(valueOf(m, "orchard_rollout_machines", { rollout: rollout.id, ring: ring.ring.name, step }), `${ring.ring.name} ${step}`).toBe(ring.steps[step]);
      }
    }
    expect(valueOf(m, "orchard_rollout_machines", { rollout: rollout.id, ring: "beta", step: "rolled_back" })).toBe(1);
    expect(valueOf(m, "orchard_rollout_machines", { rollout: rollout.id, ring: "beta", step: "dark" })).toBe(1);
    expect(valueOf(m, "orchard_machines_dark", { ring: "beta" })).toBe(1);
    expect(valueOf(m, "orchard_machines_rolled_back", { ring: "beta" })).toBe(1);
    expect(valueOf(m, "orchard_machines", { ring: "beta", health: "healthy", update_state: "rolled_back" })).toBe(1);
    // Two hours without a check-in: every machine offline, as the dashboard counts them.
    fleet.clock.advance(2 * 3600_000);
    m = await read();
    expect(sumOf(m, "orchard_machines_offline")).toBe(8);
    const summary = await fleetSummary(db, fleet.clock);
    for (const ring of summary.versionsByRing) {
      expect(valueOf(m, "orchard_machines_offline", { ring: ring.ring ?? NO_RING }), ring.ring ?? NO_RING).toBe(ring.total - ring.online);
    }

    // Aborted: it leaves the rollouts under way, and dark counts only those.
    await abortRollout(db, cliActor, { rolloutId: rollout.id, reason: "enough" }, fleet.clock);
    m = await read();
    expect(valueOf(m, "orchard_rollouts", { state: "aborted" })).toBe(1);
    expect(seriesOf(m, "orchard_rollout_state")).toEqual([]);
    expect(seriesOf(m, "orchard_rollout_machines")).toEqual([]);
    expect(sumOf(m, "orchard_machines_dark")).toBe(0);
    // No label anywhere names a machine.
    const text = await (await scrape(fleet.url, METRICS_TOKEN)).text();
    for (const s of [...canary, ...beta]) expect(text).not.toContain(s.machineId);
    expect(text).not.toContain("ringless-1");
  });

  it("says when the fleet's figures cannot be read, and still serves the rest", async () => {
    // A read that PostgreSQL refuses: the table it counts rollouts in is gone for a moment.
    const lastRead = valueOf(await read(), "orchard_fleet_metrics_timestamp_seconds");
    fleet.clock.advance(60_000);
    await fleet.db.pool.query("ALTER TABLE rollouts RENAME TO rollouts_away");
    try {
      const m = await read();
      expect(valueOf(m, "orchard_fleet_metrics_up")).toBe(0);
      for (const name of ["orchard_machines", "orchard_rollouts", "orchard_machines_offline", "orchard_rollout_state"]) {
        expect(seriesOf(m, name), name).toEqual([]);
      }
      // When they were last read: before the failure.
      expect(valueOf(m, "orchard_fleet_metrics_timestamp_seconds")).toBe(lastRead);
      expect(sumOf(m, "orchard_agent_requests_total")).toBeGreaterThan(0);
    } finally {
      await fleet.db.pool.query("ALTER TABLE rollouts_away RENAME TO rollouts");
    }
    const m = await read();
    expect(valueOf(m, "orchard_fleet_metrics_up")).toBe(1);
    expect(valueOf(m, "orchard_fleet_metrics_timestamp_seconds")).toBeGreaterThanOrEqual(lastRead! + 60);
    expect(sumOf(m, "orchard_machines")).toBe(8);
  });
});

describe("the fleet's figures are read once per ORCHARD_METRICS_CACHE_MS", () => {
  it("answers scrapes within that time from one read, and reads again after it", async () => {
    const cached = await startTestConsole({ ORCHARD_METRICS_TOKEN: METRICS_TOKEN, ORCHARD_METRICS_CACHE_MS: "1500" });
    try {
      const read = async () => parseScrape(await (await scrape(cached.url, METRICS_TOKEN)).text());
      const first = await read();
      const token = await enrollmentToken(cached);
      expect((await call(cached.url, "POST", "/enroll", { token, body: enrollBody("cached-1") })).status).toBe(201);
      cached.clock.advance(1000);
      const [second, third] = await Promise.all([read(), read()]);
      for (const m of [second, third]) {
        expect(valueOf(m, "orchard_fleet_metrics_timestamp_seconds")).toBe(valueOf(first, "orchard_fleet_metrics_timestamp_seconds"));
        expect(sumOf(m, "orchard_machines")).toBe(0);
      }
      await new Promise((resolve) => setTimeout(resolve, 1600));
      const later = await read();
      expect(valueOf(later, "orchard_fleet_metrics_timestamp_seconds")).toBeGreaterThan(valueOf(first, "orchard_fleet_metrics_timestamp_seconds")!);
      expect(sumOf(later, "orchard_machines")).toBe(1);
    } finally {
      await cached.stop();
    }
  });
});

describe("webhook metrics", () => {
  it("count attempts by subscription and outcome, and show each queue's depth and the age of its oldest delivery, by id and never by URL", async () => {
    let status = 503;
    const receiver = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(status).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/metrics-hook`;
    const hooks = await startTestConsole({
      ORCHARD_METRICS_TOKEN: METRICS_TOKEN,
      ORCHARD_METRICS_CACHE_MS: "0",
      ORCHARD_WEBHOOKS_ALLOW_PRIVATE: "1",
      ORCHARD_WEBHOOK_POLL_MS: "100",
    });
    try {
      const db = hooks.db.prisma;
      const policy = { allowPrivate: true };
      const read = async () => {
        const res = await scrape(hooks.url, METRICS_TOKEN);
        expect(res.status).toBe(200);
        const text = await res.text();
        expect(text).not.toContain(url);
        return parseScrape(text);
      };
      const attempts = async () => db.webhookAttempt.count();
      const a = (await createWebhook(db, cliActor, { url, events: ["rollout.started"] }, policy, hooks.secretBox)).subscription.id;
      const b = (await createWebhook(db, cliActor, { url: `${url}/b`, events: ["rollout.started"] }, policy, hooks.secretBox)).subscription.id;
      await updateWebhook(db, cliActor, { id: b, enabled: false }, policy);

      // Every subscription from zero, the disabled one marked.
      let m = await read();
      for (const subscription of [a, b]) {
        for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) expect(valueOf(m, "orchard_webhook_deliveries_total", { subscription, outcome }), outcome).toBe(0);
        expect(valueOf(m, "orchard_webhook_queue_pending", { subscription })).toBe(0);
        expect(valueOf(m, "orchard_webhook_queue_oldest_age_seconds", { subscription })).toBe(0);
      }
      expect(valueOf(m, "orchard_webhook_subscription_enabled", { subscription: a })).toBe(1);
      expect(valueOf(m, "orchard_webhook_subscription_enabled", { subscription: b })).toBe(0);

      // The receiver fails: retried, and the message waits; an hour later it has waited an hour.
      await sendTestEvent(db, cliActor, { id: a });
      await waitFor("a failed attempt", async () => (await attempts()) === 1, 20_000, 50);
      m = await read();
      expect(valueOf(m, "orchard_webhook_deliveries_total", { subscription: a, outcome: "retried" })).toBe(1);
      expect(valueOf(m, "orchard_webhook_queue_pending", { subscription: a })).toBe(1);
      const age = valueOf(m, "orchard_webhook_queue_oldest_age_seconds", { subscription: a })!;
      expect(age).toBeGreaterThan(0);
      expect(age).toBeLessThan(60);
      hooks.clock.advance(3600_000);
      m = await read();
      expect(valueOf(m, "orchard_webhook_queue_oldest_age_seconds", { subscription: a })).toBeGreaterThanOrEqual(3600);

      // Failing 24 hours after its first attempt: given up.
      await db.webhookDelivery.updateMany({
        where: { subscriptionId: a },
        data: { firstAttemptAt: new Date(Date.now() - 25 * 3600_000), nextAttemptAt: new Date(Date.now() - 1000) },
      });
      await waitFor("the delivery given up", async () => (await db.webhookDelivery.count({ where: { subscriptionId: a, state: "failed" } })) === 1, 20_000, 50);
      // (Each attempt before the last was retried: one, or more if the 5 s retry came first on a slow machine.)
      const retried = (await db.webhookAttempt.count({ where: { delivery: { subscriptionId: a, state: "failed" } } })) - 1;
      expect(retried).toBeGreaterThanOrEqual(1);
      m = await read();
      expect(valueOf(m, "orchard_webhook_deliveries_total", { subscription: a, outcome: "failed" })).toBe(1);
      expect(valueOf(m, "orchard_webhook_deliveries_total", { subscription: a, outcome: "retried" })).toBe(retried);
      expect(valueOf(m, "orchard_webhook_queue_pending", { subscription: a })).toBe(0);
      expect(valueOf(m, "orchard_webhook_queue_oldest_age_seconds", { subscription: a })).toBe(0);

      // The receiver answers: delivered.
      status = 204;
      await sendTestEvent(db, cliActor, { id: a });
      await waitFor("a delivery", async () => (await db.webhookDelivery.count({ where: { subscriptionId: a, state: "delivered" } })) === 1, 20_000, 50);
      m = await read();
      expect(Object.fromEntries(WEBHOOK_ATTEMPT_OUTCOMES.map((outcome) => [outcome, valueOf(m, "orchard_webhook_deliveries_total", { subscription: a, outcome })]))).toEqual({
        delivered: 1,
        retried,
        failed: 1,
      });

      // A removed subscription leaves the scrape.
      await deleteWebhook(db, cliActor, { id: a });
      m = await read();
      for (const name of ["orchard_webhook_deliveries_total", "orchard_webhook_queue_pending", "orchard_webhook_queue_oldest_age_seconds", "orchard_webhook_subscription_enabled"]) {
        expect(seriesOf(m, name, { subscription: a }), name).toEqual([]);
        expect(seriesOf(m, name, { subscription: b }).length, name).toBeGreaterThan(0);
      }
    } finally {
      await hooks.stop();
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
