// One browser tab cannot stall the fleet (issue 12, item 3). Signed-in
// viewers send the biggest tRPC batches the server accepts, of its most
// expensive reads, one after another as fast as they are answered, while
// agents check in (each check-in changes the machine's state, so every one
// needs a database connection). The console runs as its own process on a
// database of 40,000 machines. The same load runs twice on the same data:
// with the agent protocol's own pool (the default), then with
// ORCHARD_DB_AGENT_POOL=0 (one pool for all, as before the fix), and the
// test prints both.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { APPLICATION_NAMES, type Database, openDatabase } from "../../server/db/client";
import { createEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { MAX_BATCH_SIZE } from "../../server/trpc/batch";
import { createUser } from "../../server/users/users";
import { ProtocolMachines } from "../helpers/agent-http";
import { freshDatabaseUrl } from "../helpers/console";
import { type ConsoleProcess, consoleProcessSlot, killConsoleProcess, removeConsoleProcess, startConsoleProcess } from "../helpers/console-process";
import { adminUrl } from "../helpers/databases";
import { signedInCookie } from "../helpers/sessions";

const MACHINES = 40_000;
const AGENTS = 8;
/** Pause of each agent between its check-ins. */
const AGENT_PAUSE_MS = 100;
/** Browser tabs, each sending a batch of MAX_BATCH_SIZE heavy reads as soon as the last is answered. */
const TABS = 4;
const QUIET_MS = 3000;
const LOAD_MS = 8000;
/**
 * The bound, with separate pools: the slowest check-in under the load is
 * answered within 2 s. On this project's 2-core machines a check-in takes
 * 7-30 ms with the console idle and its slowest under this load 0.4 s, 0.7 s
 * with both cores also kept busy by two other processes; what it waits for
 * is its share of the CPU, not a connection. With one shared pool it waits
 * seconds, in the console's queue (the agent's request timeout is 30 s).
 */
const MAX_CHECKIN_MS = 2000;
/** The console process's session secret (test/helpers/console-process.ts). */
const SECRET = "c".repeat(40);

let db: Database;
let databaseUrl: string;
let slot: ConsoleProcess | null = null;
let stats: pg.Client;
let viewerCookie: string;
let enrollment: string;

beforeAll(async () => {
  databaseUrl = await freshDatabaseUrl();
  db = await openDatabase({ databaseUrl, dataDir: "/tmp", migrate: false });
  const ref = "exampleos/x86_64/stable";
  const ring = await createRing(db.prisma, cliActor, { name: "stable", branch: ref });
  await addRelease(db.prisma, cliActor, { ref, checksum: "1".repeat(64), version: "1" });
  await setRingRelease(db.prisma, cliActor, { ring: "stable", version: "1" });
  // Rows as wide as real ones: two deployments, a health check, a label.
  await db.pool.query(
    `INSERT INTO machines (id, machine_id, hostname, backend, agent_version, ring_id, booted_checksum, booted_version, booted_ref,
                           health_status, update_state, last_seen_at, last_seq, updated_at, cohort, deployments, health_checks, labels)
     SELECT 'm' || g, 'machine-' || md5(g::text), 'kiosk-' || lpad(g::text, 6, '0'), 'sim', '1.0.0', $2,
            md5('v' || (g % 4)) || md5('v' || (g % 4)), '2026.1' || (g % 4), 'exampleos/x86_64/stable',
            (ARRAY['healthy','healthy','degraded','unhealthy'])[1 + g % 4]::"HealthStatus", 'idle', now() - (g % 1000) * interval '1 second', 1, now(), random(),
            jsonb_build_array(
              jsonb_build_object('checksum', md5('v' || (g % 4)) || md5('v' || (g % 4)), 'ref', 'exampleos/x86_64/stable',
                                 'version', '2026.1' || (g % 4), 'booted', true, 'staged', false, 'pinned', false),
              jsonb_build_object('checksum', md5('p' || (g % 4)) || md5('p' || (g % 4)), 'ref', 'exampleos/x86_64/stable',
                                 'version', '2026.0' || (g % 4), 'booted', false, 'staged', false, 'pinned', false)),
            jsonb_build_array(jsonb_build_object('name', 'kiosk-app.service', 'status', 'pass')),
            jsonb_build_object('site', (ARRAY['ams-1','fra-1','lon-1'])[1 + g % 3])
       FROM generate_series(1, $1) AS g`,
    [MACHINES, ring.id],
  );
  await db.pool.query("ANALYZE");
  const { user } = await createUser(db.prisma, cliActor, { email: "viewer@example.com", role: "viewer", password: "viewer-password-1" });
  viewerCookie = (await signedInCookie(db, user.id, SECRET)).cookie;
  enrollment = (await createEnrollmentToken(db.prisma, cliActor, { name: "load", ring: "stable" })).token;
  stats = new pg.Client({ connectionString: adminUrl() });
  await stats.connect();
}, 120_000);

afterAll(async () => {
  if (slot) await removeConsoleProcess(slot);
  await stats?.end();
  await db?.close();
});

/** The expensive reads a viewer may ask for: filters no index serves, deep pages, the dashboard. */
function heavyCall(i: number): [string, unknown] {
  const page = 20 + Math.floor(Math.random() * 400);
  switch (i % 3) {
    case 0:
      return ["machines.list", { label: `site=${["ams-1", "fra-1", "lon-1"][i % 3]}`, sort: "version", page, pageSize: 20 }];
    case 1:
      return ["machines.list", { q: String(i % 10), sort: "ring", dir: "desc", page, pageSize: 20 }];
    default:
      return ["dashboard.summary", undefined];
  }
}

/** One batch; what each of its calls was answered (ok, or the error's code). */
async function heavyBatch(url: string): Promise<string[]> {
  const calls = Array.from({ length: MAX_BATCH_SIZE }, (_, i) => heavyCall(i));
  const input = Object.fromEntries(calls.map(([, value], i) => [i, value === undefined ? {} : { json: value }]));
  const res = await fetch(`${url}/api/trpc/${calls.map(([path]) => path).join(",")}?batch=1&input=${encodeURIComponent(JSON.stringify(input))}`, {
    headers: { cookie: viewerCookie },
  });
  const answers = (await res.json()) as { result?: unknown; error?: { json: { data: { code: string } } } }[];
  if (!Array.isArray(answers)) return [`HTTP ${res.status}`];
  return answers.map((a) => (a.result ? "ok" : (a.error?.json.data.code ?? "?")));
}

function percentile(sorted: number[], p: number) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
}

interface Latencies {
  n: number;
  p50: number;
  p99: number;
  max: number;
  failed: number;
}

function summary(samples: number[], failed: number): Latencies {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN, failed };
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
const line = (l: Latencies) => `n=${l.n} p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)}${l.failed ? `, ${l.failed} failed` : ""}`;

/** Agents checking in (each one a state change) for `durationMs`; the latency of every check-in. */
async function checkIns(machines: ProtocolMachines, durationMs: number): Promise<Latencies> {
  const samples: number[] = [];
  let failed = 0;
  const until = performance.now() + durationMs;
  await Promise.all(
    [...machines.tokens.keys()].map(async (machineId, i) => {
      for (let n = i; performance.now() < until; n++) {
        const started = performance.now();
        const res = await machines.report(machineId, { health: n % 2 ? "degraded" : "healthy" });
        samples.push(performance.now() - started);
        if (res.status !== 200) failed++;
        await new Promise((r) => setTimeout(r, AGENT_PAUSE_MS));
      }
    }),
  );
  return summary(samples, failed);
}

interface Run {
  quiet: Latencies;
  loaded: Latencies;
  batches: number;
  /** The batches' calls by answer: ok, or the error's code. */
  calls: Record<string, number>;
  /** Most connections of each pool running a statement at one time. */
  activeConsole: number;
  activeAgents: number;
}

/** (Re)starts the console process with `env` on the same port, then runs agents alone, then agents under the tabs' load. */
async function run(env: Record<string, string>, machines: ProtocolMachines): Promise<Run> {
  const proc = slot!;
  await killConsoleProcess(proc);
  proc.env = env;
  await startConsoleProcess(proc);
  await checkIns(machines, 1000); // warm-up: caches, connections
  const quiet = await checkIns(machines, QUIET_MS);

  let loading = true;
  const batches = { sent: 0 };
  const calls: Record<string, number> = {};
  const tabs = Array.from({ length: TABS }, async () => {
    while (loading) {
      const answers = await heavyBatch(proc.url).catch((error: Error) => [error.message]);
      batches.sent++;
      for (const answer of answers) calls[answer] = (calls[answer] ?? 0) + 1;
    }
  });
  let activeConsole = 0;
  let activeAgents = 0;
  const sampler = (async () => {
    const database = new URL(databaseUrl).pathname.slice(1);
    while (loading) {
      const { rows } = await stats.query<{ application_name: string; active: number }>(
        `SELECT application_name, count(*) FILTER (WHERE state = 'active')::int AS active
           FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' GROUP BY application_name`,
        [database],
      );
      for (const row of rows) {
        if (row.application_name === APPLICATION_NAMES.console) activeConsole = Math.max(activeConsole, row.active);
        if (row.application_name === APPLICATION_NAMES.agent) activeAgents = Math.max(activeAgents, row.active);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, 1000)); // the load builds up
  const loaded = await checkIns(machines, LOAD_MS);
  loading = false;
  await Promise.all([...tabs, sampler]);
  return { quiet, loaded, batches: batches.sent, calls, activeConsole, activeAgents };
}

describe("a heavy console load and agent check-ins", () => {
  it(`answers every check-in within ${MAX_CHECKIN_MS} ms while viewers flood tRPC, where one shared pool keeps them waiting`, async () => {
    slot = await consoleProcessSlot(databaseUrl);
    await startConsoleProcess(slot);
    const machines = new ProtocolMachines(slot.url);
    for (let i = 0; i < AGENTS; i++) expect((await machines.enroll(`load-${i}`, enrollment)).status).toBe(201);

    const separate = await run({}, machines);
    const shared = await run({ ORCHARD_DB_AGENT_POOL: "0" }, machines);
    const report = (label: string, r: Run) =>
      `  ${label}\n` +
      `    check-ins, console idle:   ${line(r.quiet)}\n` +
      `    check-ins under the load:  ${line(r.loaded)}\n` +
      `    ${r.batches} tRPC batches of ${MAX_BATCH_SIZE} heavy reads, calls answered ${JSON.stringify(r.calls)}; ` +
      `most connections active at once: console pool ${r.activeConsole}, agent pool ${r.activeAgents}`;
    console.log(
      `console load: ${MACHINES.toLocaleString("en")} machines, ${TABS} viewer tabs sending batches of ${MAX_BATCH_SIZE} heavy reads, ` +
        `${AGENTS} agents checking in (a state change each), ${LOAD_MS / 1000} s\n` +
        `${report("separate agent pool (ORCHARD_DB_POOL=10, ORCHARD_DB_AGENT_POOL=10)", separate)}\n` +
        `${report("one shared pool (ORCHARD_DB_AGENT_POOL=0)", shared)}`,
    );

    // The load was real: batches answered while every console connection was busy.
    for (const r of [separate, shared]) {
      expect(r.calls.ok).toBeGreaterThan(0);
      expect(r.activeConsole).toBe(10);
    }
    // The bound, with the separation: the agents had connections of their own.
    expect(separate.loaded.failed).toBe(0);
    expect(separate.loaded.max).toBeLessThan(MAX_CHECKIN_MS);
    expect(separate.activeAgents).toBeGreaterThan(0);
    // Without it, check-ins wait in the console's queue: the median one
    // longer than 99 % of them with their own pool.
    expect(shared.activeAgents).toBe(0);
    expect(shared.loaded.p50).toBeGreaterThan(separate.loaded.p99);
  }, 300_000);
});
