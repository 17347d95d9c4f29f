// /metrics: Prometheus text for a scraper holding the metrics token, nothing
// for anyone else, and no such path when no token is configured.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, checkinBody, enrollBody } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";

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

  it("has no /metrics without a configured token", async () => {
    const plain = await startTestConsole();
    try {
      expect((await scrape(plain.url, METRICS_TOKEN)).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });
});
