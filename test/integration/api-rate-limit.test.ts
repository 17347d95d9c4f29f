// The REST API's rate limits, on a console configured low
// (ORCHARD_API_RATE_LIMIT=2 per token per second, ORCHARD_API_RATE_PER_ADDRESS=2
// for requests without a valid token, each with a burst of ten seconds'
// worth per minute): beyond them a 429 with problem details and Retry-After,
// other tokens unaffected, and the token served again once it waited; the
// remote command line waits as told; /metrics counts the refusals.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { remoteBackend } from "../../server/cli/backend";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { parseScrape, valueOf } from "../helpers/prometheus";

const RATE = 2;
const METRICS_TOKEN = "m".repeat(24);
const BURST = RATE * 10;
let app: TestConsole;
const tokens = { a: "", b: "", cli: "" };

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_API_RATE_LIMIT: String(RATE), ORCHARD_API_RATE_PER_ADDRESS: String(RATE), ORCHARD_METRICS_TOKEN: METRICS_TOKEN });
  for (const name of Object.keys(tokens) as (keyof typeof tokens)[]) {
    tokens[name] = (await createApiToken(app.db.prisma, cliActor, { name, role: "viewer" })).token;
  }
});

afterAll(async () => {
  await app?.stop();
});

const me = (token?: string) => fetch(`${app.url}/api/v1/me`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

/** Sends until the console refuses with 429: that answer, and how many were served before it. */
async function untilRefused(send: () => Promise<Response>, served: number) {
  for (let sent = 0; sent < 500; sent++) {
    const res = await send();
    if (res.status === 429) return { res, before: sent };
    expect(res.status).toBe(served);
    await res.arrayBuffer();
  }
  throw new Error("500 requests and never refused");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the REST API's rate limit", () => {
  it("refuses a token over its rate and burst with 429 problem details and Retry-After, leaves other tokens alone, and serves it again after the wait", async () => {
    const { res, before } = await untilRefused(() => me(tokens.a), 200);
    // At least the rate and the whole burst were served first.
    expect(before).toBeGreaterThanOrEqual(RATE + BURST);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const wait = Number(res.headers.get("retry-after"));
    expect(wait).toBe(1); // the next second's share of the rate
    expect(await res.json()).toMatchObject({ type: "about:blank", title: "Too Many Requests", status: 429, code: "RATE_LIMITED", detail: "too many requests for this API token; retry in 1 s" });
    // Another token is served meanwhile.
    expect((await me(tokens.b)).status).toBe(200);

    await sleep(wait * 1000);
    const again = await me(tokens.a);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ kind: "token", name: "a" });
  });

  it("limits requests without a valid token per address, but not a valid token from that address", async () => {
    const { res, before } = await untilRefused(() => me(), 401);
    expect(before).toBeGreaterThanOrEqual(RATE + BURST);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toMatchObject({ status: 429, code: "RATE_LIMITED", detail: "too many requests from this address without an API token; retry in 1 s" });
    // An unknown token and the document draw on the same budget: refused at once, or (if a new second began) after its share.
    expect((await untilRefused(() => me("orch_a_not-a-token"), 401)).before).toBeLessThanOrEqual(2 * RATE);
    expect((await untilRefused(() => fetch(`${app.url}/api/v1/openapi.json`), 200)).before).toBeLessThanOrEqual(2 * RATE);
    // A valid token from the same address has its own.
    expect((await me(tokens.b)).status).toBe(200);
  });

  it("the remote command line waits as Retry-After says and then gets its answer", async () => {
    await untilRefused(() => me(tokens.cli), 200);
    // Refused at first (the token's second is spent), served after the wait.
    const answer = await remoteBackend(app.url, tokens.cli).call("users.me", undefined);
    expect(answer).toMatchObject({ kind: "token", name: "cli" });
  });

  it("counts its refusals in /metrics: as 429 answers of their route, and by the limit that refused", async () => {
    const scrape = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const m = parseScrape(await scrape.text());
    // Each earlier test was refused at least once by the token's limit (a, cli) or the address's.
    expect(valueOf(m, "orchard_api_rate_limited_total", { limit: "token" })).toBeGreaterThanOrEqual(2);
    expect(valueOf(m, "orchard_api_rate_limited_total", { limit: "address" })).toBeGreaterThanOrEqual(3);
    expect(valueOf(m, "orchard_api_requests_total", { method: "GET", route: "/api/v1/me", status: "429" })).toBeGreaterThanOrEqual(4);
    expect(valueOf(m, "orchard_api_requests_total", { method: "GET", route: "/api/v1/openapi.json", status: "429" })).toBeGreaterThanOrEqual(1);
    expect(valueOf(m, "orchard_api_requests_total", { method: "GET", route: "/api/v1/me", status: "200" })).toBeGreaterThanOrEqual(2 * (RATE + 10 * RATE));
  });
});
