// A real console stopped under a running agent in the middle of an update,
// and started again on the same database and port: the agent finishes the
// update alone as far as it can, and once the console is back every event
// it made is stored once, in the order it made them, each sent with a
// check-in (protocol 1.3).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { FACTORY, release, startTestAgent, type TestAgent } from "../../agent/src/testing/test-agent";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { waitFor } from "../helpers/fleet";

const NEXT = release("2026.11.1");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "orch-outage-"));
let app: TestConsole | null = null;
let agent: TestAgent | null = null;

/** Stops one part, saying so when it takes long (a teardown once hung under load without saying which part). */
async function stopping(what: string, stop: (() => Promise<unknown>) | undefined) {
  const started = Date.now();
  const slow = setInterval(() => console.warn(`agent-outage teardown: ${what} still stopping after ${Math.round((Date.now() - started) / 1000)} s`), 20_000);
  try {
    await stop?.();
  } finally {
    clearInterval(slow);
  }
}

afterAll(async () => {
  await stopping("the agent", agent ? () => agent!.stop() : undefined);
  await stopping("the console", app ? () => app!.stop() : undefined);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const METRICS_TOKEN = "m".repeat(24);

function consoleOn(env: Record<string, string> = {}) {
  return startTestConsole({ ORCHARD_DATA_DIR: dataDir, ORCHARD_BUSY_INTERVAL: "1", ORCHARD_METRICS_TOKEN: METRICS_TOKEN, ...env });
}

/** The machine's stored events, in the order the console received them. */
async function eventsOf(running: TestConsole) {
  const rows = await running.db.prisma.agentEvent.findMany({
    where: { machine: { machineId: "outage-1" } },
    orderBy: [{ receivedAt: "asc" }, { at: "asc" }],
  });
  return rows.map((e) => ({ id: e.eventId, type: e.type, at: e.at.getTime() }));
}

it("stores every event of an update made across a console outage once, in order", async () => {
  app = await consoleOn();
  const { databaseUrl, port } = app;
  const db = app.db.prisma;
  await createRing(db, cliActor, { name: "canary", branch: FACTORY.ref });
  await addRelease(db, cliActor, { ...FACTORY, version: FACTORY.version! });
  await addRelease(db, cliActor, { ...NEXT, version: NEXT.version! });
  await setRingRelease(db, cliActor, { ring: "canary", version: NEXT.version! });
  const token = await enrollmentToken(app, { ring: "canary" });

  agent = await startTestAgent(app, { machineId: "outage-1", enrollmentToken: token, sim: { stageSeconds: 1 } });
  const first = app;
  await waitFor("the update to start", async () => (await eventsOf(first)).some((e) => e.type === "update_started"), 20_000, 50);

  await app.stop();
  app = null;
  await waitFor("staged while the console is down", async () => agent!.agent.state?.update.phase === "staged", 20_000, 50);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  expect(agent.agent.state!.queue.map((e) => e.type)).toEqual(expect.arrayContaining(["update.downloaded", "update.staged"]));

  app = await consoleOn({ DATABASE_URL: databaseUrl, PORT: String(port) });
  const machine = () => app!.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "outage-1" } });
  await waitFor("the update to succeed", async () => (await machine()).updateState === "succeeded", 60_000, 200);
  await waitFor("the queue to drain", async () => agent!.agent.state?.queue.length === 0, 20_000, 50);
  expect((await machine()).bootedChecksum).toBe(NEXT.checksum);

  const stored = await eventsOf(app);
  expect(stored.map((e) => e.type)).toEqual([
    "agent_started",
    "update_started",
    "update_downloaded",
    "update_staged",
    "reboot_started",
    "agent_started",
    "boot_verified",
  ]);
  expect(new Set(stored.map((e) => e.id)).size).toBe(stored.length);
  expect(stored.map((e) => e.at)).toEqual(stored.map((e) => e.at).sort((a, b) => a - b));
  // v1.3: every event went with a check-in, those queued in the outage with the first one after it: no POST /events.
  const metrics = await (await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  expect(metrics).toMatch(/orchard_agent_requests_total\{route="POST \/checkin",status="200"\} [1-9]/);
  expect(metrics).not.toContain('route="POST /events"');
}, 180_000);
