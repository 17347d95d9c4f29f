// Server time of the console's heaviest reads at N machines: the machines
// page query (with its count), the dashboard's aggregates and a Prometheus
// scrape of /metrics, each next to the raw SQL of the same queries in the
// same run.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type pg from "pg";
import { cliActor } from "../server/audit/audit";
import { fleetSummary } from "../server/dashboard/dashboard";
import { countLiveness, LivenessCounts } from "../server/dashboard/liveness";
import { systemClock } from "../server/clock";
import { createMetrics } from "../server/http/metrics";
import { logger } from "../server/logger";
import { listMachines } from "../server/machines/machines";
import { addRelease } from "../server/releases/releases";
import { createRing, setRingRelease } from "../server/rings/rings";
import { startRollout } from "../server/rollouts/rollouts";
import { encode } from "next-auth/jwt";
import { createApiToken } from "../server/api-tokens/api-tokens";
import { startSession } from "../server/sessions/sessions";
import { median, timed, withBenchConsole } from "./support";

/** Each read: warmed up once, then the median of 7. */
const median7 = (fn: () => Promise<unknown>) => median(7, fn, { warmUp: true });

const METRICS_TOKEN = "bench-metrics-token-0123456789";

/** One scrape of /metrics as Prometheus sends it. */
async function scrape(url: string) {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

export async function benchPages(options: { machines: number }) {
  // The console's own /metrics reads the fleet at every scrape (no cache), to measure a read.
  // The REST walk measures the API, not its rate limit (ORCHARD_API_RATE_LIMIT has its own test).
  return withBenchConsole("pages", { env: { ORCHARD_METRICS_TOKEN: METRICS_TOKEN, ORCHARD_METRICS_CACHE_MS: "0", ORCHARD_API_RATE_LIMIT: "0" } }, async (app) => {
    const db = app.db.prisma;
    for (const [version, checksum] of [["2026.11.1", "a"], ["2026.11.2", "b"], ["2026.12.1", "c"]]) {
      await addRelease(db, cliActor, { ref: "exampleos/x86_64/stable", checksum: checksum.repeat(64), version });
    }
    const rings = [];
    for (const ring of ["canary", "beta", "stable"]) {
      rings.push((await createRing(db, cliActor, { name: ring, branch: "exampleos/x86_64/stable" })).id);
      await setRingRelease(db, cliActor, { ring, version: "2026.11.1" });
    }
    // Rows as wide as real ones: two deployments, three health checks (one
    // failing on unhealthy machines), a label; every state with its "since".
    await app.db.pool.query(
      `INSERT INTO machines (id, machine_id, hostname, backend, agent_version, ring_id, booted_checksum, booted_version,
                             booted_ref, health_status, update_state, last_seen_at, last_seq, updated_at, cohort, deployments,
                             health_checks, labels, update_state_since, health_status_since, update_error)
       SELECT 'm' || g, 'machine-' || md5(g::text), 'kiosk-' || lpad(g::text, 6, '0'), 'sim', '1.0.0',
              ($1::text[])[1 + (g % 10 > 0)::int + (g % 10 > 2)::int],
              md5('v' || (g % 4)), '2026.1' || (g % 4), 'exampleos/x86_64/stable',
              h.health::"HealthStatus", u.state::"UpdateState",
              now() - (g % 1000) * interval '1 second', 1, now(), random(),
              jsonb_build_array(
                jsonb_build_object('checksum', md5('v' || (g % 4)) || md5('v' || (g % 4)), 'ref', 'exampleos/x86_64/stable',
                                   'version', '2026.1' || (g % 4), 'booted', true, 'default', true, 'pinned', false),
                jsonb_build_object('checksum', md5('p' || (g % 4)) || md5('p' || (g % 4)), 'ref', 'exampleos/x86_64/stable',
                                   'version', '2026.0' || (g % 4), 'booted', false, 'default', false, 'pinned', false)),
              jsonb_build_array(
                jsonb_build_object('name', 'kiosk-app.service', 'kind', 'unit', 'required', true,
                                   'status', CASE WHEN h.health = 'unhealthy' THEN 'fail' ELSE 'pass' END,
                                   'output', CASE WHEN h.health = 'unhealthy' THEN 'kiosk-app.service: exited with status 1' END),
                jsonb_build_object('name', 'http://127.0.0.1:8080/healthz', 'kind', 'http', 'required', true, 'status', 'pass'),
                jsonb_build_object('name', 'disk-space', 'kind', 'script', 'required', false, 'status', 'pass')),
              jsonb_build_object('site', (ARRAY['ams-1','fra-1','lon-1'])[1 + g % 3]),
              now() - (g % 7200) * interval '1 second', now() - (g % 5000) * interval '1 second',
              CASE WHEN u.state IN ('failed', 'rolled-back') THEN 'health check kiosk-app.service failed after boot' END
         FROM generate_series(1, $2) AS g,
              LATERAL (SELECT (ARRAY['healthy','healthy','healthy','healthy','healthy','healthy','degraded','unhealthy','unknown','healthy'])[1 + g % 10] AS health) h,
              LATERAL (SELECT (ARRAY['idle','idle','succeeded','succeeded','downloading','staged','rebooting','verifying','failed','rolled-back'])[1 + (g / 7) % 10] AS state) u`,
      [rings, options.machines],
    );
    // Rollout history as a real fleet has it: one rollout finished over
    // every machine, one under way in the stable ring with its first wave
    // (10 %, by cohort) open and a few machines dark. The rows are written
    // as the controller leaves them, in SQL: its steps over a million
    // machines take longer than the bench (and the step's transaction) may.
    const done = await startRollout(db, cliActor, { version: "2026.11.2", rings: ["canary", "beta", "stable"], waves: [100], singleFirst: false, soakSeconds: 0 });
    for (const sql of [
      `INSERT INTO rollout_machines (id, rollout_id, machine_id, ring_id, wave, step, assigned_at, dark_at, finished_at,
                                     previous_checksum, previous_ref, previous_version, updated_at)
       SELECT 'rmd' || m.id, $1, m.id, m.ring_id, 0, 'succeeded', now() - interval '2 days', now() - interval '2 days' + interval '1 hour',
              now() - interval '2 days' + interval '10 minutes', m.booted_checksum, m.booted_ref, m.booted_version, now()
         FROM machines m WHERE m.ring_id IS NOT NULL`,
      "UPDATE rollout_rings SET phase = 'completed', open_wave = 0, started_at = now() - interval '2 days', completed_at = now() WHERE rollout_id = $1",
      "UPDATE rollouts SET state = 'completed', finished_at = now() WHERE id = $1",
    ]) {
      await app.db.pool.query(sql, [done.id]);
    }
    const active = await startRollout(db, cliActor, { version: "2026.12.1", rings: ["stable"], waves: [10, 50, 100], singleFirst: false, soakSeconds: 0 });
    for (const sql of [
      `INSERT INTO rollout_machines (id, rollout_id, machine_id, ring_id, wave, step, assigned_at, dark_at, finished_at,
                                     previous_checksum, previous_ref, previous_version, updated_at)
       SELECT 'rma' || m.id, $1, m.id, m.ring_id, 0, CASE WHEN m.cohort < 0.05 THEN 'succeeded' ELSE 'downloading' END::"MachineStep",
              now() - interval '40 minutes', now() + interval '20 minutes', CASE WHEN m.cohort < 0.05 THEN now() - interval '10 minutes' END,
              m.booted_checksum, m.booted_ref, m.booted_version, now()
         FROM machines m JOIN rings r ON r.id = m.ring_id WHERE r.name = 'stable' AND m.cohort < 0.1`,
      "UPDATE rollout_rings SET phase = 'active', open_wave = 0, started_at = now() - interval '40 minutes', wave_opened_at = now() - interval '40 minutes' WHERE rollout_id = $1",
      `UPDATE rollout_machines SET step = 'dark', finished_at = now(), detail = 'silent for 30 min after assignment'
        WHERE rollout_id = $1 AND wave = 0 AND step = 'downloading' AND random() < 0.01`,
    ]) {
      await app.db.pool.query(sql, [active.id]);
    }
    await app.db.pool.query("ANALYZE");
    const raw = (sql: string, params: unknown[] = []) => () => app.db.pool.query(sql, params);
    // Beside it, /metrics with the default cache, as most scrapes are answered.
    const cachedMetrics = createMetrics({ token: METRICS_TOKEN, db, clock: systemClock, log: logger.child({ bench: true }), cacheMs: 5000 });
    const cachedServer = http.createServer((req, res) => void cachedMetrics.handle(req, res));
    await new Promise<void>((resolve) => cachedServer.listen(0, "127.0.0.1", resolve));
    const cachedUrl = `http://127.0.0.1:${(cachedServer.address() as AddressInfo).port}`;
    const liveness = new LivenessCounts(db, systemClock);
    const measured = {
      machinesFirstPage: await median7(() => listMachines(db, { page: 0, pageSize: 50, sort: "hostname" })),
      machinesFirstPageRawSql: await median7(
        raw(`SELECT m.*, r.name FROM machines m LEFT JOIN rings r ON r.id = m.ring_id WHERE m.retired_at IS NULL ORDER BY m.hostname, m.machine_id LIMIT 50;
             SELECT COALESCE(sum(n), 0) FROM machine_counts`),
      ),
      exactCountRawSql: await median7(raw("SELECT count(*) FROM machines WHERE retired_at IS NULL")),
      machinesFiltered: await median7(() =>
        listMachines(db, { ring: "stable", health: "unhealthy", sort: "lastSeenAt", dir: "desc", page: 3, pageSize: 50 }),
      ),
      machinesFilteredRawSql: await median7(
        raw(
          `SELECT m.*, r.name FROM machines m JOIN rings r ON r.id = m.ring_id WHERE m.retired_at IS NULL AND r.name = 'stable' AND m.health_status = 'unhealthy'
            ORDER BY m.last_seen_at DESC NULLS FIRST, m.machine_id LIMIT 50 OFFSET 150;
           SELECT COALESCE(sum(c.n), 0) FROM machine_counts c JOIN rings r ON r.id = c.ring_id WHERE r.name = 'stable' AND c.health_status = 'unhealthy'`,
        ),
      ),
      machinesSearch: await median7(() => listMachines(db, { q: "kiosk-0421", page: 0, pageSize: 50 })),
      machinesSearchRawSql: await median7(
        raw(`SELECT m.* FROM machines m WHERE m.retired_at IS NULL AND (m.hostname ILIKE '%kiosk-0421%' OR m.machine_id ILIKE '%kiosk-0421%')
              ORDER BY m.hostname LIMIT 50;
             SELECT count(*) FROM (SELECT 1 FROM machines m WHERE m.retired_at IS NULL
                                      AND (m.hostname ILIKE '%kiosk-0421%' OR m.machine_id ILIKE '%kiosk-0421%') LIMIT 10001) x`),
      ),
      machinesLabel: await median7(() => listMachines(db, { label: "site=ams-1", page: 0, pageSize: 50 })),
      machinesLabelRawSql: await median7(
        raw(`SELECT m.* FROM machines m WHERE m.retired_at IS NULL AND m.labels #>> '{site}' = 'ams-1' ORDER BY m.hostname, m.machine_id LIMIT 50;
             SELECT count(*) FROM (SELECT 1 FROM machines m WHERE m.retired_at IS NULL AND m.labels #>> '{site}' = 'ams-1' LIMIT 10001) x`),
      ),
      // As the console answers it (tRPC, REST): online and stuck from the process's count, while young.
      dashboard: await median7(() => fleetSummary(db, systemClock, null, liveness)),
      // Every answer counting online and stuck afresh, as before.
      dashboardCountedNow: await median7(() => fleetSummary(db)),
      // The count itself, as the console takes it in the background.
      livenessCount: await median7(() => countLiveness(db, systemClock)),
      dashboardRawSql: await median7(() => dashboardStatements(app.db.pool)),
      dashboardRawSqlOneScan: await median7(() => countingStatement(app.db.pool, { table: "machines_counted", parallel: false })),
      dashboardRawSqlParallel: await median7(() => countingStatement(app.db.pool, { table: "machines_counted", parallel: true })),
      dashboardRawSqlOverMachines: await median7(() => countingStatement(app.db.pool, { table: "machines", parallel: false })),
      metricsScrape: await median7(() => scrape(app.url)),
      metricsRawSql: await median7(() => metricsStatements(app.db.pool)),
      metricsScrapeCached: await median7(() => scrape(cachedUrl)),
    };
    await new Promise((resolve) => cachedServer.close(resolve));
    const ms = (x: number) => x.toFixed(1).padStart(8);
    console.log(`\nConsole reads at ${options.machines.toLocaleString()} machines (median of 7, same run, same database)`);
    console.log("                                          console ms   raw SQL ms   ratio");
    for (const [label, a, b] of [
      ["machines page, first page + count", measured.machinesFirstPage, measured.machinesFirstPageRawSql],
      ["machines page, ring + health, by last seen", measured.machinesFiltered, measured.machinesFilteredRawSql],
      ["machines page, text search", measured.machinesSearch, measured.machinesSearchRawSql],
      ["machines page, label (count capped)", measured.machinesLabel, measured.machinesLabelRawSql],
      ["dashboard, as the console answers it", measured.dashboard, measured.dashboardRawSql],
      ["dashboard, online and stuck counted anew", measured.dashboardCountedNow, measured.dashboardRawSql],
      ["/metrics scrape, reading the fleet", measured.metricsScrape, measured.metricsRawSql],
      ["/metrics scrape, from its 5 s cache", measured.metricsScrapeCached, measured.metricsRawSql],
    ] as const) {
      console.log(`${label.padEnd(44)}${ms(a)}     ${ms(b)}   ${(a / b).toFixed(2)}`);
    }
    console.log(
      `(machines page raw SQL: the page's rows and its total as the console reads it: summed from machine_counts, or counted\n` +
        ` up to 10,001 rows for filters machine_counts cannot answer. An exact count of every machine instead: ${measured.exactCountRawSql.toFixed(1)} ms)`,
    );
    console.log(
      `(dashboard raw SQL: its counting statements alone, on one connection without parallel workers, as the console runs them:\n` +
        ` the sum over machine_counts and one scan of machines_counted for online and stuck per ring. Counting every group in one scan\n` +
        ` of machines_counted instead, as before machine_counts: ${measured.dashboardRawSqlOneScan.toFixed(1)} ms; with the planner's two workers:` +
        ` ${measured.dashboardRawSqlParallel.toFixed(1)} ms; over the machines rows themselves: ${measured.dashboardRawSqlOverMachines.toFixed(1)} ms)`,
    );
    console.log(
      `(dashboard as the console answers it: online and stuck from this process's last count while it is young\n` +
        ` (server/dashboard/liveness.ts: 25 times the count's own time, at most 10 s), the rest read live; the count: ${measured.livenessCount.toFixed(1)} ms)`,
    );
    console.log(
      "(/metrics raw SQL: the statements of its read as plain SQL, at once on the pool as the console sends them;\n" +
        " the scrape is the whole HTTP answer, the process's own metrics and the text included)",
    );
    const listing = await httpListing(app, options.machines);
    console.log(`\nThe machines list over HTTP at ${options.machines.toLocaleString()} machines: REST (API token) beside tRPC (session cookie), same run`);
    console.log("                                          REST ms      tRPC ms      ratio");
    for (const [label, a, b] of [
      ["first page of 50 (median of 7)", listing.restFirstPage, listing.trpcFirstPage],
      [`${Math.min(options.machines, WALK_MACHINES).toLocaleString()} machines, pages of 200 (once)`, listing.restWalk, listing.trpcWalk],
    ] as const) {
      console.log(`${label.padEnd(44)}${ms(a)}     ${ms(b)}   ${(a / b).toFixed(2)}`);
    }
    console.log(`(REST walks with its cursor, tRPC with page numbers as the table does; page 400 of 200 by number: ${listing.restDeepOffset.toFixed(1)} ms, by cursor: ${listing.restDeepCursor.toFixed(1)} ms)`);
    console.log("");
    return Object.fromEntries(Object.entries({ ...measured, ...listing }).map(([k, v]) => [k, Number(v.toFixed(1))]));
  });
}

/** The dashboard's counting statements as plain SQL on one connection: the sum over machine_counts, online and stuck per ring. */
async function dashboardStatements(pool: pg.Pool) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SET LOCAL max_parallel_workers_per_gather = 0");
    const rings = await client.query<{ id: string; seconds: number }>("SELECT id, 3 * check_in_interval_seconds AS seconds FROM rings");
    const since = `CASE m.ring_id ${rings.rows.map((r) => `WHEN '${r.id}' THEN now() - interval '${r.seconds} seconds'`).join(" ")}
                   ELSE now() - interval '900 seconds' END`;
    await client.query(
      `SELECT ring_id, booted_version, health_status, update_state, sum(n) FROM machine_counts GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0`,
    );
    await client.query(
      `SELECT m.ring_id, count(*) FILTER (WHERE m.last_seen_at > ${since}) AS online,
              count(*) FILTER (WHERE m.update_state IN ('downloading', 'staged', 'rebooting', 'verifying')
                                 AND m.update_state_since < now() - interval '30 minutes') AS stuck
         FROM machines_counted m WHERE NOT m.retired GROUP BY 1`,
    );
    await client.query("COMMIT");
  } finally {
    client.release();
  }
}

/** The dashboard's one scan before machine_counts, as plain SQL on one connection, over machines_counted or over machines. */
async function countingStatement(pool: pg.Pool, options: { table: "machines_counted" | "machines"; parallel: boolean }) {
  const retired = options.table === "machines" ? "m.retired_at IS NOT NULL" : "m.retired";
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    if (!options.parallel) await client.query("SET LOCAL max_parallel_workers_per_gather = 0");
    const rings = await client.query<{ id: string; seconds: number }>("SELECT id, 3 * check_in_interval_seconds AS seconds FROM rings");
    const since = `CASE m.ring_id ${rings.rows.map((r) => `WHEN '${r.id}' THEN now() - interval '${r.seconds} seconds'`).join(" ")}
                   ELSE now() - interval '900 seconds' END`;
    await client.query(
      `SELECT r.name, g.* FROM (
         SELECT m.ring_id, m.booted_version, m.health_status, m.update_state, count(*) AS n,
                count(*) FILTER (WHERE m.last_seen_at > ${since}) AS online,
                count(*) FILTER (WHERE m.update_state IN ('downloading', 'staged', 'rebooting', 'verifying')
                                   AND m.update_state_since < now() - interval '30 minutes') AS stuck
           FROM ${options.table} m WHERE NOT ${retired} GROUP BY 1, 2, 3, 4) g
       LEFT JOIN rings r ON r.id = g.ring_id`,
    );
    await client.query("COMMIT");
  } finally {
    client.release();
  }
}

/** The statements of a read of the fleet's figures for /metrics, as plain SQL, sent at once on the pool as the console sends them. */
async function metricsStatements(pool: pg.Pool) {
  await Promise.all([
    dashboardStatements(pool),
    pool.query("SELECT name FROM rings ORDER BY position"),
    pool.query("SELECT state, count(*) FROM rollouts GROUP BY state"),
    pool.query(
      `SELECT ro.id, ro.state, ro.paused_by, rel.version, rr.ring_id, rr.phase, rr.open_wave, rr.percents, rr.single_first, r.name
         FROM rollouts ro JOIN releases rel ON rel.id = ro.release_id JOIN rollout_rings rr ON rr.rollout_id = ro.id JOIN rings r ON r.id = rr.ring_id
        WHERE ro.state IN ('running', 'paused', 'awaiting_approval') ORDER BY ro.created_at, rr.position`,
    ).then(async ({ rows }) => {
      const rollouts = [...new Set(rows.map((r: { id: string }) => r.id))];
      const rings = [...new Set(rows.map((r: { ring_id: string }) => r.ring_id))];
      await Promise.all([
        pool.query("SELECT rollout_id, ring_id, wave, step, count(*) FROM rollout_machines WHERE rollout_id = ANY($1) GROUP BY 1, 2, 3, 4", [rollouts]),
        pool.query(
          `SELECT c.ring_id, count(*) - COALESCE(max(x.n), 0)
             FROM machines_counted c
             LEFT JOIN (SELECT m.ring_id, count(*) AS n FROM machines m
                         WHERE m.ring_id = ANY($1) AND m.retired_at IS NULL
                           AND (m.pinned_release_id IS NOT NULL OR COALESCE((m.rollback_to ->> 'hold')::boolean, false))
                         GROUP BY m.ring_id) x ON x.ring_id = c.ring_id
            WHERE c.ring_id = ANY($1) AND NOT c.retired GROUP BY c.ring_id`,
          [rings],
        ),
      ]);
    }),
  ]);
}

/** The walks cover at most this many machines (BENCH_WALK_MACHINES): by page number, a walk over a million is minutes of deep OFFSETs. */
const WALK_MACHINES = Number(process.env.BENCH_WALK_MACHINES ?? 100_000);

/**
 * The machines list as a client gets it over HTTP: the same page through the
 * REST API (API token) and through tRPC (session cookie, superjson), and every
 * machine walked in pages of 200 (REST by cursor, tRPC by page number).
 */
async function httpListing(app: { url: string; db: { prisma: import("../server/db/client").PrismaClient } }, machines: number) {
  const db = app.db.prisma;
  const admin = await db.user.findFirstOrThrow({ where: { role: "admin" }, select: { id: true } });
  const sid = await startSession(db, admin.id);
  const cookie = `next-auth.session-token=${await encode({ token: { sub: admin.id, sid }, secret: "x".repeat(40) })}`;
  const { token } = await createApiToken(db, { id: null, label: "bench", role: "admin", rings: null }, { name: "bench", role: "viewer" });
  const rest = async (query: string) => {
    const res = await fetch(`${app.url}/api/v1/machines?${query}`, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`REST ${res.status}: ${await res.text()}`);
    return (await res.json()) as { rows: unknown[]; nextCursor: string | null };
  };
  const trpc = async (input: Record<string, unknown>) => {
    const res = await fetch(`${app.url}/api/trpc/machines.list?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, { headers: { cookie } });
    if (!res.ok) throw new Error(`tRPC ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { result: { data: { json: { rows: unknown[] } } } }).result.data.json;
  };
  const walked = Math.min(machines, WALK_MACHINES);
  const restWalk = async () => {
    let cursor: string | null = null;
    let seen = 0;
    do {
      const page = await rest(`pageSize=200&sort=hostname${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      seen += page.rows.length;
      cursor = page.nextCursor;
    } while (cursor && seen < walked);
    if (seen !== walked) throw new Error(`REST walk saw ${seen} machines`);
  };
  const trpcWalk = async () => {
    let seen = 0;
    for (let page = 0; seen < walked; page++) {
      const rows = (await trpc({ page, pageSize: 200, sort: "hostname" })).rows.length;
      seen += rows;
      if (rows < 200) break;
    }
    if (seen !== walked) throw new Error(`tRPC walk saw ${seen} machines`);
  };
  const middle = await db.machine.findMany({ orderBy: [{ hostname: "asc" }, { machineId: "asc" }], skip: 400 * 200 - 1, take: 1, select: { machineId: true } });
  return {
    restFirstPage: await median7(() => rest("page=0&pageSize=50&sort=hostname")),
    trpcFirstPage: await median7(() => trpc({ page: 0, pageSize: 50, sort: "hostname" })),
    restWalk: (await timed(restWalk))[0],
    trpcWalk: (await timed(trpcWalk))[0],
    restDeepOffset: await median7(() => rest("page=400&pageSize=200&sort=hostname")),
    restDeepCursor: middle[0] ? await median7(() => rest(`pageSize=200&sort=hostname&cursor=${middle[0].machineId}`)) : Number.NaN,
  };
}
