// Behind a load balancer (a real HAProxy, `option forwardfor`): every request
// reaches the console from the balancer's address, and only when that
// address is a trusted proxy (ORCHARD_TRUSTED_PROXIES) do the per-address
// limits count the client X-Forwarded-For names, the hop the balancer
// appended, not what the client wrote itself. And /readyz, which a balancer
// asks: ready only while the database answers with every migration applied.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminUrl } from "../helpers/databases";
import { freePort } from "../helpers/console-process";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { waitFor } from "../helpers/fleet";

interface Balancer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** HAProxy in front of `backendPort`, adding X-Forwarded-For. */
async function startHaproxy(backendPort: number): Promise<Balancer> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "orch-haproxy-"));
  const config = path.join(dir, "haproxy.cfg");
  fs.writeFileSync(
    config,
    [
      "global",
      "  maxconn 200",
      "defaults",
      "  mode http",
      "  timeout connect 5s",
      "  timeout client 30s",
      "  timeout server 30s",
      "frontend agents",
      `  bind 127.0.0.1:${port}`,
      "  option forwardfor",
      "  default_backend consoles",
      "backend consoles",
      `  server console 127.0.0.1:${backendPort}`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("haproxy", ["-db", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await waitFor(`haproxy on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    return send(`http://127.0.0.1:${port}`, "127.0.0.1", "GET", "/healthz").then((r) => r.status === 200, () => false);
  }, 20_000, 100);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        fs.rmSync(dir, { recursive: true, force: true });
      }),
  };
}

/** One request from the local address `from` (127.0.0.x: each its own client as the balancer sees it). */
function send(base: string, from: string, method: string, route: string, headers: Record<string, string> = {}, body?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const url = new URL(route, base);
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method, localAddress: from, headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}), connection: "close" } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const LIMIT = 3;
const limits = {
  ORCHARD_AGENT_RATE_PER_ADDRESS: String(LIMIT),
  ORCHARD_SIGNIN_RATE_PER_ADDRESS: String(LIMIT),
};
const checkin = (base: string, from: string, headers: Record<string, string> = {}) =>
  send(base, from, "POST", "/api/agent/v1/checkin", { authorization: "Bearer orch_m_unknown", ...headers }, "{}");
const signIn = (base: string, from: string) => send(base, from, "POST", "/api/auth/callback/credentials", {}, "{}");

describe("behind a load balancer", () => {
  let trusting: TestConsole;
  let plain: TestConsole;
  let toTrusting: Balancer;
  let toPlain: Balancer;

  beforeAll(async () => {
    trusting = await startTestConsole({ ...limits, ORCHARD_TRUSTED_PROXIES: "127.0.0.1/32, ::1" });
    plain = await startTestConsole(limits);
    toTrusting = await startHaproxy(trusting.port);
    toPlain = await startHaproxy(plain.port);
  }, 60_000);

  afterAll(async () => {
    await toTrusting?.stop();
    await toPlain?.stop();
    await trusting?.stop();
    await plain?.stop();
  });

  it("counts each agent's own address when the balancer is a trusted proxy, whatever the agent writes in X-Forwarded-For", async () => {
    for (let i = 0; i < LIMIT; i++) expect((await checkin(toTrusting.url, "127.0.0.2")).status).toBe(401);
    expect((await checkin(toTrusting.url, "127.0.0.2")).status).toBe(429);
    // A forged hop in front is the client's own writing: still 127.0.0.2, still refused.
    expect((await checkin(toTrusting.url, "127.0.0.2", { "x-forwarded-for": "198.51.100.7" })).status).toBe(429);
    // Another agent behind the same balancer has its own budget.
    expect((await checkin(toTrusting.url, "127.0.0.3")).status).toBe(401);
    // Sign-in attempts too.
    for (let i = 0; i < LIMIT; i++) expect((await signIn(toTrusting.url, "127.0.0.4")).status).not.toBe(429);
    expect((await signIn(toTrusting.url, "127.0.0.4")).status).toBe(429);
    expect((await signIn(toTrusting.url, "127.0.0.5")).status).not.toBe(429);
  });

  it("counts the whole fleet as the balancer's one address when the balancer is not trusted, and ignores X-Forwarded-For", async () => {
    for (let i = 0; i < LIMIT; i++) expect((await checkin(toPlain.url, "127.0.0.2")).status).toBe(401);
    expect((await checkin(toPlain.url, "127.0.0.3")).status).toBe(429);
    // Straight to the console, a client cannot pick another address by writing the header.
    expect((await checkin(`http://127.0.0.1:${plain.port}`, "127.0.0.6", { "x-forwarded-for": "198.51.100.8" })).status).toBe(401);
    expect((await checkin(`http://127.0.0.1:${plain.port}`, "127.0.0.6", { "x-forwarded-for": "198.51.100.9" })).status).toBe(401);
    expect((await checkin(`http://127.0.0.1:${plain.port}`, "127.0.0.6", { "x-forwarded-for": "198.51.100.10" })).status).toBe(401);
    expect((await checkin(`http://127.0.0.1:${plain.port}`, "127.0.0.6", { "x-forwarded-for": "198.51.100.11" })).status).toBe(429);
  });

  it("the REST API's per-address limit counts the client behind a trusted balancer", async () => {
    const app = await startTestConsole({ ORCHARD_API_RATE_PER_ADDRESS: "1", ORCHARD_TRUSTED_PROXIES: "127.0.0.1" });
    const balancer = await startHaproxy(app.port);
    try {
      // 1 a second and a burst of 10 a minute: the 12th at once is refused.
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await send(balancer.url, "127.0.0.2", "GET", "/api/v1/me")).status);
      expect(statuses.slice(0, 11).every((s) => s === 401)).toBe(true);
      expect(statuses[11]).toBe(429);
      expect((await send(balancer.url, "127.0.0.3", "GET", "/api/v1/me")).status).toBe(401);
    } finally {
      await balancer.stop();
      await app.stop();
    }
  });
});

describe("rate limits with several console processes", () => {
  it("are a budget per process, as documented: each of two consoles on one database allows the limit", async () => {
    const first = await startTestConsole({ ORCHARD_AGENT_RATE_PER_ADDRESS: String(LIMIT) });
    const second = await startTestConsole({ ORCHARD_AGENT_RATE_PER_ADDRESS: String(LIMIT), DATABASE_URL: first.databaseUrl });
    try {
      for (let i = 0; i < LIMIT; i++) expect((await checkin(first.url, "127.0.0.2")).status).toBe(401);
      expect((await checkin(first.url, "127.0.0.2")).status).toBe(429);
      // The other process has not counted them: a balancer over N consoles allows N times the limit.
      for (let i = 0; i < LIMIT; i++) expect((await checkin(second.url, "127.0.0.2")).status).toBe(401);
      expect((await checkin(second.url, "127.0.0.2")).status).toBe(429);
    } finally {
      await second.stop();
      await first.stop();
    }
  });
});

describe("/readyz", () => {
  it("answers ready while every connection of the console pool is taken: a balancer's check does not wait behind background jobs", async () => {
    const app = await startTestConsole({ ORCHARD_DB_POOL: "2" });
    const held: pg.PoolClient[] = [];
    try {
      // Both console connections checked out, as a long snapshot and a controller step would hold them.
      for (let i = 0; i < 2; i++) held.push(await app.db.pool.connect());
      const answer = await fetch(`${app.url}/readyz`);
      expect(await answer.json()).toEqual({ status: "ready" });
      expect(answer.status).toBe(200);
    } finally {
      for (const client of held) client.release();
      await app.stop();
    }
  });

  it("is ready with every migration applied, not ready (503, why) with one missing or the database gone; /healthz stays alive", async () => {
    const app = await startTestConsole();
    try {
      const ready = await fetch(`${app.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: "ready" });

      // The newest migration is not applied (its row gone, as on a database an older version migrated).
      const client = new pg.Client({ connectionString: app.databaseUrl });
      await client.connect();
      const { rows } = await client.query("DELETE FROM _prisma_migrations WHERE migration_name = (SELECT max(migration_name) FROM _prisma_migrations) RETURNING *");
      const missing = await fetch(`${app.url}/readyz`);
      expect(missing.status).toBe(503);
      expect(await missing.json()).toEqual({ status: "not_ready", reason: "1 migration(s) not applied", pending: [rows[0].migration_name] });
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
      const columns = Object.keys(rows[0]);
      await client.query(`INSERT INTO _prisma_migrations (${columns.join(", ")}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`, columns.map((c) => rows[0][c]));
      await client.end();
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);

      // The database gone.
      const admin = new pg.Client({ connectionString: adminUrl() });
      await admin.connect();
      await admin.query(`DROP DATABASE "${new URL(app.databaseUrl).pathname.slice(1)}" WITH (FORCE)`);
      await admin.end();
      const gone = await fetch(`${app.url}/readyz`);
      expect(gone.status).toBe(503);
      expect(await gone.json()).toMatchObject({ status: "not_ready", reason: expect.stringMatching(/^the database is unreachable: /) });
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    } finally {
      await app.stop();
    }
  });
});
