// Replicas that agree: two console processes on one database (a load
// balancer's view), and the `orchard` command as a third. A change made
// through one of them (a retirement, a pin, a ring's release, the brake, a
// revert) reaches the other's caches within a second, through NOTIFY; a lost
// notification connection falls back to the TTL and comes back; and no
// answer ever joins a fresh ring with a stale machine: after a revert made
// by the command line, a touched machine is told `rollback`, never a plain
// `update` to the older release.
import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { LISTEN_APPLICATION_NAME } from "../../server/db/cache-channel";
import { type Database, openDatabase, type PrismaClient } from "../../server/db/client";
import { createEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, startRollout } from "../../server/rollouts/rollouts";
import { hex, ProtocolMachines } from "../helpers/agent-http";
import { freshDatabaseUrl, startTestConsole } from "../helpers/console";
import { type ConsoleProcess, consoleProcessSlot, removeConsoleProcess, startConsoleProcess } from "../helpers/console-process";
import { FACTORY, waitFor } from "../helpers/fleet";

const REF = FACTORY.ref;
const R1 = hex("1");
const R2 = hex("2");
const R3 = hex("3");
/** A machine that rebooted into release 2. */
const ON_R2 = { booted: R2, version: "2", bootId: "1f3c2a8e-6b1d-4e55-9a57-3f0c1d2e4b6b" };
/** The bound this test measures: a change is in the other process's answers within this. */
const AGREE_MS = 1000;

const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");
let databaseUrl: string;
let db: Database;
let a: ConsoleProcess;
let b: ConsoleProcess;
let adminToken: string;
let enrollToken: string;
/** Agents talking to console B. */
let viaB: ProtocolMachines;

function orchard(args: string[], url = databaseUrl) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: "warn" } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function rest(slot: ConsoleProcess, method: string, route: string, body?: unknown) {
  const res = await fetch(`${slot.url}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

type Checkin = Awaited<ReturnType<ProtocolMachines["report"]>>;

/** The figures measured (printed at the end, for RELIABILITY.md). */
const figures: string[] = [];
function measured(what: string, ms: number) {
  figures.push(`${what}: ${Math.round(ms)} ms`);
  return ms;
}

/**
 * Checks `machineId` in through B every 20 ms until `agreed` says the answer
 * reflects the change; returns how long that took after `since`. Every answer
 * on the way is handed to `seen` (to assert what may never be answered).
 */
async function untilAgreed(via: ProtocolMachines, machineId: string, since: number, agreed: (res: Checkin) => boolean, seen: (res: Checkin) => void = () => {}, report: Parameters<ProtocolMachines["report"]>[1] = { booted: R1 }) {
  for (;;) {
    const res = await via.report(machineId, report);
    seen(res);
    if (agreed(res)) return performance.now() - since;
    if (performance.now() - since > 20_000) throw new Error(`${machineId}: B never agreed; last answer ${res.status} ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function listenConnections() {
  const { rows } = await db.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 ORDER BY pid", [LISTEN_APPLICATION_NAME]);
  return rows.map((r) => r.pid);
}

/**
 * Rolls release 2 out to ring canary, with `machines` (enrolled there, on
 * release 1) checking in through `via` until it completes; then reverts it
 * with the command line. Every answer after that must be anything but an
 * update (the case: an update to release 1 without allow-downgrade);
 * returns how long after the command ended the last machine was told
 * rollback. The answers stay rollback past the fallback TTL.
 */
async function revertByTheCommandLine(prisma: PrismaClient, url: string, via: ProtocolMachines, machines: string[]) {
  const rollout = await startRollout(prisma, cliActor, { version: "2", rings: ["canary"], waves: [100], soakSeconds: 0, darkAfterSeconds: 900 });
  // The machines take release 2 as they are told (the consoles' controllers open the waves).
  const booted = new Set<string>();
  await waitFor("the canary machines to boot release 2", async () => {
    for (const id of machines) {
      const res = await via.report(id, booted.has(id) ? ON_R2 : { booted: R1 });
      if (res.body?.action === "update" && (res.body.desired as { checksum: string }).checksum === R2) booted.add(id);
    }
    return booted.size === machines.length;
  }, 90_000, 200);
  await waitFor("the rollout to complete", async () => {
    for (const id of machines) await via.report(id, ON_R2);
    return (await getRollout(prisma, rollout.id)).state === "completed";
  }, 60_000, 300);
  // Every machine and the ring are cached now.
  for (const id of machines) expect((await via.report(id, ON_R2)).body).toMatchObject({ action: "none" });

  const res = await orchard(["rollout", "revert", rollout.id, "--reason", "replicas test"], url);
  expect(res.code, res.stderr).toBe(0);
  const since = performance.now();
  const never = (r: Checkin) => expect(r.body?.action, JSON.stringify(r.body)).not.toBe("update");
  let slowest = 0;
  for (const id of machines) {
    slowest = Math.max(slowest, await untilAgreed(via, id, since, (r) => r.body?.action === "rollback" && (r.body.desired as { checksum: string }).checksum === R1, never, ON_R2));
  }
  // Past the ring's fallback TTL (5 s), still rollback, never update.
  await new Promise((r) => setTimeout(r, 5500));
  for (const id of machines) {
    const again = await via.report(id, ON_R2);
    never(again);
    expect(again.body).toMatchObject({ action: "rollback" });
  }
  return slowest;
}

beforeAll(async () => {
  databaseUrl = await freshDatabaseUrl();
  db = await openDatabase({ databaseUrl, dataDir: os.tmpdir(), migrate: false });
  const prisma = db.prisma;
  await addRelease(prisma, cliActor, { ref: REF, checksum: R1, version: "1" });
  await addRelease(prisma, cliActor, { ref: REF, checksum: R2, version: "2" });
  await addRelease(prisma, cliActor, { ref: REF, checksum: R3, version: "3" });
  for (const ring of ["canary", "lab"]) {
    await createRing(prisma, cliActor, { name: ring, branch: REF, checkInIntervalSeconds: 60 });
    await setRingRelease(prisma, cliActor, { ring, version: "1" });
  }
  adminToken = (await createApiToken(prisma, cliActor, { name: "replicas", role: "admin" })).token;
  enrollToken = (await createEnrollmentToken(prisma, cliActor, { name: "replicas", ring: "lab" })).token;
  const env = { ORCHARD_API_RATE_LIMIT: "0", ORCHARD_API_RATE_PER_ADDRESS: "0" };
  a = await consoleProcessSlot(databaseUrl, env);
  b = await consoleProcessSlot(databaseUrl, env);
  await Promise.all([startConsoleProcess(a), startConsoleProcess(b)]);
  viaB = new ProtocolMachines(b.url);
}, 120_000);

afterAll(async () => {
  console.info(`replicas, measured:\n  ${figures.join("\n  ")}`);
  for (const slot of [a, b]) if (slot) await removeConsoleProcess(slot);
  await db?.close();
});

/** A machine enrolled through B into ring `lab`, moved to `ring`, and cached by B (answered once). */
async function cachedMachine(machineId: string, ring = "lab") {
  expect((await viaB.enroll(machineId, enrollToken)).status).toBe(201);
  if (ring !== "lab") await db.prisma.machine.update({ where: { machineId }, data: { ring: { connect: { name: ring } } } });
  const first = await viaB.report(machineId, { booted: R1 });
  expect(first.status).toBe(200);
  return first;
}

describe("two console processes and the command line agree", () => {
  it("each console listens on a connection of its own", async () => {
    expect(await listenConnections()).toHaveLength(2);
    for (const slot of [a, b]) {
      const ready = await fetch(`${slot.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: "ready" });
    }
  });

  it(`a machine retired through one console is refused by the other within ${AGREE_MS} ms`, async () => {
    await cachedMachine("m-retire");
    await rest(a, "POST", "/machines/m-retire/retire", { reason: "replicas test" });
    // From A's answer (the change committed before it).
    const since = performance.now();
    const took = measured("retired through A, refused by B", await untilAgreed(viaB, "m-retire", since, (res) => res.status === 410));
    expect(took).toBeLessThan(AGREE_MS);
  });

  it(`a pin through one console is the other's answer within ${AGREE_MS} ms`, async () => {
    const first = await cachedMachine("m-pin");
    expect(first.body).toMatchObject({ action: "none" });
    await rest(a, "POST", "/machines/m-pin/pin", { version: "2" });
    const since = performance.now();
    const took = measured("pinned through A, answered by B", await untilAgreed(viaB, "m-pin", since, (res) => res.body?.action === "update" && (res.body.desired as { checksum: string }).checksum === R2));
    expect(took).toBeLessThan(AGREE_MS);
  });

  it(`a ring's release set by the command line is the console's answer within ${AGREE_MS} ms`, async () => {
    await cachedMachine("m-ring");
    const res = await orchard(["ring", "set-release", "lab", "2"]);
    expect(res.code, res.stderr).toBe(0);
    const since = performance.now();
    const took = measured("ring release set by the command line, answered by B", await untilAgreed(viaB, "m-ring", since, (r) => r.body?.action === "update" && (r.body.desired as { checksum: string }).checksum === R2));
    expect(took).toBeLessThan(AGREE_MS);
    expect((await orchard(["ring", "set-release", "lab", "1"])).code).toBe(0);
  });

  it(`a ring's app set changed by the command line is the console's answer within ${AGREE_MS} ms`, async () => {
    const kiosk = "app/org.example.Kiosk/x86_64/stable";
    expect((await orchard(["release", "add", "--ref", kiosk, "--checksum", hex("c"), "--version", "k1"])).code).toBe(0);
    await cachedMachine("m-apps");
    const set = await orchard(["ring", "app", "set", "lab", kiosk, "k1", "--remote", "orchard-kiosk", "--url", "https://apps.example.com/repo"]);
    expect(set.code, set.stderr).toBe(0);
    let since = performance.now();
    const apps = (r: Checkin) => (r.body as { apps?: { commit: string }[] } | null)?.apps;
    const added = measured("app set by the command line, answered by B", await untilAgreed(viaB, "m-apps", since, (r) => apps(r)?.[0]?.commit === hex("c")));
    expect(added).toBeLessThan(AGREE_MS);
    expect((await orchard(["ring", "app", "rm", "lab", kiosk])).code).toBe(0);
    since = performance.now();
    const removed = measured("app taken out by the command line, answered by B", await untilAgreed(viaB, "m-apps", since, (r) => apps(r)?.length === 0));
    expect(removed).toBeLessThan(AGREE_MS);
  });

  it(`the brake by the command line stops the other console's answers within ${AGREE_MS} ms`, async () => {
    await cachedMachine("m-brake");
    await rest(a, "POST", "/machines/m-brake/pin", { version: "3" });
    await untilAgreed(viaB, "m-brake", performance.now(), (r) => r.body?.action === "update" && (r.body.desired as { checksum: string }).checksum === R3);
    const res = await orchard(["release", "brake", "3", "--reason", "replicas test"]);
    expect(res.code, res.stderr).toBe(0);
    const since = performance.now();
    const took = measured("brake by the command line, answered by B", await untilAgreed(viaB, "m-brake", since, (r) => r.status === 200 && r.body?.action === "none"));
    expect(took).toBeLessThan(AGREE_MS);
  });

  it("a check-in older than what another console applied is answered from the row, never from the stale entry", async () => {
    await cachedMachine("m-late");
    await rest(a, "POST", "/machines/m-late/pin", { version: "2" });
    await untilAgreed(viaB, "m-late", performance.now(), (r) => r.body?.action === "update");
    // B has the machine cached on release 1. Another console applies a newer check-in: booted release 2, seq 50
    // (a check-in's own write notifies nobody, as state_hash changes with it).
    await db.pool.query(
      `UPDATE machines SET last_seq = 50, booted_checksum = $1, booted_version = '2', update_state = 'succeeded', update_target = $1,
                           state_hash = 'applied by another console' WHERE machine_id = 'm-late'`,
      [R2],
    );
    // The machine's slower, older check-in reaches B after it: refused as older, and answered from the row.
    const late = await viaB.report("m-late", { booted: R1, state: "rebooting", target: R2 });
    expect(late.status).toBe(200);
    expect(late.body).toMatchObject({ action: "none" });
    const row = await db.prisma.machine.findUniqueOrThrow({ where: { machineId: "m-late" } });
    expect([row.lastSeq, row.bootedChecksum]).toEqual([50n, R2]);
  });

  it("after a revert by the command line, every touched machine is told rollback, never a plain update to the older release", async () => {
    const machines = ["c-1", "c-2", "c-3", "c-4", "c-5"];
    for (const id of machines) await cachedMachine(id, "canary");
    const slowest = measured("revert by the command line, last of 5 machines told rollback by B", await revertByTheCommandLine(db.prisma, databaseUrl, viaB, machines));
    expect(slowest).toBeLessThan(AGREE_MS);
  }, 180_000);

  it("a lost notification connection comes back, and changes are heard again", async () => {
    const before = await listenConnections();
    await cachedMachine("m-lost");
    await db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", [LISTEN_APPLICATION_NAME]);
    const killedAt = performance.now();
    // Meanwhile the caches fall back to their TTL: a change made now is seen (after the reconnection, everything is read again).
    await rest(a, "POST", "/machines/m-lost/pin", { version: "2" });
    measured("pinned through A right after the LISTEN connections were killed, answered by B", await untilAgreed(viaB, "m-lost", performance.now(), (r) => r.body?.action === "update"));
    const after = await waitFor("both consoles to listen again", async () => {
      const pids = await listenConnections();
      return pids.length === 2 && pids.every((p) => !before.includes(p)) ? pids : null;
    }, 30_000, 100);
    expect(after).toHaveLength(2);
    measured("both consoles listening again after the kill", performance.now() - killedAt);
    // Heard again: a change reaches B within the bound.
    await rest(a, "POST", "/machines/m-lost/unpin", {});
    const since = performance.now();
    const took = measured("after the reconnection, unpinned through A, answered by B", await untilAgreed(viaB, "m-lost", since, (r) => r.body?.action === "none"));
    expect(took).toBeLessThan(AGREE_MS);
  });
});

describe("while no notification is heard", () => {
  it("a console on its TTL alone still never answers a stale machine from a fresh ring: the revert's machines are told rollback within the fallback TTL", async () => {
    const app = await startTestConsole({ ORCHARD_CONTROLLER_INTERVAL_MS: "300", ORCHARD_BUSY_INTERVAL: "1" }, { controller: true });
    try {
      const prisma = app.db.prisma;
      await addRelease(prisma, cliActor, { ref: REF, checksum: R1, version: "1" });
      await addRelease(prisma, cliActor, { ref: REF, checksum: R2, version: "2" });
      await createRing(prisma, cliActor, { name: "canary", branch: REF, checkInIntervalSeconds: 60 });
      await setRingRelease(prisma, cliActor, { ring: "canary", version: "1" });
      const token = (await createEnrollmentToken(prisma, cliActor, { name: "fallback", ring: "canary" })).token;
      // Deaf to other processes from here on: the command line's revert reaches it only through the TTL.
      await app.cacheChannel?.stop();
      const via = new ProtocolMachines(app.url);
      const machines = ["f-1", "f-2", "f-3"];
      for (const id of machines) {
        expect((await via.enroll(id, token)).status).toBe(201);
        expect((await via.report(id, { booted: R1 })).status).toBe(200);
      }
      const slowest = measured("deaf console (TTL only): revert by the command line, last of 3 machines told rollback", await revertByTheCommandLine(prisma, app.databaseUrl, via, machines));
      // The fallback TTL of a ring view is 5 s; a machine is read again after its ring.
      expect(slowest).toBeLessThan(5000 + AGREE_MS);
    } finally {
      await app.stop();
    }
  }, 180_000);
});
