// `npm run bench:retention`: how to remove a month of agent events from a
// table of BENCH_ROWS (default 10 million) rows — batched deletes on the table
// as it is, or monthly partitions dropped whole — measured on a database of
// its own (TEST_DATABASE_URL's server, default the local one), created and
// dropped here. For each way: the time to remove the oldest month, the insert
// latency (p50/p99/max) of a steady agent-like writer meanwhile beside the
// same writer with nothing else running (the baseline), and the table's size
// before, after, after VACUUM and after a month of new rows (bloat). Slow (a
// quarter of an hour on two cores, run under `nice`); not part of the tests.
// The figures and the choice are in docs/retention.md.
import { performance } from "node:perf_hooks";
import pg from "pg";

const ROWS = Number(process.env.BENCH_ROWS ?? 10_000_000);
const MACHINES = 20_000;
/** The batch of the console's pruning (server/retention/retention.ts PRUNE_BATCH). */
const BATCH = Number(process.env.BENCH_BATCH ?? 5000);
const WRITERS = 4;
const YEAR = 2026;

const adminUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const database = `orchard_bench_retention_${Date.now().toString(36)}`;

function monthStart(year: number, month: number) {
  return new Date(Date.UTC(year, month, 1));
}

const COLUMNS = `
  id text NOT NULL,
  machine_id text NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  at timestamp(3) NOT NULL,
  received_at timestamptz(3) NOT NULL,
  checksum text,
  detail text`;

/** One row per g in [from, to), spread evenly over the year. */
function fillSql(table: string, from: number, to: number) {
  return `
    INSERT INTO ${table} (id, machine_id, event_id, type, at, received_at, checksum, detail)
    SELECT 'c' || substr(md5('id' || g), 1, 24), 'm' || (g % ${MACHINES}), md5('ev' || g),
           (ARRAY['update.started','update.downloaded','update.staged','reboot.started','boot.verified'])[1 + g % 5],
           ts, ts, CASE WHEN g % 5 = 0 THEN NULL ELSE md5('sum' || (g % 97)) || md5('x' || (g % 97)) END,
           CASE WHEN g % 7 = 0 THEN 'health check failed: unit nginx.service exited with status 1' END
      FROM generate_series(${from}, ${to - 1}) g,
           LATERAL (SELECT timestamptz '${YEAR}-01-01 00:00:00+00' + (g::float8 / ${ROWS}) * interval '365 days' AS ts) t`;
}

async function sizes(client: pg.Client, table: string) {
  const { rows } = await client.query<{ heap: string; indexes: string; rows: string }>(
    `SELECT sum(pg_table_size(c.oid))::bigint AS heap, sum(pg_indexes_size(c.oid))::bigint AS indexes,
            (SELECT count(*) FROM ${table})::bigint AS rows
       FROM pg_class c
      WHERE c.oid = '${table}'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = '${table}'::regclass)`,
  );
  const mb = (bytes: string) => Math.round(Number(bytes) / 1024 / 1024);
  return { rows: Number(rows[0].rows), heapMB: mb(rows[0].heap), indexesMB: mb(rows[0].indexes) };
}

interface Latency {
  inserts: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * WRITERS connections inserting five events at a time (as an agent's POST
 * /events does) into the newest month until `until` settles; their latencies.
 */
async function writeWhile(url: string, table: string, conflict: string, until: Promise<unknown>): Promise<Latency> {
  const samples: number[] = [];
  let done = false;
  void until.finally(() => {
    done = true;
  });
  let n = 0;
  const writer = async (w: number) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      while (!done) {
        const values: string[] = [];
        for (let i = 0; i < 5; i++) {
          n++;
          values.push(
            `('w${w}-${n}-${Date.now()}', 'm${n % MACHINES}', 'live-${w}-${n}', 'update.started', now(), timestamptz '${YEAR}-12-20' + interval '${n % 1000} seconds', NULL, NULL)`,
          );
        }
        const started = performance.now();
        await client.query(`INSERT INTO ${table} VALUES ${values.join(",")} ON CONFLICT ${conflict} DO NOTHING`);
        samples.push(performance.now() - started);
      }
    } finally {
      await client.end();
    }
  };
  await Promise.all([until, ...Array.from({ length: WRITERS }, (_, w) => writer(w))]);
  samples.sort((a, b) => a - b);
  const at = (q: number) => Math.round(samples[Math.min(samples.length - 1, Math.floor(samples.length * q))] * 10) / 10;
  return { inserts: samples.length, p50: at(0.5), p99: at(0.99), max: Math.round(samples[samples.length - 1]) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await fn();
  return [Math.round(performance.now() - started), result];
}

async function fill(client: pg.Client, table: string) {
  const chunk = 1_000_000;
  for (let from = 0; from < ROWS; from += chunk) {
    await client.query(fillSql(table, from, Math.min(ROWS, from + chunk)));
    process.stderr.write(`  ${table}: ${Math.min(ROWS, from + chunk).toLocaleString("en")} rows\n`);
  }
}

async function main() {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const dbUrl = url.toString();
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  const report: Record<string, unknown> = { rows: ROWS, batch: BATCH, writers: WRITERS };
  try {
    const cutoff = monthStart(YEAR, 1).toISOString();

    // ---- the table as it is (agent_events' columns and indexes), batched deletes
    process.stderr.write("plain table: filling\n");
    await client.query(`CREATE TABLE ev_plain (${COLUMNS})`);
    await fill(client, "ev_plain");
    await client.query("ALTER TABLE ev_plain ADD PRIMARY KEY (id)");
    await client.query("CREATE UNIQUE INDEX ON ev_plain (machine_id, event_id)");
    await client.query("CREATE INDEX ON ev_plain (machine_id, received_at)");
    await client.query("CREATE INDEX ON ev_plain (received_at)");
    await client.query("VACUUM ANALYZE ev_plain");
    process.stderr.write("plain table: baseline writes\n");
    const plainBaseline = await writeWhile(dbUrl, "ev_plain", "(machine_id, event_id)", sleep(15_000));
    const plainBefore = await sizes(client, "ev_plain");
    process.stderr.write("plain table: batched delete of January\n");
    const batches: number[] = [];
    const batched = timed(async () => {
      let removed = 0;
      for (;;) {
        const [ms, result] = await timed(() =>
          client.query(
            `DELETE FROM ev_plain WHERE id IN (SELECT id FROM ev_plain WHERE received_at < $1 ORDER BY received_at LIMIT ${BATCH})`,
            [cutoff],
          ),
        );
        batches.push(ms);
        removed += result.rowCount ?? 0;
        if ((result.rowCount ?? 0) < BATCH) return removed;
      }
    });
    const plainDuring = await writeWhile(dbUrl, "ev_plain", "(machine_id, event_id)", batched);
    const [plainMs, plainRemoved] = await batched;
    batches.sort((a, b) => a - b);
    const plainAfter = await sizes(client, "ev_plain");
    const [plainVacuumMs] = await timed(() => client.query("VACUUM ev_plain"));
    const plainVacuumed = await sizes(client, "ev_plain");
    process.stderr.write("plain table: one month of new rows\n");
    // g past ROWS lands after the year: the month that follows.
    await client.query(fillSql("ev_plain", ROWS, ROWS + plainRemoved));
    const plainRefilled = await sizes(client, "ev_plain");
    // The reference: February in one DELETE statement (one transaction holding every row it removes).
    process.stderr.write("plain table: one DELETE of February\n");
    const single = timed(() => client.query("DELETE FROM ev_plain WHERE received_at < $1", [monthStart(YEAR, 2).toISOString()]));
    const singleDuring = await writeWhile(dbUrl, "ev_plain", "(machine_id, event_id)", single);
    const [singleMs, singleResult] = await single;
    report.batchedDeletes = {
      before: plainBefore,
      baselineWrites: plainBaseline,
      removed: plainRemoved,
      removeMs: plainMs,
      batches: batches.length,
      batchMs: { p50: batches[Math.floor(batches.length / 2)], max: batches[batches.length - 1] },
      writesDuring: plainDuring,
      afterDelete: plainAfter,
      vacuumMs: plainVacuumMs,
      afterVacuum: plainVacuumed,
      afterNewMonth: plainRefilled,
    };
    report.singleDelete = { removed: singleResult.rowCount, removeMs: singleMs, writesDuring: singleDuring };
    await client.query("DROP TABLE ev_plain");
    await client.query("CHECKPOINT");

    // ---- monthly partitions (the unique key must include the partition key)
    process.stderr.write("partitioned table: filling\n");
    await client.query(`CREATE TABLE ev_part (${COLUMNS}) PARTITION BY RANGE (received_at)`);
    for (let m = 0; m <= 12; m++) {
      const from = monthStart(YEAR, m).toISOString();
      const to = monthStart(YEAR, m + 1).toISOString();
      await client.query(`CREATE TABLE ev_part_${m} PARTITION OF ev_part FOR VALUES FROM ('${from}') TO ('${to}')`);
    }
    await fill(client, "ev_part");
    await client.query("ALTER TABLE ev_part ADD PRIMARY KEY (id, received_at)");
    await client.query("CREATE UNIQUE INDEX ON ev_part (machine_id, event_id, received_at)");
    await client.query("CREATE INDEX ON ev_part (machine_id, received_at)");
    await client.query("CREATE INDEX ON ev_part (received_at)");
    await client.query("VACUUM ANALYZE ev_part");
    process.stderr.write("partitioned table: baseline writes\n");
    const partBaseline = await writeWhile(dbUrl, "ev_part", "(machine_id, event_id, received_at)", sleep(15_000));
    const partBefore = await sizes(client, "ev_part");
    process.stderr.write("partitioned table: detach and drop January\n");
    let detachMs = 0;
    let dropMs = 0;
    const dropped = (async () => {
      await sleep(2000);
      [detachMs] = await timed(() => client.query("ALTER TABLE ev_part DETACH PARTITION ev_part_0 CONCURRENTLY"));
      [dropMs] = await timed(() => client.query("DROP TABLE ev_part_0"));
      await sleep(2000);
    })();
    const partDuring = await writeWhile(dbUrl, "ev_part", "(machine_id, event_id, received_at)", dropped);
    const partAfter = await sizes(client, "ev_part");
    // Plain DROP of a partition, without DETACH first: an ACCESS EXCLUSIVE lock on the parent.
    let plainDropMs = 0;
    const droppedDirect = (async () => {
      await sleep(2000);
      [plainDropMs] = await timed(() => client.query("DROP TABLE ev_part_1"));
      await sleep(2000);
    })();
    const directDuring = await writeWhile(dbUrl, "ev_part", "(machine_id, event_id, received_at)", droppedDirect);
    report.partitions = {
      before: partBefore,
      baselineWrites: partBaseline,
      detachConcurrentlyMs: detachMs,
      dropMs,
      writesDuring: partDuring,
      afterDrop: partAfter,
      directDropMs: plainDropMs,
      writesDuringDirectDrop: directDuring,
    };
    await client.query("DROP TABLE ev_part");
  } finally {
    await client.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  }
  console.log(JSON.stringify(report, null, 2));
}

await main();
