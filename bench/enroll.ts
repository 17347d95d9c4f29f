// Enrollments per second: new machines enrolling with one shared token (a
// site booting one image) through the protocol, against two baselines
// measured in the same run: a bare node:http server answering the same JSON
// (the HTTP ceiling), and a raw pg pool of the console's agent pool size
// running one statement per enrollment (its machine, token and audit rows, and
// its use of the token counted) at the same concurrency.
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";
import pg from "pg";
import { cliActor } from "../server/audit/audit";
import { createEnrollmentToken } from "../server/enrollment/enrollment-tokens";
import { createRing } from "../server/rings/rings";
import { withBenchConsole } from "./support";

interface LoadResult {
  ok: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

function runLoad(options: { url: string; token: string; connections: number; seconds: number; enrollAs: string }) {
  return new Promise<LoadResult>((resolve, reject) => {
    const worker = new Worker(new URL("./load-worker.mjs", import.meta.url), {
      workerData: { url: options.url, tokens: [options.token], connections: options.connections, durationMs: options.seconds * 1000, changeState: false, seqStart: 0, enrollAs: options.enrollAs },
    });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

/** A bare node:http server that reads the body and answers an enrollment's JSON. */
async function bareServer() {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const { machineId } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { machineId: string };
      const answer = JSON.stringify({ machineId, token: `orch_m_${randomUUID()}`, ring: "bench", checkInIntervalSeconds: 300 });
      res.writeHead(201, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/agent/v1/enroll`, close: () => new Promise((r) => server.close(r)) };
}

/** One statement per enrollment, straight from a pg pool: the machine, its token, its audit row, the token's use counted. */
const ONE_ENROLLMENT = `
  WITH counted AS (
    UPDATE enrollment_tokens SET uses = uses + 1, last_used_at = GREATEST(last_used_at, $1)
     WHERE id = $2 AND revoked_at IS NULL AND (max_uses IS NULL OR uses < max_uses)
    RETURNING id, ring_id
  ), machine AS (
    INSERT INTO machines (id, machine_id, hostname, backend, agent_version, labels, ring_id, cohort, last_seq, enrolled_at, updated_at)
    SELECT $3, $4, $4, 'sim', '1.0.0', '{"bench":"yes"}', ring_id, 0.5, -1, $1, $1 FROM counted
    RETURNING id
  ), token AS (
    INSERT INTO machine_tokens (id, machine_id, token_hash, prefix, created_at) SELECT $5, id, $6, 'orch_m_xxxx', $1 FROM machine
  )
  INSERT INTO audit_log (id, at, actor_label, action, target_type, target_id, after)
  SELECT $7, $1, 'enrollment token orch_e_xxxx…', 'machine.enroll', 'machine', $4, '{"hostname":"x","backend":"sim","labels":{},"proven":"new"}' FROM machine`;

async function rawStatements(databaseUrl: string, tokenId: string, options: { poolSize: number; connections: number; seconds: number }) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.poolSize });
  const latencies: number[] = [];
  let ok = 0;
  let n = 0;
  const started = performance.now();
  const deadline = Date.now() + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (Date.now() < deadline) {
        const id = `raw-${n++}`;
        const t = performance.now();
        await pool.query(ONE_ENROLLMENT, [new Date(), tokenId, randomUUID(), id, randomUUID(), randomUUID().replaceAll("-", ""), randomUUID()]);
        latencies.push(performance.now() - t);
        ok++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.end();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { ok, errors: 0, statuses: {}, seconds, perSecond: ok / seconds, p50: pct(0.5), p99: pct(0.99) } satisfies LoadResult;
}

export async function benchEnroll(options: { connections: number; seconds: number; agentPool: number }) {
  return withBenchConsole("enroll", {
    env: {
      // One address, one token, thousands of machines a second: measure the handler, not the limits.
      ORCHARD_ENROLL_RATE_PER_TOKEN: "0",
      ORCHARD_AGENT_RATE_PER_TOKEN: "0",
      ORCHARD_AGENT_RATE_PER_ADDRESS: "0",
      ORCHARD_DB_AGENT_POOL: String(options.agentPool),
    },
  }, async (app, databaseUrl) => {
    const db = app.db.prisma;
    await createRing(db, cliActor, { name: "bench", branch: "exampleos/x86_64/stable" });
    const { token } = await createEnrollmentToken(db, cliActor, { name: "bench", ring: "bench", labels: { site: "bench-1" } });
    const { record: rawRecord } = await createEnrollmentToken(db, cliActor, { name: "raw", ring: "bench" });

    const bare = await bareServer();
    let cpu = process.cpuUsage();
    const baseline = await runLoad({ url: bare.url, token, connections: options.connections, seconds: options.seconds, enrollAs: "bare" });
    const bareCpu = process.cpuUsage(cpu);
    await bare.close();
    const raw = await rawStatements(databaseUrl, rawRecord.id, { poolSize: options.agentPool, connections: options.connections, seconds: options.seconds });
    const enrollUrl = `${app.url}/api/agent/v1/enroll`;
    await runLoad({ url: enrollUrl, token, connections: options.connections, seconds: 1, enrollAs: "warm" });
    cpu = process.cpuUsage();
    const console_ = await runLoad({ url: enrollUrl, token, connections: options.connections, seconds: options.seconds, enrollAs: "bench" });

    const consoleCpu = process.cpuUsage(cpu);
    const cpuMsEach = (usage: NodeJS.CpuUsage, r: LoadResult) => Number(((usage.user + usage.system) / 1000 / Math.max(1, r.ok)).toFixed(3));
    // Every 201 is a machine, a token and an audit row, and one use of the token.
    const [counts] = await db.$queryRaw<{ machines: number; uses: number; audit: number }[]>`
      SELECT (SELECT count(*)::int FROM machines WHERE machine_id LIKE 'warm-%' OR machine_id LIKE 'bench-%') AS machines,
             (SELECT uses FROM enrollment_tokens WHERE name = 'bench') AS uses,
             (SELECT count(*)::int FROM audit_log WHERE action = 'machine.enroll' AND actor_label LIKE 'enrollment token orch_e_%' AND target_id NOT LIKE 'raw-%') AS audit`;

    const row = (r: LoadResult) => ({
      perSecond: Math.round(r.perSecond),
      p50ms: Number(r.p50.toFixed(2)),
      p99ms: Number(r.p99.toFixed(2)),
      errors: r.errors,
      ratioToBare: Number((r.perSecond / baseline.perSecond).toFixed(3)),
      ratioToRawStatements: Number((r.perSecond / raw.perSecond).toFixed(3)),
    });
    const table = {
      connections: options.connections,
      secondsEach: options.seconds,
      agentPool: options.agentPool,
      bareNodeHttp: row(baseline),
      rawStatementPerEnrollment: row(raw),
      console: row(console_),
      consoleStatuses: console_.statuses,
      /** CPU of this process (server and load generator) per answer: steadier than rates on a shared machine. */
      processCpuMsEach: { bareNodeHttp: cpuMsEach(bareCpu, baseline), console: cpuMsEach(consoleCpu, console_) },
      consistent: counts.machines === counts.uses && counts.audit === counts.uses,
    };
    console.log(`\nEnrollments: new machines, one shared token, ${options.connections} keep-alive connections, ${options.seconds} s each (load generator in a worker thread of the same process)`);
    console.log("                                              enroll/s   p50 ms   p99 ms  errors  ratio to bare  ratio to raw");
    for (const [label, r] of [
      ["bare node:http, same JSON (baseline)", table.bareNodeHttp],
      [`raw pg, 1 statement each, pool ${options.agentPool} (baseline)`, table.rawStatementPerEnrollment],
      ["console on PostgreSQL, through the protocol", table.console],
    ] as const) {
      console.log(
        `${label.padEnd(46)}${String(r.perSecond).padStart(8)}${r.p50ms.toFixed(2).padStart(9)}${r.p99ms.toFixed(2).padStart(9)}${String(r.errors).padStart(8)}${r.ratioToBare.toFixed(3).padStart(15)}${r.ratioToRawStatements.toFixed(3).padStart(14)}`,
      );
    }
    console.log(`CPU of this process (server and load generator) per answer: bare ${table.processCpuMsEach.bareNodeHttp} ms, console ${table.processCpuMsEach.console} ms`);
    console.log(`machines ${counts.machines}, token uses ${counts.uses}, audit rows ${counts.audit}: ${table.consistent ? "consistent" : "NOT CONSISTENT"}\n`);
    return table;
  });
}
