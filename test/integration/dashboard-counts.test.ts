// The dashboard counts from machines_counted, a narrow copy of the machines'
// counted columns kept by triggers, and from machine_counts, the counts per
// group kept from it by triggers. These tests change machines every way the
// console does (enrolment, check-ins, last-seen flushes, moves, retirement,
// deletion, the retention purge, bulk statements, concurrent writers) and
// check after each that the copy equals machines, that the kept counts equal
// a fresh count, and that the dashboard's counts and the machines page's
// totals equal a count of machines itself.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { fleetSummary } from "../../server/dashboard/dashboard";
import { allowReenroll, listMachines, moveMachinesToRing, retireMachine } from "../../server/machines/machines";
import { updateRingPolicy } from "../../server/rings/rings";
import { abortRollout, startRollout } from "../../server/rollouts/rollouts";
import { foldMachineCounts } from "../../server/machines/counts";
import { LivenessCounts } from "../../server/dashboard/liveness";
import { DEFAULT_RETENTION, prune } from "../../server/retention/retention";
import { hex, ProtocolMachines, type ReportOptions } from "../helpers/agent-http";
import { enrollmentToken, ringsOnRelease1, startTestConsole, type TestConsole } from "../helpers/console";

const REF = "exampleos/x86_64/stable";
let app: TestConsole;
let machines: ProtocolMachines;

async function report(machineId: string, options: ReportOptions) {
  expect((await machines.report(machineId, options)).status).toBe(200);
}

/** Rows of machines and of the copy that differ (both ways); empty when they are equal. */
async function differences() {
  const { rows } = await app.db.pool.query(
    `WITH truth AS (SELECT id, ring_id, booted_version, health_status, update_state, update_state_since, last_seen_at,
                           retired_at IS NOT NULL AS retired FROM machines),
          copy AS (SELECT id, ring_id, booted_version, health_status, update_state, update_state_since, last_seen_at, retired
                     FROM machines_counted)
     (SELECT 'missing from the copy' AS what, * FROM truth EXCEPT SELECT 'missing from the copy', * FROM copy)
     UNION ALL
     (SELECT 'only in the copy', * FROM copy EXCEPT SELECT 'only in the copy', * FROM truth)`,
  );
  return rows;
}

/** Groups where machine_counts (summed deltas) and a fresh count of machines differ; empty when they agree. */
async function countDifferences() {
  const { rows } = await app.db.pool.query(
    `WITH truth AS (SELECT ring_id, booted_version, health_status, update_state, count(*)::int AS n
                      FROM machines WHERE retired_at IS NULL GROUP BY 1, 2, 3, 4),
          kept AS (SELECT ring_id, booted_version, health_status, update_state, sum(n)::int AS n
                     FROM machine_counts GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0)
     (SELECT 'counted', * FROM truth EXCEPT SELECT 'counted', * FROM kept)
     UNION ALL
     (SELECT 'kept', * FROM kept EXCEPT SELECT 'kept', * FROM truth)`,
  );
  return rows;
}

/** The dashboard's counts, next to the same counts taken from machines. */
async function dashboardAgainstMachines() {
  expect(await countDifferences()).toEqual([]);
  const summary = await fleetSummary(app.db.prisma, app.clock);
  const { rows } = await app.db.pool.query<{ health: string; update: string; ring: string | null; n: number }>(
    `SELECT m.health_status::text AS health, replace(m.update_state::text, '-', '_') AS update, r.name AS ring, count(*)::int AS n
       FROM machines m LEFT JOIN rings r ON r.id = m.ring_id WHERE m.retired_at IS NULL GROUP BY 1, 2, 3`,
  );
  const byHealth: Record<string, number> = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
  const byUpdateState: Record<string, number> = {};
  const byRing: Record<string, number> = {};
  for (const row of rows) {
    byHealth[row.health] += row.n;
    byUpdateState[row.update] = (byUpdateState[row.update] ?? 0) + row.n;
    byRing[row.ring ?? ""] = (byRing[row.ring ?? ""] ?? 0) + row.n;
  }
  expect(summary.byHealth).toEqual(byHealth);
  expect(summary.byUpdateState).toEqual(byUpdateState);
  expect(Object.fromEntries(summary.versionsByRing.map((r) => [r.ring ?? "", r.total]))).toEqual(byRing);
  expect(summary.total).toBe(rows.reduce((sum, r) => sum + r.n, 0));
  return summary;
}

beforeAll(async () => {
  app = await startTestConsole();
  machines = new ProtocolMachines(app.url);
  await ringsOnRelease1(app, REF, ["canary", "stable"]);
});

afterAll(async () => {
  await app?.stop();
});

describe("the dashboard's copy of the machines", () => {
  it("follows enrolment, check-ins and last-seen flushes", async () => {
    for (const [ring, count] of [["canary", 3], ["stable", 5]] as const) {
      const token = await enrollmentToken(app, { ring });
      for (let i = 0; i < count; i++) {
        const id = `${ring}-${i}`;
        await machines.enroll(id, token);
      }
    }
    expect(await differences()).toEqual([]);
    for (const id of machines.tokens.keys()) await report(id, { booted: hex("1"), version: "1" });
    await report("canary-0", { booted: hex("2"), version: "2", state: "succeeded" });
    await report("canary-1", { booted: hex("1"), version: "1", state: "downloading", health: "degraded" });
    await report("stable-0", { booted: hex("1"), version: "1", health: "unhealthy" });
    expect(await differences()).toEqual([]);
    // Check-ins that change nothing reach machines through the buffered flush only.
    app.clock.advance(60_000);
    for (const id of ["stable-1", "stable-2"]) await report(id, { booted: hex("1"), version: "1" });
    await app.agents.flushLastSeen();
    expect(await differences()).toEqual([]);
    const summary = await dashboardAgainstMachines();
    expect(summary.total).toBe(8);
    expect(summary.online).toBe(8);
  });

  it("counts a machine offline after three check-in intervals of its own ring", async () => {
    await updateRingPolicy(app.db.prisma, cliActor, { ring: "canary", checkInIntervalSeconds: 60 });
    app.clock.advance(200_000); // past three minutes (canary), short of fifteen (stable)
    try {
      const summary = await fleetSummary(app.db.prisma, app.clock);
      const machines = await listMachines(app.db.prisma, { page: 0, pageSize: 50 }, app.clock);
      const onlineIn = (ring: string) => machines.rows.filter((m) => m.ring === ring && m.online).length;
      expect(onlineIn("canary")).toBe(0);
      expect(onlineIn("stable")).toBe(5);
      expect(summary.versionsByRing.map((r) => [r.ring, r.online])).toEqual([
        ["canary", 0],
        ["stable", 5],
      ]);
      expect(summary.offline).toBe(3);
    } finally {
      app.clock.advance(-200_000);
      await updateRingPolicy(app.db.prisma, cliActor, { ring: "canary", checkInIntervalSeconds: 300 });
    }
  });

  it("follows moves between rings, retirement, a ring's machines losing their ring, and deletion", async () => {
    await moveMachinesToRing(app.db.prisma, cliActor, { machineIds: ["stable-3", "stable-4"], ring: "canary" });
    await retireMachine(app.db.prisma, cliActor, { machineId: "canary-2" });
    expect(await differences()).toEqual([]);
    let summary = await dashboardAgainstMachines();
    expect(summary.total).toBe(7);
    // What a ring's deletion does to its machines (the foreign key's SET NULL), and a machine's deletion (cascade).
    await app.db.pool.query("UPDATE machines SET ring_id = NULL WHERE machine_id IN ('stable-3', 'stable-4')");
    await app.db.pool.query("DELETE FROM machines WHERE machine_id = 'stable-2'");
    expect(await differences()).toEqual([]);
    summary = await dashboardAgainstMachines();
    expect(summary.total).toBe(6);
    expect(summary.versionsByRing.find((r) => r.ring === null)?.total).toBe(2);
    // A retired machine that an operator lets enroll again (a re-image) is counted again.
    await allowReenroll(app.db.prisma, cliActor, { machineId: "canary-2" }, app.clock);
    const res = await machines.enroll("canary-2", await enrollmentToken(app, { ring: "stable" }));
    expect(res.status).toBe(200);
    expect(await differences()).toEqual([]);
    expect((await dashboardAgainstMachines()).total).toBe(7);
  });

  it("lists the dark machines of active rollouts, newest first, with how many there are", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, { version: "2", rings: ["stable"], waves: [100], singleFirst: false });
    await app.controller.stepRollout(rollout.id);
    const { rows } = await app.db.pool.query<{ id: string }>(
      `UPDATE rollout_machines rm SET step = 'dark', finished_at = now() - (m.machine_id = 'stable-0')::int * interval '1 minute'
         FROM machines m WHERE m.id = rm.machine_id AND rm.rollout_id = $1 RETURNING rm.id`,
      [rollout.id],
    );
    expect(rows.length).toBeGreaterThan(1);
    let { attention } = await fleetSummary(app.db.prisma, app.clock);
    expect(attention.darkCount).toBe(rows.length);
    expect(attention.dark).toHaveLength(rows.length);
    expect(attention.dark.at(-1)?.machineId).toBe("stable-0");
    await abortRollout(app.db.prisma, cliActor, { rolloutId: rollout.id });
    ({ attention } = await fleetSummary(app.db.prisma, app.clock));
    expect(attention.darkCount).toBe(0);
    expect(attention.dark).toEqual([]);
  });

  it("follows statements over many machines and concurrent writers", async () => {
    const ring = await app.db.prisma.ring.findUniqueOrThrow({ where: { name: "stable" } });
    await app.db.pool.query(
      `INSERT INTO machines (id, machine_id, hostname, backend, agent_version, ring_id, booted_version, health_status,
                             update_state, last_seen_at, updated_at)
       SELECT 'bulk-' || g, 'bulk-' || g, 'bulk-' || g, 'sim', '1.0.0', $1, '1',
              (ARRAY['healthy', 'degraded', 'unhealthy', 'unknown'])[1 + g % 4]::"HealthStatus", 'idle', now(), now()
         FROM generate_series(1, 2000) AS g`,
      [ring.id],
    );
    expect(await differences()).toEqual([]);
    // Many transactions at once, each changing some machines, some the same ones.
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        // Rows locked in id order first, as every multi-row writer must: two statements
        // that met the same rows in different physical orders would deadlock on the rows
        // themselves, whatever the triggers do.
        app.db.pool.query(
          `WITH p AS (SELECT id AS pick, substr(id, 6)::int AS id_n FROM machines
                       WHERE id LIKE 'bulk-%' AND substr(id, 6)::int % 10 = $1 % 10 ORDER BY id FOR UPDATE)
           UPDATE machines SET update_state = (ARRAY['downloading', 'staged', 'succeeded', 'failed'])[1 + (id_n + $1) % 4]::"UpdateState",
                               booted_version = CASE WHEN $1 % 2 = 0 THEN '2' ELSE booted_version END,
                               last_seen_at = now() + $1 * interval '1 ms',
                               retired_at = CASE WHEN id_n % 97 = $1 THEN now() ELSE retired_at END
             FROM p WHERE machines.id = p.pick`,
          [i],
        ),
      ),
    );
    expect(await differences()).toEqual([]);
    const summary = await dashboardAgainstMachines();
    const retired = await app.db.prisma.machine.count({ where: { id: { startsWith: "bulk-" }, retiredAt: { not: null } } });
    expect(retired).toBeGreaterThan(0);
    expect(summary.total).toBe(7 + 2000 - retired);
  });
  it("keeps its counts through the retention purge and folds them to a row per group", async () => {
    // The machines page's totals for the filters machine_counts answers, against a count of machines.
    for (const filter of [{}, { ring: "stable" }, { health: "unhealthy" as const }, { updateState: "failed" as const }, { version: "2", ring: "stable" }]) {
      const listed = await listMachines(app.db.prisma, { ...filter, pageSize: 1 }, app.clock);
      const ring = filter.ring ? await app.db.prisma.ring.findUniqueOrThrow({ where: { name: filter.ring } }) : null;
      const truth = await app.db.prisma.machine.count({
        where: { retiredAt: null, ringId: ring?.id, healthStatus: filter.health, updateState: filter.updateState, bootedVersion: filter.version },
      });
      expect(listed, JSON.stringify(filter)).toMatchObject({ total: truth, totalExact: true });
    }
    // Retired long ago: the purge deletes them (with their counted rows, by cascade).
    const { rowCount } = await app.db.pool.query(
      "UPDATE machines SET retired_at = now() - interval '400 days' WHERE id LIKE 'bulk-%' AND substr(id, 6)::int % 5 = 0",
    );
    expect(rowCount).toBeGreaterThan(0);
    expect(await countDifferences()).toEqual([]);
    // 20 machines per statement (a fiftieth of the batch).
    await prune(app.db.pool, DEFAULT_RETENTION, new Date(), { batch: 1000 });
    expect(await app.db.prisma.machine.count({ where: { retiredAt: { lt: new Date(Date.now() - 300 * 86_400_000) } } })).toBe(0);
    expect(await differences()).toEqual([]);
    await dashboardAgainstMachines();
    const groups = Number((await app.db.pool.query("SELECT count(DISTINCT (ring_id, booted_version, health_status, update_state)) AS n FROM machine_counts")).rows[0].n);
    await foldMachineCounts(app.db.prisma);
    // Folded already: the next fold writes nothing.
    expect(await foldMachineCounts(app.db.prisma)).toBe(0);
    const after = Number((await app.db.pool.query("SELECT count(*) AS n FROM machine_counts")).rows[0].n);
    expect(after).toBeLessThanOrEqual(groups);
    const summary = await dashboardAgainstMachines();
    expect(summary.total).toBe(await app.db.prisma.machine.count({ where: { retiredAt: null } }));
  });
});

describe("online and stuck, counted by a console process every few seconds on a large fleet", () => {
  it("answers a young count with its time, a stale one while counting again, and never one older than a minute", async () => {
    // Limits of a large fleet, whatever this count costs: young for 10 s, answered up to 60 s old.
    const counts = new LivenessCounts(app.db.prisma, app.clock, { countAgainUnderMs: 0, freshPerScan: 1e9, freshAtMostMs: 10_000, staleAtMostMs: 60_000 });
    const cached = () => fleetSummary(app.db.prisma, app.clock, null, counts);
    const now = () => fleetSummary(app.db.prisma, app.clock);

    const first = await cached();
    expect(first.serverTime.getTime() - first.livenessAt.getTime()).toBeLessThan(1000);
    const truth = await now();
    expect(first.online).toBe(truth.online);
    expect(first.online).toBeGreaterThan(0);

    try {
      // Canary's machines go offline after three minutes: 200 s later they are.
      await updateRingPolicy(app.db.prisma, cliActor, { ring: "canary", checkInIntervalSeconds: 60 });
      app.clock.advance(5_000);
      const young = await cached();
      // Five seconds on, the count is the first one, and says so.
      expect(young.livenessAt).toEqual(first.livenessAt);
      expect(young.online).toBe(first.online);

      app.clock.advance(195_000);
      // 200 s old (past a minute): the answer waits for a new count, which sees canary offline.
      const recounted = await cached();
      expect(recounted.serverTime.getTime() - recounted.livenessAt.getTime()).toBeLessThan(1000);
      const later = await now();
      expect(later.versionsByRing.find((r) => r.ring === "canary")?.online).toBe(0);
      expect(recounted.online).toBe(later.online);
      expect(recounted.offline).toBe(later.offline);
      expect(recounted.online).toBeLessThan(first.online);

      // 20 s later (stale, under a minute): the last count is answered at once and a new one taken meanwhile.
      await updateRingPolicy(app.db.prisma, cliActor, { ring: "canary", checkInIntervalSeconds: 300 });
      app.clock.advance(20_000);
      const stale = await cached();
      expect(stale.livenessAt).toEqual(recounted.livenessAt);
      expect(stale.online).toBe(recounted.online);
      await expect.poll(async () => (await cached()).livenessAt.getTime(), { timeout: 30_000 }).toBeGreaterThan(recounted.livenessAt.getTime());
      expect((await cached()).online).toBe((await now()).online);
    } finally {
      app.clock.advance(-220_000);
      await updateRingPolicy(app.db.prisma, cliActor, { ring: "canary", checkInIntervalSeconds: 300 });
    }
  });

  it("counts afresh on every answer while counting is cheap (a small fleet)", async () => {
    const counts = new LivenessCounts(app.db.prisma, app.clock);
    const first = await fleetSummary(app.db.prisma, app.clock, null, counts);
    app.clock.advance(1_000);
    try {
      const second = await fleetSummary(app.db.prisma, app.clock, null, counts);
      expect(second.livenessAt.getTime()).toBeGreaterThan(first.livenessAt.getTime());
    } finally {
      app.clock.advance(-1_000);
    }
  });
});
