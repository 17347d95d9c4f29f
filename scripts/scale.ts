// `npm run scale`: many simulated machines against three console processes
// behind HAProxy on one PostgreSQL database, all on this machine, through a
// three-ring rollout (canary 1 %, beta 9 %, stable 90 %). Not a test and not
// in CI: it measures, for docs/scaling.md.
//
// It creates a fresh database (TEST_DATABASE_URL's server, default the local
// one), starts three consoles (server/main.ts under tsx) and Debian's haproxy
// with deploy/haproxy/haproxy.cfg plus a third server line, creates the rings,
// two releases and an enrollment token per ring, then SCALE_FLEETS fleet
// processes (agent/src/fleet/main.ts; default: one per core) that share the
// machines. Once every machine has enrolled and reported, and after a
// warm-up, it starts the rollout and samples every 10 s until it completes:
//
// - each replica's /metrics: agent requests by route and status, the
//   check-in latency histogram (p50/p99 interpolated within its buckets, as
//   Prometheus' histogram_quantile does), its CPU seconds;
// - PostgreSQL's CPU: utime + stime from /proc/<pid>/stat of every backend
//   pg_stat_activity lists for this database (the consoles' connections and
//   autovacuum workers on it; the server's shared processes, WAL writer and
//   checkpointer, are not counted: other databases share them); a backend
//   first seen during the window counts from its first sample;
// - pg_stat_database's commits and rows written, connections by application;
// - 5xx: from the consoles' counters and the fleets' error counters (which
//   also see HAProxy's own 502/503/504 and refused connections).
//
// At the end it prints a table (and bench/results/scale-<time>.json) with the
// rollout's duration beside the sum of its soaks, and the tables' sizes per
// machine. Processes and the database are removed on exit, error or Ctrl-C;
// a first Ctrl-C while the rollout runs ends it there and prints its figures so far.
//
// Environment: SCALE_MACHINES (100000), SCALE_FLEETS (os.availableParallelism()),
// SCALE_INTERVAL (rings' check-in interval, s; 300), SCALE_BUSY_INTERVAL
// (ORCHARD_BUSY_INTERVAL, s; 10), ORCHARD_WAVE_CHECKINS (passed on; 500), ORCHARD_WAVE_STARTS
// (passed on; 50), ORCHARD_WAVE_AT_WORK (passed on; 1000), SCALE_FLEET_NICE (the fleets' niceness; 10), SCALE_SOAK_SECONDS (30), SCALE_WAVES
// ("10,50,100"), SCALE_RAMP_SECONDS (agents start spread over this; machines
// / 100), SCALE_WARMUP_SECONDS (30), SCALE_TIMEOUT_MINUTES (for enrollment
// and for the rollout, each; 60), SCALE_AGENT_POOL / SCALE_CONSOLE_POOL
// (each replica's ORCHARD_DB_AGENT_POOL / ORCHARD_DB_POOL; 6 / 3, as the
// local server allows 100 connections for every worker on it).
// Run it niced on a shared machine: `nice -n 5 npm run scale`.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { DEFAULT_WAVE_CHECKINS } from "../server/agents/desired";
import { cliActor } from "../server/audit/audit";
import { openDatabase } from "../server/db/client";
import { migrate } from "../server/db/migrate";
import { createEnrollmentToken } from "../server/enrollment/enrollment-tokens";
import { addRelease } from "../server/releases/releases";
import { createRing, setRingRelease } from "../server/rings/rings";
import { DEFAULT_WAVE_AT_WORK, DEFAULT_WAVE_STARTS, rampSecondsFor } from "../server/rollouts/ramp";
import { getRollout, startRollout } from "../server/rollouts/rollouts";

const env = process.env;
const MACHINES = Number(env.SCALE_MACHINES ?? 100_000);
const FLEETS = Number(env.SCALE_FLEETS ?? os.availableParallelism());
const INTERVAL = Number(env.SCALE_INTERVAL ?? 300);
const BUSY_INTERVAL = Number(env.SCALE_BUSY_INTERVAL ?? 10);
// An open wave's updated machines share this many check-ins a second (the consoles read it from the environment).
const WAVE_CHECKINS = Number(env.ORCHARD_WAVE_CHECKINS ?? DEFAULT_WAVE_CHECKINS);
// An opening wave's machines start this many a second (the consoles read it from the environment).
const WAVE_STARTS = Number(env.ORCHARD_WAVE_STARTS ?? DEFAULT_WAVE_STARTS);
const WAVE_AT_WORK = Number(env.ORCHARD_WAVE_AT_WORK ?? DEFAULT_WAVE_AT_WORK);
const FLEET_NICE = Number(env.SCALE_FLEET_NICE ?? 10);
const SOAK_SECONDS = Number(env.SCALE_SOAK_SECONDS ?? 30);
const WAVES = (env.SCALE_WAVES ?? "10,50,100").split(",").map(Number);
const RAMP_SECONDS = Number(env.SCALE_RAMP_SECONDS ?? Math.max(10, Math.round(MACHINES / 100)));
const WARMUP_SECONDS = Number(env.SCALE_WARMUP_SECONDS ?? 30);
const TIMEOUT_MS = Number(env.SCALE_TIMEOUT_MINUTES ?? 60) * 60_000;
const AGENT_POOL = Number(env.SCALE_AGENT_POOL ?? 6);
const CONSOLE_POOL = Number(env.SCALE_CONSOLE_POOL ?? 3);
const REPLICAS = 3;
const SAMPLE_MS = 10_000;

for (const [name, value, min] of [
  ["SCALE_MACHINES", MACHINES, 3],
  ["SCALE_FLEETS", FLEETS, 1],
  ["SCALE_INTERVAL", INTERVAL, 5],
  ["SCALE_BUSY_INTERVAL", BUSY_INTERVAL, 1],
  ["SCALE_SOAK_SECONDS", SOAK_SECONDS, 0],
  ["SCALE_RAMP_SECONDS", RAMP_SECONDS, 1],
  ["SCALE_WARMUP_SECONDS", WARMUP_SECONDS, 0],
  ["SCALE_TIMEOUT_MINUTES", TIMEOUT_MS, 1],
  ["SCALE_AGENT_POOL", AGENT_POOL, 1],
  ["SCALE_CONSOLE_POOL", CONSOLE_POOL, 1],
] as const) {
  if (!Number.isInteger(value) || value < min) {
    console.error(`scale: ${name} must be a whole number of at least ${min}`);
    process.exit(2);
  }
}
if (WAVES.some((w) => !Number.isInteger(w) || w < 1 || w > 100) || WAVES.at(-1) !== 100) {
  console.error("scale: SCALE_WAVES must be percentages 1 to 100, comma-separated, ending at 100");
  process.exit(2);
}

const root = path.resolve(import.meta.dirname, "..");
const baseUrl = env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const METRICS_TOKEN = "scale-metrics-token-0123456789";
const REF = "exampleos/x86_64/stable";
const FACTORY = { ref: REF, checksum: "1".repeat(64), version: "1" };
const NEXT = { ref: REF, checksum: "2".repeat(64), version: "2" };
const RINGS = [
  { name: "canary", share: 0.01 },
  { name: "beta", share: 0.09 },
  { name: "stable", share: 0.9 },
];
const CHECKIN = "POST /checkin";
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** CPU seconds a process has used (user + system), or null once it is gone. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

// ---- Prometheus text -------------------------------------------------------

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z0-9_:]+)(?:\{([^}]*)\})? ([0-9.e+-]+|\+Inf|NaN)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? "").matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) labels[pair[1]] = pair[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

interface ReplicaSample {
  /** Agent requests by `route status`. */
  requests: Record<string, number>;
  /** The check-in latency histogram: cumulative counts by upper bound (s). */
  checkinBuckets: [number, number][];
  cpuSeconds: number;
  rssMB: number;
}

async function replicaSample(port: number): Promise<ReplicaSample> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` }, signal: AbortSignal.timeout(30_000) });
  const series = parseMetrics(await res.text());
  const requests: Record<string, number> = {};
  const buckets: [number, number][] = [];
  let cpu = 0;
  let rss = 0;
  for (const s of series) {
    if (s.name === "orchard_agent_requests_total") requests[`${s.labels.route} ${s.labels.status}`] = s.value;
    else if (s.name === "orchard_agent_request_duration_seconds_bucket" && s.labels.route === CHECKIN) {
      buckets.push([s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value]);
    } else if (s.name === "process_cpu_seconds_total") cpu = s.value;
    else if (s.name === "process_resident_memory_bytes") rss = s.value / 1e6;
  }
  buckets.sort((a, b) => a[0] - b[0]);
  return { requests, checkinBuckets: buckets, cpuSeconds: cpu, rssMB: round(rss) };
}

/** A quantile of the observations between two cumulative histograms, interpolated within its bucket. */
function quantile(q: number, before: [number, number][], after: [number, number][]): number | null {
  const counts = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)] as [number, number]);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, n] of counts) {
    if (n >= rank) {
      if (le === Infinity) return lowerBound;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / Math.max(1, n - lowerCount);
    }
    lowerBound = le;
    lowerCount = n;
  }
  return lowerBound;
}

const sumWhere = (requests: Record<string, number>, test: (route: string, status: string) => boolean) =>
  Object.entries(requests).reduce((sum, [key, n]) => {
    const at = key.lastIndexOf(" ");
    return test(key.slice(0, at), key.slice(at + 1)) ? sum + n : sum;
  }, 0);

// ---- PostgreSQL -------------------------------------------------------------

interface DatabaseSample {
  /** CPU seconds of each backend on this database, by pid. */
  backends: Map<number, number>;
  commits: number;
  inserted: number;
  updated: number;
  deleted: number;
  /** Connections on this database by application_name. */
  connections: Record<string, number>;
}

async function databaseSample(client: pg.Client, dbName: string): Promise<DatabaseSample> {
  const activity = await client.query<{ pid: number; app: string }>(
    "SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS app FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [dbName],
  );
  const backends = new Map<number, number>();
  const connections: Record<string, number> = {};
  for (const row of activity.rows) {
    const cpu = cpuSeconds(row.pid);
    if (cpu !== null) backends.set(row.pid, cpu);
    connections[row.app] = (connections[row.app] ?? 0) + 1;
  }
  const stats = await client.query<{ c: string; i: string; u: string; d: string }>(
    "SELECT xact_commit AS c, tup_inserted AS i, tup_updated AS u, tup_deleted AS d FROM pg_stat_database WHERE datname = $1",
    [dbName],
  );
  const s = stats.rows[0];
  return { backends, commits: Number(s.c), inserted: Number(s.i), updated: Number(s.u), deleted: Number(s.d), connections };
}

/** CPU seconds PostgreSQL's backends on this database used between the samples. */
function databaseCpu(samples: DatabaseSample[]): number {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  for (const sample of samples) {
    for (const [pid, cpu] of sample.backends) {
      if (!first.has(pid)) first.set(pid, cpu);
      last.set(pid, cpu);
    }
  }
  let sum = 0;
  for (const [pid, cpu] of last) sum += cpu - first.get(pid)!;
  return sum;
}

const TABLES = ["machines", "machines_counted", "machine_tokens", "machine_changes", "agent_events", "rollout_machines"];

async function tableFigures(client: pg.Client) {
  const out: Record<string, { rows: number; totalMB: number; bytesPerMachine: number }> = {};
  for (const table of TABLES) {
    const { rows } = await client.query<{ n: string; size: string }>(
      `SELECT (SELECT count(*) FROM ${table}) AS n, pg_total_relation_size('${table}') AS size`,
    );
    out[table] = { rows: Number(rows[0].n), totalMB: round(Number(rows[0].size) / 1e6, 1), bytesPerMachine: round(Number(rows[0].size) / MACHINES) };
  }
  return out;
}

// ---- the run ----------------------------------------------------------------

const children: ChildProcess[] = [];
let admin: pg.Client | null = null;
let dbName = "";
let scratch = "";
let cleaning: Promise<void> | null = null;
/** Connections of this script's own, closed before the database is dropped. */
const closers: (() => Promise<unknown>)[] = [];

function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const close of closers.splice(0)) await close().catch(() => {});
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await Promise.race([exited, sleep(20_000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }),
    );
    if (admin && dbName) {
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch((error: Error) => console.error(`scale: could not drop ${dbName}: ${error.message}`));
      await admin.end().catch(() => {});
    }
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  })();
  return cleaning;
}

/** Set by Ctrl-C or SIGTERM. */
let stopping = false;
/** While the rollout is sampled, the first Ctrl-C or SIGTERM ends its window instead: its figures so far are printed. */
const rolloutWindow = { open: false, endAsked: false };

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (rolloutWindow.open && !rolloutWindow.endAsked) {
      rolloutWindow.endAsked = true;
      console.error(`\nscale: ${signal}: the rollout's window ends at the next sample and its figures so far are printed; ${signal} again stops at once`);
      return;
    }
    // A second Ctrl-C, or removing 100,000 state folders on a loaded machine: do not wait for ever.
    if (stopping) process.exit(130);
    console.error(`\nscale: ${signal}: stopping the fleets, consoles and HAProxy, dropping ${dbName || "the database"}`);
    // A run stopped by hand keeps its logs, as one that failed does: they say how far it got.
    stopping = true;
    if (scratch) console.error(`scale: logs kept in ${keepLogs(logsFolder())}`);
    void cleanUp().then(() => process.exit(130));
  });
}

function spawnLogged(name: string, command: string, args: string[], childEnv: Record<string, string>, onLine?: (line: string) => void) {
  const log = fs.createWriteStream(path.join(scratch, `${name}.log`));
  const child = spawn(command, args, { cwd: root, env: { ...env, ...childEnv }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let rest = "";
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    if (!onLine) return;
    const text = rest + chunk.toString("utf8");
    const lines = text.split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  return child;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 500) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Splits `count` into `parts` whole shares, as even as can be. */
const split = (count: number, parts: number) => Array.from({ length: parts }, (_, i) => Math.floor(count / parts) + (i < count % parts ? 1 : 0));

async function main() {
  dbName = `orchard_scale_${process.pid}_${Date.now().toString(36)}`;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "orchard-scale-"));
  admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  const url = new URL(baseUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    await migrate(pool, databaseUrl);
    await pool.end();
  }
  const load = () => os.loadavg().map((n) => n.toFixed(2)).join(" ");
  console.log(
    `scale: ${MACHINES} machines in ${FLEETS} fleet processes, ${REPLICAS} consoles behind HAProxy, database ${dbName}; ` +
      `check-in every ${INTERVAL} s (busy ${BUSY_INTERVAL} s, an open wave's updated machines ${WAVE_CHECKINS}/s, its starts ${WAVE_STARTS}/s while fewer than ${WAVE_AT_WORK} are at work), starts spread over ${RAMP_SECONDS} s, fleets at nice ${FLEET_NICE}; ` +
      `pools per console: agent ${AGENT_POOL}, console ${CONSOLE_POOL}; load average ${load()} on ${os.availableParallelism()} cores`,
  );

  // The consoles.
  const ports: number[] = [];
  const consoleErrors = [0, 0, 0];
  for (let i = 0; i < REPLICAS; i++) {
    const port = await freePort();
    ports.push(port);
    fs.mkdirSync(path.join(scratch, `console-${i + 1}`));
    spawnLogged(
      `console-${i + 1}`,
      process.execPath,
      ["--import", "tsx", path.join(root, "server/main.ts")],
      {
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        HOST: "127.0.0.1",
        NODE_ENV: "production",
        ORCHARD_DATA_DIR: path.join(scratch, `console-${i + 1}`),
        ORCHARD_SECRET: "s".repeat(40),
        ORCHARD_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
        ORCHARD_SERVE_PAGES: "false",
        ORCHARD_DEMO_AGENTS: "0",
        ORCHARD_METRICS_TOKEN: METRICS_TOKEN,
        ORCHARD_BUSY_INTERVAL: String(BUSY_INTERVAL),
        ORCHARD_WAVE_CHECKINS: String(WAVE_CHECKINS),
        ORCHARD_WAVE_STARTS: String(WAVE_STARTS),
        ORCHARD_WAVE_AT_WORK: String(WAVE_AT_WORK),
        ORCHARD_DB_AGENT_POOL: String(AGENT_POOL),
        ORCHARD_DB_POOL: String(CONSOLE_POOL),
        ORCHARD_TRUSTED_PROXIES: "127.0.0.1",
        // One enrollment token per ring for the whole simulated fleet: its enrollment burst is the point.
        ORCHARD_ENROLL_RATE_PER_TOKEN: "0",
        LOG_LEVEL: "warn",
      },
      (line) => {
        if (/"level":(50|60)/.test(line)) consoleErrors[i]++;
      },
    );
  }
  await Promise.all(
    ports.map((port) =>
      waitUntil(`console on port ${port} to answer /readyz`, async () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false), 120_000),
    ),
  );

  // HAProxy: the repository's configuration with a third server line.
  const config = fs.readFileSync(path.join(root, "deploy/haproxy/haproxy.cfg"), "utf8");
  const second = config.split("\n").find((line) => /^\s*server console-2 /.test(line));
  if (!second) throw new Error("deploy/haproxy/haproxy.cfg has no `server console-2` line to add a third beside");
  const third = second.replace("console-2", "console-3").replace("ORCHARD_CONSOLE_2-console-2:3000", "ORCHARD_CONSOLE_3");
  const configFile = path.join(scratch, "haproxy.cfg");
  // Logging every request of 100,000 machines would cost more than serving them.
  fs.writeFileSync(configFile, config.replace(second, `${second}\n${third}`).replace("    log global\n", "    no log\n"));
  const haproxyPort = await freePort();
  spawnLogged("haproxy", "haproxy", ["-f", configFile], {
    ORCHARD_HAPROXY_BIND: `127.0.0.1:${haproxyPort}`,
    ORCHARD_CONSOLE_1: `127.0.0.1:${ports[0]}`,
    ORCHARD_CONSOLE_2: `127.0.0.1:${ports[1]}`,
    ORCHARD_CONSOLE_3: `127.0.0.1:${ports[2]}`,
  });
  const server = `http://127.0.0.1:${haproxyPort}`;
  await waitUntil("HAProxy to answer /readyz", async () => fetch(`${server}/readyz`).then((r) => r.ok, () => false), 30_000);

  // Rings, releases, enrollment tokens.
  const db = await openDatabase({ databaseUrl, dataDir: scratch, migrate: false });
  closers.push(() => db.close());
  const prisma = db.prisma;
  await addRelease(prisma, cliActor, FACTORY);
  await addRelease(prisma, cliActor, NEXT);
  const perFleet: string[][] = Array.from({ length: FLEETS }, () => []);
  let assigned = 0;
  for (const [i, ring] of RINGS.entries()) {
    const count = i === RINGS.length - 1 ? MACHINES - assigned : Math.max(1, Math.round(MACHINES * ring.share));
    assigned += count;
    await createRing(prisma, cliActor, { name: ring.name, branch: REF, rebootSlots: Math.min(10_000, count), checkInIntervalSeconds: INTERVAL });
    await setRingRelease(prisma, cliActor, { ring: ring.name, version: FACTORY.version });
    const { token } = await createEnrollmentToken(prisma, cliActor, { name: `scale-${ring.name}`, ring: ring.name });
    for (const [f, share] of split(count, FLEETS).entries()) if (share > 0) perFleet[f].push(`${token}:${share}`);
  }

  // The fleets.
  const fleetErrors: { at: number; errors: number }[] = [];
  const fleetLast: string[] = [];
  // Sim agents that ended on an error they do not retry, per fleet (its summary line's "N failed").
  const fleetFailed: number[] = [];
  const fleetPids: number[] = [];
  for (let f = 0; f < FLEETS; f++) {
    if (perFleet[f].length === 0) continue;
    // Below the consoles and PostgreSQL in the scheduler (SCALE_FLEET_NICE): on
    // a real fleet every agent has a machine of its own, and here the
    // simulator costs about as much CPU as the consoles it measures.
    const child = spawnLogged(
      `fleet-${f + 1}`,
      "nice",
      [
        "-n", String(FLEET_NICE),
        process.execPath,
        "--import", "tsx", path.join(root, "agent/src/fleet/main.ts"),
        "--server", server,
        "--state-dir", path.join(scratch, `fleet-${f + 1}`),
        "--name-prefix", `scale${f + 1}`,
        "--interval", String(RAMP_SECONDS),
        "--stage-seconds", "5",
        "--reboot-seconds", "3",
        "--health-grace", "5",
        "--factory-ref", FACTORY.ref,
        "--factory-checksum", FACTORY.checksum,
        "--factory-version", FACTORY.version,
        // Warnings are what a sim agent says when a request or a step fails:
        // the fleet's error count, with its reasons, in fleet-N.log.
        "--log-level", "warn",
      ],
      { ORCHARD_FLEET_TOKENS: perFleet[f].join(",") },
      (line) => {
        const errors = /· (\d+) errors ·/.exec(line);
        if (errors) {
          fleetErrors.push({ at: Date.now(), errors: Number(errors[1]) });
          fleetLast[f] = line;
          fleetFailed[f] = Number(/(\d+) failed/.exec(line)?.[1] ?? 0);
        }
      },
    );
    fleetPids.push(child.pid!);
  }

  const client = new pg.Client({ connectionString: databaseUrl, application_name: "orchard-scale-sampler" });
  client.on("error", () => {});
  await client.connect();
  closers.push(() => client.end());
  const startedAt = Date.now();
  let lastPrint = 0;
  await waitUntil(
    `all ${MACHINES} machines to enroll and report`,
    async () => {
      const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM machines WHERE booted_checksum = $1", [FACTORY.checksum]);
      if (Date.now() - lastPrint > 30_000) {
        lastPrint = Date.now();
        const failed = fleetFailed.reduce((sum, n) => sum + (n ?? 0), 0);
        console.log(
          `  ${round((Date.now() - startedAt) / 1000)} s: ${rows[0].n} of ${MACHINES} machines reporting` +
            `${failed ? `; ${failed} sim agents failed (the fleets' logs say why)` : ""}; load ${load()}`,
        );
      }
      return rows[0].n === MACHINES;
    },
    TIMEOUT_MS,
    5000,
  );
  const enrolledSeconds = round((Date.now() - startedAt) / 1000);
  const enrolling = await Promise.all(ports.map(replicaSample));
  console.log(`scale: all ${MACHINES} machines enrolled and reporting after ${enrolledSeconds} s; warming up ${WARMUP_SECONDS} s`);
  await sleep(WARMUP_SECONDS * 1000);

  // The measured window: the rollout, from its start to its completion.
  const replicaStart = await Promise.all(ports.map(replicaSample));
  const databaseSamples = [await databaseSample(client, dbName)];
  const fleetCpuStart = fleetPids.map((pid) => cpuSeconds(pid) ?? 0);
  const windowStart = Date.now();
  const rollout = await startRollout(prisma, cliActor, {
    version: NEXT.version,
    rings: RINGS.map((r) => r.name),
    waves: WAVES,
    soakSeconds: SOAK_SECONDS,
    maxFailureRate: 0.05,
    minSample: 5,
    // A machine learns that its wave opened at its next idle check-in, up to
    // an interval later: a deadline under the interval would judge healthy
    // machines dark. Three intervals, as "online" is counted.
    darkAfterSeconds: Math.max(600, 3 * INTERVAL),
  });
  console.log(`scale: rollout of version ${NEXT.version} started across ${RINGS.map((r) => r.name).join(" → ")}, waves ${WAVES.join("/")} %, soak ${SOAK_SECONDS} s`);
  console.log("    at s  check-ins/s per replica     5xx  fleet errors  PG CPU %  load        rollout");
  let previous = replicaStart;
  let previousAt = windowStart;
  let state = rollout.state;
  let rings = "";
  rolloutWindow.open = true;
  for (;;) {
    await sleep(SAMPLE_MS);
    const now = Date.now();
    const current = await Promise.all(ports.map(replicaSample));
    databaseSamples.push(await databaseSample(client, dbName));
    const r = await getRollout(prisma, rollout.id);
    state = r.state;
    rings = r.rings.map((ring) => `${ring.ring.name} ${ring.phase}:${ring.currentWave ?? 0}`).join(", ");
    const rates = current.map((c, i) => round((sumWhere(c.requests, (route) => route === CHECKIN) - sumWhere(previous[i].requests, (route) => route === CHECKIN)) / ((now - previousAt) / 1000)));
    const fiveXX = current.reduce((sum, c, i) => sum + sumWhere(c.requests, (_, s) => s.startsWith("5")) - sumWhere(replicaStart[i].requests, (_, s) => s.startsWith("5")), 0);
    const errors = fleetErrors.filter((e) => e.at >= windowStart).reduce((sum, e) => sum + e.errors, 0);
    const pgCpu = round((100 * databaseCpu(databaseSamples.slice(-2))) / ((now - previousAt) / 1000));
    console.log(
      `  ${String(round((now - windowStart) / 1000)).padStart(6)}  ${rates.map((n) => String(n).padStart(7)).join(" ")}   ${String(fiveXX).padStart(8)}  ${String(errors).padStart(12)}  ${String(pgCpu).padStart(8)}  ${os.loadavg()[0].toFixed(2).padStart(5)}  ${state}: ${rings}`,
    );
    previous = current;
    previousAt = now;
    if (state === "completed" || state === "aborted" || state === "reverted" || state === "paused") break;
    if (now - windowStart > TIMEOUT_MS) {
      // The figures so far are still figures: print them, and say the rollout did not finish.
      console.log(`scale: the rollout did not complete in ${TIMEOUT_MS / 60_000} minutes (${state}: ${rings}); figures up to now`);
      break;
    }
    if (rolloutWindow.endAsked) {
      console.log(`scale: stopped by hand after ${round((now - windowStart) / 1000)} s of the rollout (${state}: ${rings}); figures up to now`);
      break;
    }
  }
  rolloutWindow.open = false;
  const windowEnd = Date.now();
  const seconds = (windowEnd - windowStart) / 1000;
  const final = await getRollout(prisma, rollout.id);
  const soaks = final.rings.reduce((sum, ring) => sum + ring.waves.length * ring.soakSeconds, 0);
  // Each wave starts its new machines over time (rollouts/ramp.ts): the least the rollout can take beside its soaks.
  const ramps = RINGS.reduce(
    (sum, ring) => sum + WAVES.reduce((s, percent, i) => s + rampSecondsFor(Math.ceil(MACHINES * ring.share * (percent - (WAVES[i - 1] ?? 0)) / 100), WAVE_STARTS), 0),
    0,
  );
  const replicaEnd = previous;
  const fleetCpu = fleetPids.map((pid, i) => (cpuSeconds(pid) ?? fleetCpuStart[i]) - fleetCpuStart[i]);
  const updated = (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM machines WHERE booted_checksum = $1", [NEXT.checksum])).rows[0].n;
  const tables = await tableFigures(client);
  const dbBytes = Number((await client.query<{ s: string }>("SELECT pg_database_size($1) AS s", [dbName])).rows[0].s);
  const firstDb = databaseSamples[0];
  const lastDb = databaseSamples.at(-1)!;
  const maxConnections: Record<string, number> = {};
  for (const s of databaseSamples) for (const [app, n] of Object.entries(s.connections)) maxConnections[app] = Math.max(maxConnections[app] ?? 0, n);
  const pgCpuSeconds = databaseCpu(databaseSamples);

  const replicas = ports.map((_, i) => {
    const a = replicaStart[i];
    const b = replicaEnd[i];
    const checkins = sumWhere(b.requests, (route) => route === CHECKIN) - sumWhere(a.requests, (route) => route === CHECKIN);
    const requests = sumWhere(b.requests, () => true) - sumWhere(a.requests, () => true);
    const cpu = b.cpuSeconds - a.cpuSeconds;
    return {
      replica: i + 1,
      checkinsPerSecond: round(checkins / seconds, 1),
      agentRequestsPerSecond: round(requests / seconds, 1),
      checkinP50Ms: round((quantile(0.5, a.checkinBuckets, b.checkinBuckets) ?? NaN) * 1000, 1),
      checkinP99Ms: round((quantile(0.99, a.checkinBuckets, b.checkinBuckets) ?? NaN) * 1000, 1),
      status5xx: sumWhere(b.requests, (_, s) => s.startsWith("5")) - sumWhere(a.requests, (_, s) => s.startsWith("5")),
      status4xx: sumWhere(b.requests, (_, s) => s.startsWith("4")) - sumWhere(a.requests, (_, s) => s.startsWith("4")),
      cpuPercent: round((100 * cpu) / seconds, 1),
      cpuMsPerRequest: round((1000 * cpu) / Math.max(1, requests), 2),
      rssMB: b.rssMB,
      errorLogLines: consoleErrors[i],
    };
  });
  // What an update costs the consoles: the window's agent requests by route, beside the machines it updated.
  const byRoute: Record<string, number> = {};
  for (const [i, b] of replicaEnd.entries()) {
    for (const [key, n] of Object.entries(b.requests)) {
      const route = key.slice(0, key.lastIndexOf(" "));
      byRoute[route] = (byRoute[route] ?? 0) + n - (replicaStart[i].requests[key] ?? 0);
    }
  }
  const enrollment5xx = enrolling.reduce((sum, s) => sum + sumWhere(s.requests, (_, st) => st.startsWith("5")), 0);
  const windowFleetErrors = fleetErrors.filter((e) => e.at >= windowStart && e.at <= windowEnd + SAMPLE_MS).reduce((sum, e) => sum + e.errors, 0);
  const result = {
    machines: MACHINES,
    fleets: FLEETS,
    intervalSeconds: INTERVAL,
    busyIntervalSeconds: BUSY_INTERVAL,
    waveCheckinsPerSecond: WAVE_CHECKINS,
    waveStartsPerSecond: WAVE_STARTS,
    waveAtWork: WAVE_AT_WORK,
    fleetNice: FLEET_NICE,
    rampSeconds: RAMP_SECONDS,
    pools: { agent: AGENT_POOL, console: CONSOLE_POOL },
    cores: os.availableParallelism(),
    loadAverageAtEnd: os.loadavg().map((n) => round(n, 2)),
    enrolledAfterSeconds: enrolledSeconds,
    enrollmentsPerSecond: round(MACHINES / enrolledSeconds, 1),
    enrollment5xx,
    rollout: {
      state: final.state,
      waves: WAVES,
      soakSeconds: SOAK_SECONDS,
      durationSeconds: round(seconds),
      sumOfSoaksSeconds: soaks,
      sumOfRampsSeconds: ramps,
      rings: final.rings.map((ring) => ({
        name: ring.ring.name,
        waves: ring.waves.length,
        seconds: ring.startedAt && ring.completedAt ? round((ring.completedAt.getTime() - ring.startedAt.getTime()) / 1000) : null,
      })),
      machinesOnNewRelease: updated,
      agentRequestsByRoute: byRoute,
    },
    window: {
      seconds: round(seconds),
      replicas,
      status5xx: replicas.reduce((sum, r) => sum + r.status5xx, 0),
      fleetErrors: windowFleetErrors,
      fleetCpuPercent: fleetCpu.map((c) => round((100 * c) / seconds, 1)),
      postgres: {
        cpuPercent: round((100 * pgCpuSeconds) / seconds, 1),
        cpuMsPerCheckin: round((1000 * pgCpuSeconds) / Math.max(1, replicas.reduce((sum, r) => sum + r.checkinsPerSecond, 0) * seconds), 3),
        commitsPerSecond: round((lastDb.commits - firstDb.commits) / seconds, 1),
        rowsInsertedPerSecond: round((lastDb.inserted - firstDb.inserted) / seconds, 1),
        rowsUpdatedPerSecond: round((lastDb.updated - firstDb.updated) / seconds, 1),
        rowsDeletedPerSecond: round((lastDb.deleted - firstDb.deleted) / seconds, 1),
        connectionsMax: maxConnections,
      },
    },
    database: { totalMB: round(dbBytes / 1e6, 1), bytesPerMachine: round(dbBytes / MACHINES), tables },
    lastFleetLines: fleetLast,
  };

  const pad = (s: unknown, n: number) => String(s).padStart(n);
  console.log(`\nscale: ${MACHINES} machines, ${FLEETS} fleets, 3 replicas, check-in every ${INTERVAL} s; the rollout's window ${round(seconds)} s; load average ${os.loadavg().map((n) => n.toFixed(2)).join(" ")}`);
  console.log("  replica  check-ins/s  agent req/s  p50 ms  p99 ms   5xx   4xx  CPU %  CPU ms/req  RSS MB");
  for (const r of replicas) {
    console.log(
      `  ${pad(r.replica, 7)}  ${pad(r.checkinsPerSecond, 11)}  ${pad(r.agentRequestsPerSecond, 11)}  ${pad(r.checkinP50Ms, 6)}  ${pad(r.checkinP99Ms, 6)}  ${pad(r.status5xx, 4)}  ${pad(r.status4xx, 4)}  ${pad(r.cpuPercent, 5)}  ${pad(r.cpuMsPerRequest, 10)}  ${pad(r.rssMB, 6)}`,
    );
  }
  const pgFig = result.window.postgres;
  console.log(
    `  PostgreSQL (backends on this database): CPU ${pgFig.cpuPercent} % of a core (${pgFig.cpuMsPerCheckin} ms per check-in); ` +
      `${pgFig.commitsPerSecond} commits/s, rows/s inserted ${pgFig.rowsInsertedPerSecond}, updated ${pgFig.rowsUpdatedPerSecond}, deleted ${pgFig.rowsDeletedPerSecond}; ` +
      `connections at most ${JSON.stringify(pgFig.connectionsMax)}`,
  );
  console.log(`  fleets: CPU ${result.window.fleetCpuPercent.join(" % + ")} % of a core; errors in the window ${windowFleetErrors}`);
  console.log(`  5xx in the rollout's window: ${result.window.status5xx} (consoles) + ${windowFleetErrors} fleet errors; during enrollment: ${enrollment5xx} (consoles)`);
  console.log(`  rollout: ${final.state} in ${round(seconds)} s beside ${soaks} s of soaks (${final.rings.length} rings × waves ${WAVES.join("/")} % × ${SOAK_SECONDS} s) and ${ramps} s of ramps (${WAVE_STARTS} starts a second); ${updated} of ${MACHINES} machines on version ${NEXT.version}`);
  const routes = Object.entries(byRoute).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const total = routes.reduce((sum, [, n]) => sum + n, 0);
  const perUpdate = (n: number) => round(n / updated, 2);
  console.log(
    updated > 0
      ? `  agent requests in the window per machine on version ${NEXT.version}: ${perUpdate(total)} (${routes.map(([route, n]) => `${route} ${perUpdate(n)}`).join(", ")})`
      : `  agent requests in the window: ${total} (${routes.map(([route, n]) => `${route} ${n}`).join(", ")}), none on version ${NEXT.version}`,
  );
  console.log(`  rings: ${result.rollout.rings.map((ring) => `${ring.name} ${ring.seconds} s (${ring.waves} waves)`).join(", ")}`);
  console.log(`  enrolled and reporting after ${enrolledSeconds} s (${result.enrollmentsPerSecond}/s; starts spread over ${RAMP_SECONDS} s; 503s shed: ${enrollment5xx})`);
  console.log(`  database ${result.database.totalMB} MB (${result.database.bytesPerMachine} B per machine):`);
  for (const [table, t] of Object.entries(tables)) console.log(`    ${table.padEnd(18)} ${pad(t.rows, 9)} rows  ${pad(t.totalMB, 8)} MB  ${pad(t.bytesPerMachine, 6)} B per machine`);
  fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
  const file = path.join(root, `bench/results/scale-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(`scale: figures in ${path.relative(root, file)}`);
  const failures = [
    result.window.status5xx > 0 && `${result.window.status5xx} answers were 5xx`,
    windowFleetErrors > 0 && `the fleets saw ${windowFleetErrors} errors`,
    final.state !== "completed" && `the rollout is ${final.state} (${rings})${final.pauseReason ? `: ${final.pauseReason}` : ""}`,
  ].filter(Boolean);
  if (failures.length) {
    console.error(`scale: ${failures.join("; ")} (logs kept in ${keepLogs(file.replace(/\.json$/, "-logs"))})`);
    process.exitCode = 1;
  }
}

function logsFolder(): string {
  return path.join(root, `bench/results/scale-${new Date().toISOString().replace(/[:.]/g, "-")}-logs`);
}

/** Copies the consoles', fleets' and HAProxy's logs (not the fleets' machine folders) out of the scratch folder before it goes. */
function keepLogs(to: string): string {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.cpSync(scratch, to, { recursive: true, filter: (src) => !/fleet-\d+$/.test(path.dirname(src)) && !/\/fleet-\d+\//.test(src) });
  return path.relative(root, to);
}

try {
  await main();
} catch (error) {
  console.error(`scale: ${(error as Error).stack ?? error}`);
  // A run that stopped half way (machines that never enrolled, say) keeps its logs too: they say why.
  // (A run stopped by hand kept them already; what it was waiting for then fails as it stops.)
  if (scratch && !stopping) console.error(`scale: logs kept in ${keepLogs(logsFolder())}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
