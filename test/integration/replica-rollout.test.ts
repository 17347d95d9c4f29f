// Three console processes behind HAProxy (the repository's configuration,
// with a third server) on one database, 500 simulated agents through it, and
// a three-ring rollout: one process SIGKILLed mid-wave and started again; a
// machine retired through one process is refused by the other two within a
// second; every event the agents sent is stored exactly once; and the rollout
// ends as it does on one process (fleet-rollout.test.ts): every machine
// updated once, booted the release and counted succeeded.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STATE_FILE } from "../../agent/src/store";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { type Database, openDatabase } from "../../server/db/client";
import { createEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, startRollout } from "../../server/rollouts/rollouts";
import { hex, ProtocolMachines } from "../helpers/agent-http";
import { repoRoot } from "../helpers/compose-file";
import { freshDatabaseUrl } from "../helpers/console";
import { agentRequests, stopHaproxy } from "../helpers/haproxy";
import { type ConsoleProcess, consoleProcessSlot, freePort, killConsoleProcess, removeConsoleProcess, startConsoleProcess } from "../helpers/console-process";
import { FACTORY, startFleet, waitFor } from "../helpers/fleet";

const R2 = hex("2");
const RINGS = { canary: 50, beta: 150, stable: 300 } as const;
const MACHINES = RINGS.canary + RINGS.beta + RINGS.stable;
const METRICS_TOKEN = "m".repeat(32);
/** The bound the issue sets: a change made through one process is in the others' answers within this. */
const AGREE_MS = 1000;
/** A machine's events for the release, each exactly once (as on one process). */
const UPDATE_EVENTS = ["update.started", "update.downloaded", "update.staged", "reboot.started", "agent.started", "boot.verified"];

let databaseUrl: string;
let db: Database;
const consoles: ConsoleProcess[] = [];
let haproxy: ChildProcess | null = null;
let haproxyOutput = "";
let haproxyUrl = "";
let adminToken = "";
const fleets: ReturnType<typeof startFleet>[] = [];
const figures: string[] = [];

/** The repository's HAProxy configuration with a third console beside the two compose runs. */
function threeConsoleConfig() {
  const config = fs.readFileSync(path.join(repoRoot, "deploy/haproxy/haproxy.cfg"), "utf8");
  const second = config.split("\n").find((line) => /^\s*server console-2 /.test(line));
  if (!second) throw new Error("deploy/haproxy/haproxy.cfg has no `server console-2` line to add a third beside");
  const third = second.replace("console-2", "console-3").replace("ORCHARD_CONSOLE_2-console-2:3000", "ORCHARD_CONSOLE_3");
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "orch-haproxy-")), "haproxy.cfg");
  fs.writeFileSync(file, config.replace(second, `${second}\n${third}`));
  return file;
}

const ringPhases = async (rolloutId: string) =>
  (
    await db.pool.query<{ name: string; phase: string; open_wave: number }>(
      "SELECT r.name, rr.phase::text AS phase, rr.open_wave FROM rollout_rings rr JOIN rings r ON r.id = rr.ring_id WHERE rr.rollout_id = $1",
      [rolloutId],
    )
  ).rows;

beforeAll(async () => {
  await promisify(execFile)("haproxy", ["-v"]).catch((error: Error) => {
    throw new Error(`haproxy is missing: apt-get install -y haproxy (as .ci/run does): ${error.message}`);
  });
  databaseUrl = await freshDatabaseUrl();
  db = await openDatabase({ databaseUrl, dataDir: os.tmpdir(), migrate: false });
  const prisma = db.prisma;
  await addRelease(prisma, cliActor, FACTORY);
  await addRelease(prisma, cliActor, { ref: FACTORY.ref, checksum: R2, version: "2" });
  for (const [name, count] of Object.entries(RINGS)) {
    await createRing(prisma, cliActor, { name, branch: FACTORY.ref, rebootSlots: count, checkInIntervalSeconds: 5 });
    await setRingRelease(prisma, cliActor, { ring: name, version: "1" });
  }
  await createRing(prisma, cliActor, { name: "lab", branch: FACTORY.ref, checkInIntervalSeconds: 60 });
  await setRingRelease(prisma, cliActor, { ring: "lab", version: "1" });
  adminToken = (await createApiToken(prisma, cliActor, { name: "replica-rollout", role: "admin" })).token;

  const env = {
    ORCHARD_METRICS_TOKEN: METRICS_TOKEN,
    ORCHARD_TRUSTED_PROXIES: "127.0.0.1",
    ORCHARD_API_RATE_LIMIT: "0",
    ORCHARD_API_RATE_PER_ADDRESS: "0",
    ORCHARD_CONTROLLER_INTERVAL_MS: "500",
  };
  for (let i = 0; i < 3; i++) consoles.push(await consoleProcessSlot(databaseUrl, env));
  await Promise.all(consoles.map((slot) => startConsoleProcess(slot)));

  const port = await freePort();
  haproxyUrl = `http://127.0.0.1:${port}`;
  haproxy = spawn("haproxy", ["-f", threeConsoleConfig()], {
    env: {
      ...process.env,
      ORCHARD_HAPROXY_BIND: `127.0.0.1:${port}`,
      ORCHARD_CONSOLE_1: `127.0.0.1:${consoles[0].port}`,
      ORCHARD_CONSOLE_2: `127.0.0.1:${consoles[1].port}`,
      ORCHARD_CONSOLE_3: `127.0.0.1:${consoles[2].port}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const keep = (chunk: Buffer) => {
    haproxyOutput = (haproxyOutput + chunk.toString()).slice(-20_000);
  };
  haproxy.stdout?.on("data", keep);
  haproxy.stderr?.on("data", keep);
  await waitFor(
    "HAProxy answering",
    async () => {
      try {
        return (await fetch(`${haproxyUrl}/readyz`, { signal: AbortSignal.timeout(5000) })).status === 200;
      } catch {
        return false;
      }
    },
    30_000,
    200,
  );

  for (const [name, count] of Object.entries(RINGS)) {
    const { token } = await createEnrollmentToken(prisma, cliActor, { name: `replica-${name}`, ring: name });
    fleets.push(startFleet({ server: haproxyUrl, token, count, prefix: name }));
  }
  await waitFor(
    `${MACHINES} machines enrolled through HAProxy and reporting`,
    async () => (await prisma.machine.count({ where: { bootedChecksum: FACTORY.checksum, ring: { name: { in: Object.keys(RINGS) } } } })) === MACHINES,
    120_000,
  );
}, 300_000);

afterAll(async () => {
  console.info(`replica rollout, measured:\n  ${figures.join("\n  ")}`);
  await Promise.all(fleets.map((f) => f.stop()));
  await stopHaproxy(haproxy);
  for (const slot of consoles) await removeConsoleProcess(slot);
  for (const f of fleets) fs.rmSync(f.stateDir, { recursive: true, force: true });
  await db?.close();
});

describe(`three console processes behind HAProxy, ${MACHINES} simulated agents`, () => {
  it("take a three-ring rollout through a SIGKILLed process, agree on a retirement within a second, and store every event once", async () => {
    // A machine each process has answered (and cached), outside the rollout's rings.
    const probe = new ProtocolMachines(consoles[2].url);
    const { token: labToken } = await createEnrollmentToken(db.prisma, cliActor, { name: "probe", ring: "lab" });
    expect((await probe.enroll("probe", labToken)).status).toBe(201);
    const via = consoles.map((slot) => {
      const machines = new ProtocolMachines(slot.url);
      machines.tokens.set("probe", probe.tokens.get("probe")!);
      return machines;
    });
    // Each answers it once (the seqs of the second and third are not newer: answered from the row, and cached).
    for (const machines of via) expect((await machines.report("probe", { booted: FACTORY.checksum })).status).toBe(200);

    const rollout = await startRollout(db.prisma, cliActor, {
      version: "2",
      rings: Object.keys(RINGS),
      waves: [10, 50, 100],
      soakSeconds: 0,
      maxFailureRate: 0.05,
      minSample: 5,
      darkAfterSeconds: 600,
    });

    // Mid-wave: stable's 50 % wave open and machines of it under way.
    await waitFor(
      "ring stable's second wave to open",
      async () => (await ringPhases(rollout.id)).some((r) => r.name === "stable" && r.phase === "active" && r.open_wave >= 2),
      300_000,
      200,
    );
    const victim = consoles[1];
    await killConsoleProcess(victim);
    const killedAt = performance.now();
    const underWay = await db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM rollout_machines WHERE rollout_id = $1 AND step IN ('assigned', 'downloading', 'staged', 'rebooting', 'verifying')",
      [rollout.id],
    );
    figures.push(`machines under way when console 2 was SIGKILLed: ${underWay.rows[0].n}`);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await startConsoleProcess(victim);
    figures.push(`console 2 back after ${Math.round(performance.now() - killedAt)} ms`);

    // Retired through console 1 while the rollout runs: refused by consoles 2 (just restarted) and 3.
    const retired = await fetch(`${consoles[0].url}/api/v1/machines/probe/retire`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "replica rollout test" }),
    });
    expect(retired.status, await retired.text()).toBe(200);
    // A process agrees once every request it is sent is refused: the last one it still answered was
    // sent within the bound (a request's own time in a loaded process's queue is not the change's).
    const since = performance.now();
    const agreement = await Promise.all(
      [1, 2].map(async (i) => {
        let lastAnswered: number | null = null;
        for (;;) {
          const sent = performance.now() - since;
          const res = await via[i].report("probe", { booted: FACTORY.checksum });
          if (res.status === 410) return { lastAnswered, firstRefused: sent, refusedAt: performance.now() - since };
          lastAnswered = sent;
          if (sent > 20_000) throw new Error(`console ${i + 1} never refused the retired machine: ${res.status}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }),
    );
    for (const [n, a] of agreement.entries()) {
      const answered = a.lastAnswered === null ? "no request was answered" : `the last request answered was sent after ${Math.round(a.lastAnswered)} ms`;
      figures.push(`retired through console 1; console ${n + 2}: ${answered}, the first refused was sent after ${Math.round(a.firstRefused)} ms (its 410 back after ${Math.round(a.refusedAt)} ms)`);
      expect(a.lastAnswered ?? 0).toBeLessThan(AGREE_MS);
    }

    const started = performance.now();
    await waitFor("the rollout to complete", async () => (await getRollout(db.prisma, rollout.id)).state === "completed", 420_000, 1000);
    figures.push(`rollout completed ${Math.round((performance.now() - started) / 1000)} s after the retirement`);

    // As on one process: every machine on the release, each counted succeeded.
    const booted = await db.pool.query<{ ring: string; checksum: string; n: number }>(
      `SELECT r.name AS ring, m.booted_checksum AS checksum, count(*)::int AS n FROM machines m JOIN rings r ON r.id = m.ring_id
        WHERE r.name <> 'lab' GROUP BY 1, 2 ORDER BY 1`,
    );
    expect(booted.rows).toEqual(
      Object.entries(RINGS)
        .map(([ring, n]) => ({ ring, checksum: R2, n }))
        .sort((x, y) => x.ring.localeCompare(y.ring)),
    );
    const steps = await db.pool.query<{ step: string; n: number }>("SELECT step::text, count(*)::int AS n FROM rollout_machines WHERE rollout_id = $1 GROUP BY 1", [rollout.id]);
    expect(steps.rows).toEqual([{ step: "succeeded", n: MACHINES }]);

    // Every event sent, stored once: the agents' queues drain, and each machine's update is one of each event.
    const stateFiles = fleets.flatMap((f) => fs.readdirSync(f.stateDir).map((id) => path.join(f.stateDir, id, STATE_FILE)));
    expect(stateFiles).toHaveLength(MACHINES);
    await waitFor(
      "every agent's event queue to drain",
      async () => stateFiles.every((file) => (JSON.parse(fs.readFileSync(file, "utf8")) as { queue: unknown[] }).queue.length === 0),
      60_000,
      500,
    );
    const twice = await db.pool.query("SELECT machine_id, event_id FROM agent_events GROUP BY 1, 2 HAVING count(*) > 1");
    expect(twice.rows).toEqual([]);
    const events = await db.pool.query<{ machine_id: string; types: string[] }>(
      `SELECT m.machine_id, array_agg(e.type::text ORDER BY e.type::text COLLATE "C") AS types
         FROM agent_events e JOIN machines m ON m.id = e.machine_id
        WHERE e.checksum = $1 AND m.machine_id <> 'probe'
        GROUP BY 1`,
      [R2],
    );
    const once = JSON.stringify([...UPDATE_EVENTS].sort());
    const wrong = events.rows.filter((row) => JSON.stringify(row.types) !== once);
    expect(events.rows).toHaveLength(MACHINES);
    expect(wrong.slice(0, 5)).toEqual([]);

    // Each process served agents, the restarted one included.
    const served = await Promise.all(consoles.map((slot) => agentRequests(slot, METRICS_TOKEN)));
    figures.push(`agent requests answered per process (console 2 since its restart): ${served.join(", ")}`);
    for (const n of served) expect(n, haproxyOutput).toBeGreaterThan(0);
  }, 600_000);
});
