// Check-ins per second for N simulated machines against the console on
// PostgreSQL, next to a bare node:http server answering the same JSON.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";
import { cliActor } from "../server/audit/audit";
import { createEnrollmentToken } from "../server/enrollment/enrollment-tokens";
import { addRelease } from "../server/releases/releases";
import { createRing, setRingRelease } from "../server/rings/rings";
import { startRollout } from "../server/rollouts/rollouts";
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

function runLoad(options: { url: string; tokens: string[]; connections: number; seconds: number; changeState: boolean; seqStart: number }) {
  return new Promise<LoadResult>((resolve, reject) => {
    const worker = new Worker(new URL("./load-worker.mjs", import.meta.url), {
      workerData: { ...options, durationMs: options.seconds * 1000 },
    });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
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
    } }, async (app) => {
    const db = app.db.prisma;
    await createRing(db, cliActor, { name: "bench", branch: "exampleos/x86_64/stable" });
    await addRelease(db, cliActor, { ref: "exampleos/x86_64/stable", checksum: "a".repeat(64), version: "2026.11.1" });
    await setRingRelease(db, cliActor, { ring: "bench", version: "2026.11.1" });
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
    const changed = await runLoad({ ...load, url: checkinUrl, changeState: true, seqStart: unchanged.seqEnd });
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
      consoleEveryCheckinChangesState: row(changed),
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
  consoleEveryCheckinChangesState: Record<string, number>;
  consoleEveryCheckinChangesStateNoCacheTriggers: Record<string, number>;
  cacheTriggersRatio: number;
  consoleActiveRollout: Record<string, number>;
}) {
  console.log(`\nCheck-ins: ${t.machines} machines, ${t.connections} keep-alive connections, ${t.secondsEach} s each (load generator in a worker thread of the same process)`);
  console.log("                                        req/s    p50 ms   p99 ms  errors  ratio to bare");
  for (const [label, r] of [
    ["bare node:http, same JSON (baseline)", t.bareNodeHttp],
    ["console on PostgreSQL, state unchanged", t.consoleUnchangedState],
    ["console, every check-in changes state", t.consoleEveryCheckinChangesState],
    ["  the same, cache triggers switched off", t.consoleEveryCheckinChangesStateNoCacheTriggers],
    ["console, machines in an active rollout", t.consoleActiveRollout],
  ] as const) {
    console.log(
      `${label.padEnd(40)}${String(r.perSecond).padStart(6)}${r.p50ms.toFixed(2).padStart(9)}${r.p99ms.toFixed(2).padStart(9)}${String(r.errors).padStart(8)}${r.ratioToBare.toFixed(3).padStart(15)}`,
    );
  }
  console.log(`cache notification triggers: ${t.cacheTriggersRatio.toFixed(3)} of the check-ins per second without them (state-changing check-ins)`);
  console.log(`enroll through the protocol: ${t.enrollPerSecond}/s\n`);
}
