// PostgreSQL stopped under load and started again: the console keeps
// answering (503 with a clear error, no crash), agents back off and queue
// their events, and afterwards every event the agents queued is stored
// exactly once. Runs on a PostgreSQL server of its own.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { migrate } from "../../server/db/migrate";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, startRollout } from "../../server/rollouts/rollouts";
import { call, checkinBody } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { FACTORY, startFleet, waitFor } from "../helpers/fleet";
import { type RecordingProxy, startRecordingProxy } from "../helpers/recording-proxy";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../helpers/throwaway-postgres";

const OUTAGE_SECONDS = Number(process.env.OUTAGE_SECONDS ?? 60);
const AGENTS = 40;
let server: ThrowawayPostgres;
let app: TestConsole;
let proxy: RecordingProxy;
let fleet: ReturnType<typeof startFleet>;
/** The console's log lines of agent requests answered 500, to say why if there are any. */
const failures: string[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function queuedEvents() {
  let queued = 0;
  for (const dir of fs.readdirSync(fleet.stateDir)) {
    const file = path.join(fleet.stateDir, dir, "state.json");
    if (fs.existsSync(file)) queued += (JSON.parse(fs.readFileSync(file, "utf8")) as { queue: unknown[] }).queue.length;
  }
  return queued;
}

beforeAll(async () => {
  server = await startThrowawayPostgres(await freePort());
  const admin = new pg.Client({ connectionString: server.url("postgres") });
  await admin.connect();
  await admin.query("CREATE DATABASE orchard");
  await admin.end();
  const pool = new pg.Pool({ connectionString: server.url("orchard"), max: 1 });
  await migrate(pool, server.url("orchard"));
  await pool.end();
  app = await startTestConsole(
    { DATABASE_URL: server.url("orchard"), ORCHARD_BUSY_INTERVAL: "1", ORCHARD_CONTROLLER_INTERVAL_MS: "500", ORCHARD_LASTSEEN_FLUSH_MS: "1000" },
    {
      controller: true,
      log: pino({ level: "error" }, { write: (line: string) => void (line.includes("agent request failed") && failures.push(line)) }),
    },
  );
  await addRelease(app.db.prisma, cliActor, FACTORY);
  await addRelease(app.db.prisma, cliActor, { ref: FACTORY.ref, checksum: "2".repeat(64), version: "2" });
  await createRing(app.db.prisma, cliActor, { name: "canary", branch: FACTORY.ref, rebootSlots: AGENTS, checkInIntervalSeconds: 5 });
  await setRingRelease(app.db.prisma, cliActor, { ring: "canary", version: "1" });
  proxy = await startRecordingProxy(app.url);
  fleet = startFleet({ server: proxy.url, token: await enrollmentToken(app, { ring: "canary" }), count: AGENTS, prefix: "outage" });
  await waitFor("agents reporting", async () => (await app.db.prisma.machine.count({ where: { bootedChecksum: FACTORY.checksum } })) === AGENTS, 60_000);
}, 180_000);

afterAll(async () => {
  await fleet?.stop();
  await proxy?.close();
  await app?.stop();
  await server?.destroy();
  if (fleet) fs.rmSync(fleet.stateDir, { recursive: true, force: true });
});

describe("PostgreSQL outage", () => {
  it(`keeps answering through ${OUTAGE_SECONDS} s without the database, then stores every queued event exactly once`, async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, { version: "2", rings: ["canary"], waves: [100], singleFirst: false, soakSeconds: 0 });
    // Let the update get under way, so agents have events to report while the database is gone.
    await waitFor("machines updating", async () => (await app.db.prisma.machine.count({ where: { updateState: { not: "idle" } } })) > AGENTS / 4, 60_000, 200);
    const token = await enrollmentToken(app);
    await server.stop();
    const during: number[] = [];
    const deadline = Date.now() + OUTAGE_SECONDS * 1000;
    while (Date.now() < deadline) {
      const health = await fetch(`${app.url}/healthz`);
      expect(health.status).toBe(200); // the process is alive
      const res = await call<{ error: { code: string; message: string } }>(app.url, "POST", "/enroll", {
        token,
        body: { machineId: "during-outage", hostname: "x", backend: "sim", agentVersion: "1" },
      });
      during.push(res.status);
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.body.error.message).toMatch(/database/);
      expect(res.headers.get("retry-after")).toBeTruthy();
      await new Promise((r) => setTimeout(r, 2000));
    }
    await server.start();

    await waitFor("the rollout to complete", async () => (await getRollout(app.db.prisma, rollout.id)).state === "completed", 240_000, 2000);
    await waitFor("every agent's event queue to drain", async () => queuedEvents() === 0, 120_000, 1000);
    const stored = await app.db.prisma.agentEvent.findMany({ select: { eventId: true } });
    const storedIds = new Set(stored.map((e) => e.eventId));
    expect(storedIds.size).toBe(stored.length); // (machine, id) is unique; ids are UUIDs
    const sent = [...proxy.events.keys()];
    expect(sent.length).toBeGreaterThan(AGENTS);
    // Every event an agent sent is stored, once; nothing is stored that no agent sent.
    expect(sent.filter((id) => !storedIds.has(id))).toEqual([]);
    expect(stored.length).toBe(sent.length);
    expect(proxy.statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect(failures.map((line) => JSON.parse(line) as unknown)).toEqual([]);
    expect(proxy.statuses.get(500) ?? 0).toBe(0);
    expect(during.every((s) => s === 503)).toBe(true);
    console.log(
      `database outage: ${OUTAGE_SECONDS} s without PostgreSQL; answers through the proxy ${JSON.stringify(Object.fromEntries(proxy.statuses))}; ` +
        `${sent.length} events sent, ${stored.length} stored, ${stored.length - storedIds.size} duplicates`,
    );
    // No connection of either pool is lost to the outage: every client the console holds is back and usable.
    await app.agents.flushLastSeen();
    expect(app.db.agent.pool).not.toBe(app.db.pool);
    for (const [name, pool] of [["console", app.db.pool], ["agent", app.db.agent.pool]] as const) {
      await waitFor(`the ${name} pool to settle`, async () => pool.idleCount === pool.totalCount, 10_000, 200);
    }
    // The console recovered.
    const checkin = await call(app.url, "POST", "/checkin", { token: "orch_m_unknown", body: checkinBody(1) });
    expect(checkin.status).toBe(401);
  }, OUTAGE_SECONDS * 1000 + 480_000);
});
