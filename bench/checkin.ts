// Check-ins per second for N simulated machines against the console on
// PostgreSQL, next to a bare node:http server answering the same JSON, and
// the state-changing ones next to a raw `pg` pool of the agent pool's size
// running a check-in's state write (one statement per check-in, as the
// console wrote them one by one) at the same concurrency for the same machines.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import pg from "pg";
import { cliActor } from "../server/audit/audit";
import { createEnrollmentToken } from "../server/enrollment/enrollment-tokens";
import { addRelease } from "../server/releases/releases";
import { createRing, setRingRelease } from "../server/rings/rings";
import { startRollout } from "../server/rollouts/rollouts";
import { setRingApp } from "../server/apps/ring-apps";
import { withBenchConsole } from "./support";

interface LoadResult {
  ok: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  seqEnd: number;
}

/** BENCH_APPS=1: the ring has an app set and every check-in reports the same two installed apps (protocol v1.2). */
const withApps = process.env.BENCH_APPS === "1";

function runLoad(options: { url: string; tokens: string[]; connections: number; seconds: number; changeState: boolean; seqStart: number }) {
  return new Promise<LoadResult>((resolve, reject) => {
    const worker = new Worker(new URL("./load-worker.mjs", import.meta.url), {
      workerData: { ...options, durationMs: options.seconds * 1000, withApps },
    });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

/**
 * A check-in's state write as one statement on its own (the console's up to
 * e54f18c): the row if its seq is newer, locked, and a timeline entry for
 * each of deployment, update state and health that changed.
 */
const SINGLE_STATE_WRITE = `WITH prev AS (
   SELECT id, booted_checksum, booted_version, update_state::text AS update_state, health_status::text AS health_status
     FROM machines WHERE id = $1 AND last_seq < $16 FOR UPDATE
 ), applied AS (
   UPDATE machines AS m SET
     agent_version = $2, boot_id = $3, deployments = $4::jsonb,
     booted_checksum = $5, booted_version = $6, booted_ref = $7,
     update_state_since = CASE WHEN m.update_state <> $8::"UpdateState" OR m.update_state_since IS NULL
                               THEN $14 ELSE m.update_state_since END,
     update_state = $8::"UpdateState", update_target = $9, update_progress = $10, update_error = $11,
     health_status_since = CASE WHEN m.health_status <> $12::"HealthStatus" OR m.health_status_since IS NULL
                                THEN $14 ELSE m.health_status_since END,
     health_status = $12::"HealthStatus", health_checks = $13::jsonb,
     state_hash = $15, last_seq = $16, state_version = nextval('machine_state_version'),
     rollback_to = CASE WHEN m.rollback_to->>'checksum' = $5 AND NOT COALESCE((m.rollback_to->>'hold')::boolean, false)
                        THEN NULL ELSE m.rollback_to END,
     slot_refused_target = CASE WHEN m.slot_refused_target IS DISTINCT FROM $9 THEN NULL ELSE m.slot_refused_target END,
     last_seen_at = GREATEST(m.last_seen_at, $14), updated_at = $14
    FROM prev WHERE m.id = prev.id
    RETURNING m.id
 ), history AS (
   INSERT INTO machine_changes (machine_id, at, kind, before, after, detail)
   SELECT prev.id, $14, c.kind::"MachineChangeKind", c.before, c.after, c.detail
     FROM prev JOIN applied ON applied.id = prev.id,
          LATERAL (VALUES
            ('deployment', concat_ws(' ', prev.booted_version, left(prev.booted_checksum, 12)),
                           concat_ws(' ', $6::text, left($5::text, 12)), NULL::text,
             prev.booted_checksum IS DISTINCT FROM $5::text),
            ('update', prev.update_state, $8::text, $11::text, prev.update_state IS DISTINCT FROM $8::text),
            ('health', prev.health_status, $12::text, NULLIF($17::text, ''), prev.health_status IS DISTINCT FROM $12::text)
          ) AS c(kind, before, after, detail, changed)
    WHERE c.changed
 )
 SELECT count(*)::int AS applied FROM applied`;

/**
 * The baseline for state-changing check-ins: a raw pg pool of `poolSize`
 * running SINGLE_STATE_WRITE for the same machines, `connections` at a time,
 * each write with the next seq and the health the load generator reports.
 */
async function rawStateWrites(options: { databaseUrl: string; poolSize: number; machineIds: string[]; connections: number; seconds: number; seqStart: number }): Promise<LoadResult> {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize });
  const checksum = "b".repeat(64);
  const deployments = JSON.stringify([{ checksum, ref: "exampleos/x86_64/stable", version: "2026.10.3", booted: true, staged: false, pinned: false }]);
  const checks = JSON.stringify([{ name: "sshd.service", status: "pass" }]);
  const seqs = new Map<string, number>();
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let next = 0;
  const write = async (id: string) => {
    const seq = (seqs.get(id) ?? options.seqStart) + 1;
    seqs.set(id, seq);
    const health = seq % 2 === 0 ? "degraded" : "healthy";
    const started = performance.now();
    try {
      const { rows } = await pool.query<{ applied: number }>(SINGLE_STATE_WRITE, [
        id, "1.0.0", "0f3c2a8e-6b1d-4e55-9a57-3f0c1d2e4b6a", deployments, checksum, "2026.10.3", "exampleos/x86_64/stable",
        "idle", null, null, null, health, checks, new Date(), `raw-${health}`, seq, "",
      ]);
      if (rows[0]?.applied === 1) {
        ok++;
        latencies.push(performance.now() - started);
      } else errors++;
    } catch {
      errors++;
    }
  };
  try {
    await pool.query("SELECT 1");
    const startedAt = Date.now();
    const deadline = startedAt + options.seconds * 1000;
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (Date.now() < deadline) await write(options.machineIds[next++ % options.machineIds.length]);
      }),
    );
    const seconds = (Date.now() - startedAt) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
    return { ok, errors, statuses: {}, seconds, perSecond: ok / seconds, p50: pct(0.5), p99: pct(0.99), seqEnd: Math.max(...seqs.values()) };
  } finally {
    await pool.end();
  }
}

/** A bare node:http server that reads the body and answers the same JSON as a check-in. */
async function bareServer() {
  const answer = JSON.stringify({
    serverTime: new Date().toISOString(),
    checkInIntervalSeconds: 300,
    action: "update",
    desired: { ref: "exampleos/x86_64/stable", checksum: "a".repeat(64), version: "2026.11.1", reason: "ring bench · release 2026.11.1" },
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      JSON.parse(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/agent/v1/checkin`, close: () => new Promise((r) => server.close(r)) };
}

export async function benchCheckins(options: { machines: number; connections: number; seconds: number }) {
  return withBenchConsole("checkins", { env: {
      // The load generator is one address and reuses tokens fast: measure the handler, not the limits.
      ORCHARD_AGENT_RATE_PER_TOKEN: "0",
      ORCHARD_AGENT_RATE_PER_ADDRESS: "0",
    } }, async (app, databaseUrl) => {
    const db = app.db.prisma;
    await createRing(db, cliActor, { name: "bench", branch: "exampleos/x86_64/stable" });
    await addRelease(db, cliActor, { ref: "exampleos/x86_64/stable", checksum: "a".repeat(64), version: "2026.11.1" });
    await setRingRelease(db, cliActor, { ring: "bench", version: "2026.11.1" });
    if (withApps) {
      const ref = "app/org.example.Kiosk/x86_64/stable";
      await addRelease(db, cliActor, { ref, checksum: "c".repeat(64), version: "v1" });
      await setRingApp(db, cliActor, { ring: "bench", ref, version: "v1", remote: { name: "orchard-kiosk", url: "https://apps.example.com/repo" } });
    }
    const { token: enrollment } = await createEnrollmentToken(db, cliActor, { name: "bench", ring: "bench" });

    // Enroll every machine through the protocol.
    const enrollStarted = Date.now();
    const tokens: string[] = [];
    for (let i = 0; i < options.machines; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, options.machines - i) }, async (_, j) => {
          const res = await fetch(`${app.url}/api/agent/v1/enroll`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${enrollment}` },
            body: JSON.stringify({ machineId: `bench-${i + j}`, hostname: `bench-${i + j}`, backend: "sim", agentVersion: "1.0.0" }),
          });
          if (res.status !== 201) throw new Error(`enroll answered ${res.status}`);
          return ((await res.json()) as { token: string }).token;
        }),
      );
      tokens.push(...batch);
    }
    const enrollPerSecond = options.machines / ((Date.now() - enrollStarted) / 1000);

    const bare = await bareServer();
    const load = { tokens, connections: options.connections, seconds: options.seconds };
    const baseline = await runLoad({ ...load, url: bare.url, changeState: false, seqStart: 0 });
    await bare.close();
    const checkinUrl = `${app.url}/api/agent/v1/checkin`;
    // Warm-up: the first check-in of each machine writes its state and fills the caches.
    const warm = await runLoad({ ...load, url: checkinUrl, changeState: false, seqStart: 0, seconds: 3 });
    const unchanged = await runLoad({ ...load, url: checkinUrl, changeState: false, seqStart: warm.seqEnd });
    // The same machines, in the load generator's order (its tokens are enrolled as bench-0, bench-1, …).
    const { rows: ids } = await app.db.pool.query<{ id: string; machine_id: string }>("SELECT id, machine_id FROM machines");
    const idOf = new Map(ids.map((r) => [r.machine_id, r.id]));
    const machineIds = tokens.map((_, i) => idOf.get(`bench-${i}`)!);
    const rawPg = await rawStateWrites({
      databaseUrl,
      poolSize: app.db.agent.pool.options.max,
      machineIds,
      connections: options.connections,
      seconds: options.seconds,
      seqStart: unchanged.seqEnd,
    });
    const changed = await runLoad({ ...load, url: checkinUrl, changeState: true, seqStart: rawPg.seqEnd });
    // What the cache notification triggers cost a check-in that writes its
    // machine's row (their WHEN on every UPDATE of machines; a check-in's own
    // columns notify nobody): the same load with them switched off.
    await app.db.pool.query('ALTER TABLE machines DISABLE TRIGGER "orchard_cache_machine_update"');
    const changedNoTriggers = await runLoad({ ...load, url: checkinUrl, changeState: true, seqStart: changed.seqEnd });
    await app.db.pool.query('ALTER TABLE machines ENABLE TRIGGER "orchard_cache_machine_update"');
    // The same machines in an open wave of an active rollout: the answer comes from the rollout.
    await addRelease(db, cliActor, { ref: "exampleos/x86_64/stable", checksum: "c".repeat(64), version: "2026.12.1" });
    const rollout = await startRollout(db, cliActor, { version: "2026.12.1", rings: ["bench"], waves: [100], singleFirst: false });
    await app.controller.stepRollout(rollout.id);
    const inRollout = await runLoad({ ...load, url: checkinUrl, changeState: false, seqStart: changedNoTriggers.seqEnd });
    await app.agents.flushLastSeen();

    const row = (r: LoadResult) => ({
      perSecond: Math.round(r.perSecond),
      p50ms: Number(r.p50.toFixed(2)),
      p99ms: Number(r.p99.toFixed(2)),
      errors: r.errors,
      ratioToBare: Number((r.perSecond / baseline.perSecond).toFixed(3)),
    });
    const table = {
      machines: options.machines,
      connections: options.connections,
      secondsEach: options.seconds,
      enrollPerSecond: Math.round(enrollPerSecond),
      bareNodeHttp: row(baseline),
      consoleUnchangedState: row(unchanged),
      rawPgStateWrites: { ...row(rawPg), poolSize: app.db.agent.pool.options.max },
      consoleEveryCheckinChangesState: row(changed),
      /** State-changing check-ins through the console over the raw pg pool's state writes (target ≥ 0.5). */
      stateChangesRatioToRawPg: Number((changed.perSecond / rawPg.perSecond).toFixed(3)),
      consoleEveryCheckinChangesStateNoCacheTriggers: row(changedNoTriggers),
      /** Check-ins per second with the cache notification triggers over without them (1: free). */
      cacheTriggersRatio: Number((changed.perSecond / changedNoTriggers.perSecond).toFixed(3)),
      consoleActiveRollout: row(inRollout),
    };
    printTable(table);
    return table;
  });
}

function printTable(t: {
  machines: number;
  connections: number;
  secondsEach: number;
  enrollPerSecond: number;
  bareNodeHttp: Record<string, number>;
  consoleUnchangedState: Record<string, number>;
  rawPgStateWrites: Record<string, number>;
  consoleEveryCheckinChangesState: Record<string, number>;
  stateChangesRatioToRawPg: number;
  consoleEveryCheckinChangesStateNoCacheTriggers: Record<string, number>;
  cacheTriggersRatio: number;
  consoleActiveRollout: Record<string, number>;
}) {
  console.log(`\nCheck-ins: ${t.machines} machines, ${t.connections} keep-alive connections, ${t.secondsEach} s each (load generator in a worker thread of the same process)`);
  console.log("                                        req/s    p50 ms   p99 ms  errors  ratio to bare");
  for (const [label, r] of [
    ["bare node:http, same JSON (baseline)", t.bareNodeHttp],
    ["console on PostgreSQL, state unchanged", t.consoleUnchangedState],
    [`raw pg pool (${t.rawPgStateWrites.poolSize}), a state write each`, t.rawPgStateWrites],
    ["console, every check-in changes state", t.consoleEveryCheckinChangesState],
    ["  the same, cache triggers switched off", t.consoleEveryCheckinChangesStateNoCacheTriggers],
    ["console, machines in an active rollout", t.consoleActiveRollout],
  ] as const) {
    console.log(
      `${label.padEnd(40)}${String(r.perSecond).padStart(6)}${r.p50ms.toFixed(2).padStart(9)}${r.p99ms.toFixed(2).padStart(9)}${String(r.errors).padStart(8)}${r.ratioToBare.toFixed(3).padStart(15)}`,
    );
  }
  console.log(`state-changing check-ins: ${t.stateChangesRatioToRawPg.toFixed(3)} of the raw pg pool's state writes per second (target ≥ 0.5)`);
  console.log(`cache notification triggers: ${t.cacheTriggersRatio.toFixed(3)} of the check-ins per second without them (state-changing check-ins)`);
  console.log(`enroll through the protocol: ${t.enrollPerSecond}/s\n`);
}
