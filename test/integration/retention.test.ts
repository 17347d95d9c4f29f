// Bounded data (server/retention/retention.ts) with the console's clock moved
// forward: each kind of row is kept until its period is over and pruned
// after it, in bounded batches; a retired machine is purged with its rows
// after its own period; the audit log is never touched. And the background
// jobs (server/jobs/periodic-job.ts): a step that fails on a transaction
// timeout is retried and logged once, and no job takes an agent-pool
// connection.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { takeSnapshot } from "../../server/dashboard/snapshots";
import { PeriodicJob } from "../../server/jobs/periodic-job";
import { retireMachine } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { DEFAULT_RETENTION, prune } from "../../server/retention/retention";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { call, hex, ProtocolMachines } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";

const DAY_MS = 86_400_000;
const REF = "exampleos/x86_64/stable";

let app: TestConsole;
let machines: ProtocolMachines;
let T0: number;

/** Days since T0 on the console's clock. */
function moveTo(days: number) {
  app.clock.advance(T0 + days * DAY_MS - app.clock.now().getTime());
}

async function counts() {
  const p = app.db.prisma;
  const [events, changes, snapshots, rolloutMachines, machineRows, tokens, audit] = await Promise.all([
    p.agentEvent.count(),
    p.machineChange.count(),
    p.versionSnapshot.count(),
    p.rolloutMachine.count(),
    p.machine.count(),
    p.machineToken.count(),
    p.auditLog.count(),
  ]);
  return { events, changes, snapshots, rolloutMachines, machines: machineRows, tokens, audit };
}

async function sendEvents(machineId: string, prefix: string, n: number) {
  const events = Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, at: new Date().toISOString(), type: "update.started" }));
  const res = await call(app.url, "POST", "/events", { token: machines.tokens.get(machineId), body: { events } });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  app = await startTestConsole({}, { prune: false });
  T0 = app.clock.now().getTime();
  const p = app.db.prisma;
  await createRing(p, cliActor, { name: "canary", branch: REF });
  await addRelease(p, cliActor, { ref: REF, checksum: hex("b"), version: "1" });
  await setRingRelease(p, cliActor, { ring: "canary", version: "1" });
  const token = await enrollmentToken(app, { ring: "canary" });
  machines = new ProtocolMachines(app.url);
  for (const id of ["keep-1", "keep-2", "gone-1"]) {
    expect((await machines.enroll(id, token)).status).toBe(201);
    expect((await machines.report(id)).status).toBe(200);
    expect((await machines.report(id, { health: "unhealthy" })).status).toBe(200);
  }
  // Seven events from keep-1 and three from the machine that will be retired, all at T0.
  await sendEvents("keep-1", "old", 7);
  await sendEvents("gone-1", "old", 3);
  expect(await takeSnapshot(p, app.clock.now(), 0)).toBe(true);

  // A completed rollout (every machine done) and an aborted one whose machine has not yet stopped, both finished at T0.
  const release = await p.release.findFirstOrThrow({ select: { id: true } });
  const ring = await p.ring.findFirstOrThrow({ select: { id: true } });
  const rows = await p.machine.findMany({ select: { id: true, machineId: true }, orderBy: { machineId: "asc" } });
  const at = app.clock.now();
  const row = (machineId: string, step: "succeeded" | "downloading") => ({ machineId, ringId: ring.id, wave: 0, step, assignedAt: at, darkAt: at, finishedAt: step === "succeeded" ? at : null });
  await p.rollout.create({
    data: { releaseId: release.id, state: "completed", createdBy: "test", finishedAt: at, machines: { create: rows.map((m) => row(m.id, "succeeded")) } },
  });
  await p.rollout.create({
    data: { releaseId: release.id, state: "aborted", createdBy: "test", finishedAt: at, machines: { create: [row(rows.find((m) => m.machineId === "keep-1")!.id, "downloading")] } },
  });
  await retireMachine(p, cliActor, { machineId: "gone-1", reason: "decommissioned" }, app.clock);
}, 120_000);

afterAll(async () => {
  await app?.stop();
});

describe("retention", () => {
  it("keeps each kind of row for its period and prunes it after, in bounded batches; the audit log is never touched", async () => {
    const policy = DEFAULT_RETENTION;
    const gone = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "gone-1" }, select: { id: true } });
    const start = await counts();
    const auditRows = await app.db.prisma.auditLog.findMany({ orderBy: { id: "asc" } });
    expect(start).toMatchObject({ events: 10, snapshots: 1, rolloutMachines: 4, machines: 3, tokens: 3 });
    expect(start.changes).toBeGreaterThanOrEqual(3);
    const prunedAt = async (days: number, options: { batch?: number; passBatches?: number } = {}) => {
      moveTo(days);
      return prune(app.db.pool, policy, app.clock.now(), { batch: 3, ...options });
    };

    // Day 29: nothing is old enough.
    let result = await prunedAt(policy.retiredMachinesDays - 1);
    expect(Object.values(result).every((kind) => kind.removed === 0)).toBe(true);
    expect(await counts()).toEqual(start);

    // Day 31: the machine retired at T0 is purged, and everything of its own with it.
    result = await prunedAt(policy.retiredMachinesDays + 1);
    expect(result.retiredMachinesDays.removed).toBe(1);
    const afterPurge = await counts();
    expect(afterPurge).toMatchObject({ events: 7, snapshots: 1, rolloutMachines: 3, machines: 2, tokens: 2, audit: start.audit });
    expect(afterPurge.changes).toBeLessThan(start.changes);
    expect(await app.db.prisma.machineChange.count({ where: { machineId: gone.id } })).toBe(0);
    expect(await app.db.prisma.machineCounted.count({ where: { id: gone.id } })).toBe(0);
    // Its retirement stays in the audit log.
    expect(await app.db.prisma.auditLog.count({ where: { action: "machine.retire", targetId: "gone-1" } })).toBe(1);

    // A fresh event on day 80, which must outlive the old ones.
    moveTo(80);
    await sendEvents("keep-1", "new", 1);

    // Day 89: events and changes are kept.
    result = await prunedAt(policy.agentEventsDays - 1);
    expect(result.agentEventsDays.removed + result.machineChangesDays.removed).toBe(0);

    // Day 91: a pass is bounded (one batch of three), and the next one finishes the job.
    const first = await prunedAt(policy.agentEventsDays + 1, { passBatches: 1 });
    expect(first.agentEventsDays).toEqual({ removed: 3, batches: 1 });
    expect(first.machineChangesDays).toEqual({ removed: 3, batches: 1 });
    result = await prunedAt(policy.agentEventsDays + 1);
    expect(result.agentEventsDays).toEqual({ removed: 4, batches: 2 });
    expect(first.machineChangesDays.removed + result.machineChangesDays.removed).toBe(afterPurge.changes);
    expect((await app.db.prisma.agentEvent.findMany({ select: { eventId: true } })).map((e) => e.eventId)).toEqual(["new-0"]);
    expect((await counts()).changes).toBe(0);

    // Day 179 keeps the finished rollout's machine rows, day 181 removes them; the aborted rollout's unfinished row and both rollouts stay.
    result = await prunedAt(policy.rolloutMachinesDays - 1);
    expect(result.rolloutMachinesDays.removed).toBe(0);
    result = await prunedAt(policy.rolloutMachinesDays + 1);
    expect(result.rolloutMachinesDays).toEqual({ removed: 2, batches: 1 });
    expect(await app.db.prisma.rolloutMachine.findMany({ select: { step: true } })).toEqual([{ step: "downloading" }]);
    expect(await app.db.prisma.rollout.count()).toBe(2);

    // Day 399 keeps the version snapshot, day 401 removes it.
    result = await prunedAt(policy.versionSnapshotsDays - 1);
    expect(result.versionSnapshotsDays.removed).toBe(0);
    result = await prunedAt(policy.versionSnapshotsDays + 1);
    expect(result.versionSnapshotsDays.removed).toBe(1);

    // The audit log, every row as it was.
    expect(await app.db.prisma.auditLog.findMany({ orderBy: { id: "asc" } })).toEqual(auditRows);
    // And the machines that were not retired are all there.
    expect((await app.db.prisma.machine.findMany({ select: { machineId: true }, orderBy: { machineId: "asc" } })).map((m) => m.machineId)).toEqual(["keep-1", "keep-2"]);
  });

  it("exports the audit log by time range (from inclusive, to exclusive); a range that ends before it starts is refused naming `to`", async () => {
    const all = await app.db.prisma.auditLog.findMany({ orderBy: { at: "asc" }, select: { at: true, action: true } });
    expect(all.length).toBeGreaterThan(3);
    const from = all[1].at.toISOString();
    const to = all.at(-1)!.at.toISOString();
    const { auditCsv } = await import("../../server/audit/list-audit");
    let csv = "";
    for await (const chunk of auditCsv(app.db.prisma, { from, to })) csv += chunk;
    const lines = csv.trim().split("\r\n").slice(1);
    const expected = all.filter((row) => row.at.toISOString() >= from && row.at.toISOString() < to);
    expect(lines).toHaveLength(expected.length);
    expect(lines.every((line) => line.slice(1, 25) >= from && line.slice(1, 25) < to)).toBe(true);
    await expect(async () => {
      for await (const chunk of auditCsv(app.db.prisma, { from: to, to: from })) void chunk;
    }).rejects.toMatchObject({ code: "INVALID", field: "to" });
    // The same through the REST API, with an API token.
    const { token } = await createApiToken(app.db.prisma, cliActor, { name: "archive", role: "viewer" });
    const rest = await fetch(`${app.url}/api/v1/audit.csv?from=${from}&to=${to}`, { headers: { authorization: `Bearer ${token}` } });
    expect(rest.status).toBe(200);
    expect((await rest.text()).trim().split("\r\n").slice(1)).toEqual(lines);
    const refused = await fetch(`${app.url}/api/v1/audit.csv?from=${to}&to=${from}`, { headers: { authorization: `Bearer ${token}` } });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: "INVALID", field: "to" });
  });
});

describe("background jobs", () => {
  it("retry a step that fails on a transaction timeout, logging the failure once and the recovery once", async () => {
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    // While "under load" the snapshot's transaction outlives its timeout (Prisma's own, as on the restart that failed); then it fits again.
    let timeout = 1;
    const job = new PeriodicJob({
      name: "version snapshot",
      intervalMs: 600_000,
      retryMs: 100,
      maxRetryMs: 200,
      log,
      step: () => takeSnapshot(app.db.prisma, app.clock.now(), 0, { maxWait: 5000, timeout }),
    });
    try {
      job.start();
      const deadline = Date.now() + 30_000;
      while (job.failing < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(job.failing).toBeGreaterThanOrEqual(3);
      timeout = 10_000;
      while (job.failing > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(job.failing).toBe(0);
    } finally {
      await job.stop();
    }
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(["version snapshot failed; retrying with backoff (logged again when it works)"]);
    expect(lines.filter((l) => l.level === 30).map((l) => l.msg)).toEqual(["version snapshot works again"]);
    expect(await app.db.prisma.versionSnapshot.count()).toBeGreaterThan(0);
  });

  it("never take a connection of the agent pool", async () => {
    const own = await startTestConsole(
      { ORCHARD_DB_AGENT_POOL: "2", ORCHARD_SNAPSHOT_INTERVAL_MS: "1000", ORCHARD_PRUNE_INTERVAL_MS: "1000", ORCHARD_CONTROLLER_INTERVAL_MS: "100", ORCHARD_LASTSEEN_FLUSH_MS: "100" },
      { controller: true },
    );
    try {
      const p = own.db.prisma;
      await createRing(p, cliActor, { name: "canary", branch: REF });
      await addRelease(p, cliActor, { ref: REF, checksum: hex("b"), version: "1" });
      const agents = new ProtocolMachines(own.url);
      const token = await enrollmentToken(own, { ring: "canary" });
      expect((await agents.enroll("m-1", token)).status).toBe(201);
      expect((await agents.report("m-1")).status).toBe(200);
      // A check-in that changed nothing leaves its last-seen time and seq to the flush, a background job.
      expect((await agents.report("m-1")).status).toBe(200);
      // From here on, only background work: the agent pool is watched.
      const agentUse = { connect: 0, query: 0 };
      const pool = own.db.agent.pool;
      expect(pool).not.toBe(own.db.pool);
      const counting = <F extends (...args: never[]) => unknown>(target: object, fn: F, count: () => void) =>
        ((...args: unknown[]) => {
          count();
          return Reflect.apply(fn, target, args);
        }) as unknown as F;
      pool.connect = counting(pool, pool.connect, () => agentUse.connect++);
      pool.query = counting(pool, pool.query, () => agentUse.query++);
      const consolePool = own.db.pool;
      let consoleUse = 0;
      consolePool.connect = counting(consolePool, consolePool.connect, () => consoleUse++);
      // An expired reboot slot is freed by the sweeper, another background job.
      const machine = await p.machine.findUniqueOrThrow({ where: { machineId: "m-1" }, select: { id: true } });
      await p.rebootLease.create({ data: { machineId: machine.id, expiresAt: new Date(Date.now() - 1000) } });
      const steps = { snapshots: own.jobs.snapshots.steps, prune: own.jobs.prune.steps };
      await own.agents.flushLastSeen();
      expect(await own.agents.freeExpiredLeases()).toBe(1);
      const deadline = Date.now() + 30_000;
      while ((own.jobs.snapshots.steps < steps.snapshots + 1 || own.jobs.prune.steps < steps.prune + 1) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await own.controller.step();
      expect(own.jobs.snapshots.steps).toBeGreaterThan(steps.snapshots);
      expect(own.jobs.prune.steps).toBeGreaterThan(steps.prune);
      expect((await p.machine.findUniqueOrThrow({ where: { id: machine.id }, select: { lastSeq: true } })).lastSeq).toBe(2n);
      expect(consoleUse).toBeGreaterThan(0);
      expect(agentUse).toEqual({ connect: 0, query: 0 });
    } finally {
      await own.stop();
    }
  });
});
