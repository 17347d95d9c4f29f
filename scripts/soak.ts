// `npm run soak`: 2,000 simulated machines checking in every 5 seconds for
// 10 minutes (after they enrolled and warmed up for a minute) against a
// console on PostgreSQL, through a rollout of a new release across three
// rings. Passes when, from the end of the warm-up (every
// machine enrolled and checking in for a minute) to the end, no agent request
// got a 5xx, the agents saw no errors, the console logged no error; the
// rollout completed; and the console's memory was
// flat: the floor of its heap (the lowest sample, between garbage
// collections) and of its resident set in the last quarter of the run within
// 25 % (+ 5 MB) of the floor in the first quarter, which starts once every
// machine has enrolled and checked in for a minute.
//
// Bounded data: a few machines' health flaps (SOAK_DEGRADED_RATE), so the
// machine changes grow all along, and versions are snapshotted every 5 s;
// agent events, machine changes and snapshots are kept SOAK_KEEP_MINUTES
// (default 2) and pruned every 20 s. The database's size and those tables'
// rows are sampled; the run fails unless, once retention applies to a steady
// load (the retention period plus a minute after the rollout completed, whose
// waves write events and changes at a rate of their own), the pruned tables'
// rows and the database's size in the second half of that window stay within
// 25 % (+ 2 MB for the size) of their highest in its first half.
//
// The console and the fleet run as child processes, so the figures are the
// console's own (read from its /metrics and /proc). Needs PostgreSQL
// (TEST_DATABASE_URL, default the local server); creates and drops its own
// database. SOAK_MACHINES, SOAK_INTERVAL (s), SOAK_MINUTES change the size.
// Figures go to stdout and to bench/results/soak-<time>.json.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { cliActor } from "../server/audit/audit";
import { openDatabase } from "../server/db/client";
import { createEnrollmentToken } from "../server/enrollment/enrollment-tokens";
import { addRelease } from "../server/releases/releases";
import { createRing, setRingRelease } from "../server/rings/rings";
import { getRollout, startRollout } from "../server/rollouts/rollouts";

const MACHINES = Number(process.env.SOAK_MACHINES ?? 2000);
const INTERVAL = Number(process.env.SOAK_INTERVAL ?? 5);
const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const KEEP_MINUTES = Number(process.env.SOAK_KEEP_MINUTES ?? 2);
const DEGRADED_RATE = process.env.SOAK_DEGRADED_RATE ?? "0.02";
const root = path.resolve(import.meta.dirname, "..");
const baseUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const METRICS_TOKEN = "soak-metrics-token-0123456789";
const REF = "exampleos/x86_64/stable";
const FACTORY = { ref: REF, checksum: "1".repeat(64), version: "1" };
const NEXT = { ref: REF, checksum: "2".repeat(64), version: "2" };
const RINGS = [
  { name: "canary", share: 0.05 },
  { name: "beta", share: 0.25 },
  { name: "stable", share: 0.7 },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

interface Sample {
  atSeconds: number;
  rssMB: number;
  heapUsedMB: number;
  requests: number;
  status5xx: number;
  status4xx: number;
  eventLoopLagP99Ms: number;
  /** The whole database, and the rows of the tables retention prunes. */
  databaseMB: number;
  prunedRows: number;
  /** Each table's size with its indexes and TOAST, in kB. */
  tablesKB: Record<string, number>;
}

async function databaseFigures(client: pg.Client, dbName: string) {
  const { rows } = await client.query<{ size: string; rows: string }>(
    `SELECT pg_database_size($1) AS size,
            (SELECT count(*) FROM agent_events) + (SELECT count(*) FROM machine_changes) + (SELECT count(*) FROM version_snapshots) AS rows`,
    [dbName],
  );
  const tables = await client.query<{ name: string; kb: string }>(
    "SELECT relname AS name, pg_total_relation_size(oid) / 1024 AS kb FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
  );
  return {
    databaseMB: Math.round(Number(rows[0].size) / 1e5) / 10,
    prunedRows: Number(rows[0].rows),
    tablesKB: Object.fromEntries(tables.rows.map((t) => [t.name, Number(t.kb)])),
  };
}

function metricSum(text: string, name: string, filter: (labels: string) => boolean = () => true): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z0-9_:]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] === name && filter(m[2] ?? "")) sum += Number(m[3]);
  }
  return sum;
}

async function sample(port: number, startedAt: number, database: pg.Client, dbName: string): Promise<Sample> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  const status = (range: string) => (labels: string) => new RegExp(`status="${range}\\d\\d"`).test(labels);
  return {
    atSeconds: Math.round((Date.now() - startedAt) / 1000),
    rssMB: Math.round(metricSum(text, "process_resident_memory_bytes") / 1e5) / 10,
    heapUsedMB: Math.round(metricSum(text, "nodejs_heap_size_used_bytes") / 1e5) / 10,
    requests: metricSum(text, "orchard_agent_requests_total"),
    status5xx: metricSum(text, "orchard_agent_requests_total", status("5")),
    status4xx: metricSum(text, "orchard_agent_requests_total", (l) => status("4")(l) && !l.includes('status="409"')),
    eventLoopLagP99Ms: Math.round(metricSum(text, "nodejs_eventloop_lag_p99_seconds") * 10000) / 10,
    ...(await databaseFigures(database, dbName)),
  };
}

async function main() {
  const dbName = `orchard_soak_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(baseUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "orchard-soak-"));
  const port = await freePort();
  const children: ChildProcess[] = [];
  let fleetErrors = 0;
  let consoleErrorLines = 0;

  try {
    console.log(`soak: ${MACHINES} machines, check-in every ${INTERVAL} s, ${MINUTES} min, console on port ${port}, database ${dbName}`);
    const consoleLog = fs.createWriteStream(path.join(scratch, "console.log"));
    const consoleProcess = spawn(process.execPath, ["--import", "tsx", path.join(root, "server/main.ts")], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        HOST: "127.0.0.1",
        NODE_ENV: "production",
        ORCHARD_DATA_DIR: path.join(scratch, "console"),
        ORCHARD_SECRET: "s".repeat(40),
        ORCHARD_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
        ORCHARD_SERVE_PAGES: "false",
        ORCHARD_DEMO_AGENTS: "0",
        ORCHARD_BUSY_INTERVAL: String(INTERVAL),
        ORCHARD_METRICS_TOKEN: METRICS_TOKEN,
        ORCHARD_SNAPSHOT_INTERVAL_MS: "5000",
        ORCHARD_PRUNE_INTERVAL_MS: "20000",
        ORCHARD_KEEP_AGENT_EVENTS_DAYS: String(KEEP_MINUTES / 1440),
        ORCHARD_KEEP_MACHINE_CHANGES_DAYS: String(KEEP_MINUTES / 1440),
        ORCHARD_KEEP_VERSION_SNAPSHOTS_DAYS: String(KEEP_MINUTES / 1440),
        // Refused agent requests are logged at info: kept for a failed run.
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(consoleProcess);
    for (const stream of [consoleProcess.stdout, consoleProcess.stderr]) {
      stream?.on("data", (chunk: Buffer) => {
        consoleLog.write(chunk);
        consoleErrorLines += chunk.toString("utf8").split("\n").filter((l) => /"level":(50|60)/.test(l)).length;
      });
    }
    const server = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (i > 600) throw new Error("the console did not start in 60 s");
      if (await fetch(`${server}/healthz`).then((r) => r.ok, () => false)) break;
      await sleep(100);
    }

    const db = await openDatabase({ databaseUrl, dataDir: scratch, migrate: false });
    const sizes = new pg.Client({ connectionString: databaseUrl });
    await sizes.connect();
    const prisma = db.prisma;
    await addRelease(prisma, cliActor, FACTORY);
    await addRelease(prisma, cliActor, NEXT);
    const groups: string[] = [];
    let assigned = 0;
    for (const [i, ring] of RINGS.entries()) {
      await createRing(prisma, cliActor, { name: ring.name, branch: REF, rebootSlots: 200, checkInIntervalSeconds: INTERVAL });
      await setRingRelease(prisma, cliActor, { ring: ring.name, version: FACTORY.version });
      const count = i === RINGS.length - 1 ? MACHINES - assigned : Math.round(MACHINES * ring.share);
      assigned += count;
      const { token } = await createEnrollmentToken(prisma, cliActor, { name: `soak-${ring.name}`, ring: ring.name });
      groups.push(`${token}:${count}`);
    }

    const fleet = spawn(
      process.execPath,
      [
        "--import", "tsx", path.join(root, "agent/src/fleet/main.ts"),
        "--server", server,
        "--state-dir", path.join(scratch, "fleet"),
        "--interval", String(INTERVAL),
        "--stage-seconds", "10",
        "--reboot-seconds", "5",
        "--health-grace", "10",
        "--factory-ref", FACTORY.ref,
        "--factory-checksum", FACTORY.checksum,
        "--factory-version", FACTORY.version,
        "--degraded-rate", DEGRADED_RATE,
        "--log-level", "error",
      ],
      { cwd: root, env: { ...process.env, ORCHARD_FLEET_TOKENS: groups.join(",") }, stdio: ["ignore", "ignore", "pipe"] },
    );
    children.push(fleet);
    let lastFleetLine = "";
    fleet.stderr?.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        lastFleetLine = line;
        const errors = /· (\d+) errors ·/.exec(line);
        if (errors) fleetErrors += Number(errors[1]);
        else console.log(`  fleet: ${line}`);
      }
    });

    const startedAt = Date.now();
    for (;;) {
      const reporting = await prisma.machine.count({ where: { bootedChecksum: FACTORY.checksum } });
      if (reporting === MACHINES) break;
      if (Date.now() > startedAt + 5 * 60_000) throw new Error(`only ${reporting} of ${MACHINES} machines checked in within 5 minutes`);
      await sleep(2000);
    }
    console.log(`soak: all ${MACHINES} machines enrolled and reporting after ${Math.round((Date.now() - startedAt) / 1000)} s; warming up for 60 s`);
    await sleep(60_000);

    // The measured run: MINUTES from here, with the rollout started now.
    const endAt = Date.now() + MINUTES * 60_000;
    const measuredFrom = Date.now();
    const samples: Sample[] = [await sample(port, startedAt, sizes, dbName)];
    const warmUp = { status5xx: samples[0].status5xx, status4xx: samples[0].status4xx, fleetErrors, consoleErrorLines };
    const rollout = await startRollout(prisma, cliActor, {
      version: NEXT.version,
      rings: RINGS.map((r) => r.name),
      soakSeconds: 10,
      darkAfterSeconds: 600,
    });
    console.log(`soak: rollout ${rollout.id} of version ${NEXT.version} started across ${RINGS.map((r) => r.name).join(" → ")}`);
    console.log("  at s   RSS MB  heap MB  requests  4xx  5xx  loop p99 ms    DB MB  pruned-table rows   rollout");
    let state = "running";
    let completedAt: number | null = null;
    while (Date.now() < endAt) {
      await sleep(Math.min(10_000, Math.max(0, endAt - Date.now())));
      const s = await sample(port, startedAt, sizes, dbName);
      samples.push(s);
      const r = await getRollout(prisma, rollout.id);
      state = r.state;
      if (state === "completed") completedAt ??= Date.now();
      if (samples.length % 3 !== 1 && Date.now() < endAt) continue;
      const rings = r.rings.map((ring) => `${ring.phase}:${ring.currentWave ?? 0}`).join(",");
      console.log(
        `  ${String(s.atSeconds).padStart(5)} ${String(s.rssMB).padStart(8)} ${String(s.heapUsedMB).padStart(8)} ${String(s.requests).padStart(9)} ${String(s.status4xx).padStart(4)} ${String(s.status5xx).padStart(4)} ${String(s.eventLoopLagP99Ms).padStart(12)} ${String(s.databaseMB).padStart(8)} ${String(s.prunedRows).padStart(18)}   ${state} ${rings}`,
      );
    }
    const updated = await prisma.machine.count({ where: { bootedChecksum: NEXT.checksum } });
    await db.close();
    await sizes.end();

    const first = samples[0];
    const last = samples[samples.length - 1];
    const peakRss = Math.max(...samples.map((s) => s.rssMB));
    const quarter = Math.max(1, Math.floor(samples.length / 4));
    const floor = (list: Sample[], key: "rssMB" | "heapUsedMB") => Math.min(...list.map((s) => s[key]));
    const early = samples.slice(0, quarter);
    const late = samples.slice(-quarter);
    const floors = {
      heapUsedMB: { first: floor(early, "heapUsedMB"), last: floor(late, "heapUsedMB") },
      rssMB: { first: floor(early, "rssMB"), last: floor(late, "rssMB") },
    };
    // Retention applies to the steady load from its period plus a minute (three passes of pruning) after the rollout completed.
    const appliesAt = ((completedAt ?? measuredFrom) - startedAt) / 1000 + KEEP_MINUTES * 60 + 60;
    const retained = samples.filter((s) => s.atSeconds >= appliesAt);
    const earlyRetained = retained.slice(0, Math.max(1, Math.floor(retained.length / 2)));
    const lateRetained = retained.slice(Math.floor(retained.length / 2));
    const retention = retained.length === 0 ? null : {
      keepMinutes: KEEP_MINUTES,
      appliesAtSeconds: Math.round(appliesAt),
      rolloutCompletedAtSeconds: completedAt === null ? null : Math.round((completedAt - startedAt) / 1000),
      // What grew in the window, biggest first (kB).
      tablesGrewKB: Object.fromEntries(
        Object.entries(retained.at(-1)!.tablesKB)
          .map(([name, kb]) => [name, kb - (retained[0].tablesKB[name] ?? 0)] as const)
          .filter(([, kb]) => kb !== 0)
          .sort((a, b) => b[1] - a[1]),
      ),
      databaseMB: { firstHalfMax: Math.max(...earlyRetained.map((s) => s.databaseMB)), secondHalfMax: Math.max(...lateRetained.map((s) => s.databaseMB)), beforeRollout: first.databaseMB },
      prunedRows: { firstHalfMax: Math.max(...earlyRetained.map((s) => s.prunedRows)), secondHalfMax: Math.max(...lateRetained.map((s) => s.prunedRows)), peak: Math.max(...samples.map((s) => s.prunedRows)) },
    };
    const requests = last.requests - first.requests;
    const seconds = last.atSeconds - first.atSeconds;
    const result = {
      machines: MACHINES,
      intervalSeconds: INTERVAL,
      minutes: MINUTES,
      requestsInWindow: requests,
      requestsPerSecond: Math.round(requests / Math.max(1, seconds)),
      // From the end of the warm-up to the end of the run.
      status5xx: last.status5xx - warmUp.status5xx,
      status4xx: last.status4xx - warmUp.status4xx,
      fleetErrors: fleetErrors - warmUp.fleetErrors,
      consoleErrorLines: consoleErrorLines - warmUp.consoleErrorLines,
      // While 2,000 machines enrolled at once, and during the warm-up: 503s
      // ("busy, retry later") are the console shedding the burst.
      enrollmentPhase: warmUp,
      rollout: state,
      machinesOnNewRelease: updated,
      memory: {
        start: { rssMB: first.rssMB, heapUsedMB: first.heapUsedMB },
        end: { rssMB: last.rssMB, heapUsedMB: last.heapUsedMB },
        peakRssMB: peakRss,
        floorsFirstAndLastQuarter: floors,
      },
      retention,
      lastFleetLine,
      samples,
    };
    const failures = [
      result.status5xx > 0 && `${result.status5xx} answers were 5xx`,
      result.fleetErrors > 0 && `the agents saw ${result.fleetErrors} errors`,
      result.consoleErrorLines > 0 && `the console logged ${result.consoleErrorLines} error lines`,
      state !== "completed" && `the rollout is ${state}, not completed`,
      floors.heapUsedMB.last > floors.heapUsedMB.first * 1.25 + 5 && `the heap's floor grew from ${floors.heapUsedMB.first} to ${floors.heapUsedMB.last} MB`,
      floors.rssMB.last > floors.rssMB.first * 1.25 + 5 && `the resident set's floor grew from ${floors.rssMB.first} to ${floors.rssMB.last} MB`,
      !retention && `the run ended before retention applied to the steady load (${Math.round(appliesAt)} s): run longer than the rollout plus SOAK_KEEP_MINUTES + 1`,
      retention && retention.databaseMB.secondHalfMax > retention.databaseMB.firstHalfMax * 1.25 + 2 &&
        `the database grew from ${retention.databaseMB.firstHalfMax} to ${retention.databaseMB.secondHalfMax} MB after retention applied`,
      retention && retention.prunedRows.secondHalfMax > retention.prunedRows.firstHalfMax * 1.25 &&
        `the pruned tables grew from ${retention.prunedRows.firstHalfMax} to ${retention.prunedRows.secondHalfMax} rows after retention applied`,
    ].filter(Boolean);
    console.log(
      `\nsoak: enrolling and warming up: ${warmUp.status5xx} 5xx, ${warmUp.status4xx} 4xx, ${warmUp.fleetErrors} agent errors, ${warmUp.consoleErrorLines} console error lines\n` +
        `soak: after: ${requests} agent requests in ${seconds} s (${result.requestsPerSecond}/s), ${result.status5xx} 5xx, ${result.status4xx} 4xx (409 slot waits not counted), ` +
        `${result.fleetErrors} agent errors, ${result.consoleErrorLines} console error lines; rollout ${state}, ${updated}/${MACHINES} machines on version ${NEXT.version}; ` +
        `console RSS ${first.rssMB} → ${last.rssMB} MB (peak ${peakRss}; floor ${floors.rssMB.first} → ${floors.rssMB.last}), ` +
        `heap ${first.heapUsedMB} → ${last.heapUsedMB} MB (floor ${floors.heapUsedMB.first} → ${floors.heapUsedMB.last})` +
        (retention
          ? `; retention (${KEEP_MINUTES} min) applied at ${retention.appliesAtSeconds} s: database at most ${retention.databaseMB.firstHalfMax} → at most ${retention.databaseMB.secondHalfMax} MB, pruned tables at most ${retention.prunedRows.firstHalfMax} → at most ${retention.prunedRows.secondHalfMax} rows (peak ${retention.prunedRows.peak}); grew in the window (kB): ${JSON.stringify(retention.tablesGrewKB)}`
          : ""),
    );
    fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
    const file = path.join(root, `bench/results/soak-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(`soak: figures in ${path.relative(root, file)}`);
    if (failures.length) {
      const kept = file.replace(/\.json$/, "-console.log");
      fs.copyFileSync(path.join(scratch, "console.log"), kept);
      console.error(`soak FAILED: ${failures.join("; ")} (the console's log is in ${path.relative(root, kept)})`);
      process.exitCode = 1;
    } else {
      console.log("soak passed");
    }
  } finally {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(30_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
