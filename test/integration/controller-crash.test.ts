// The controller survives a kill at any point: two console processes on one
// database, each killed (SIGKILL) and restarted at random moments of a
// rollout, with simulated agents checking in through it all. The rollout
// must end as an uninterrupted one does, every wave opened exactly once.
import fs from "node:fs";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { type Database, openDatabase } from "../../server/db/client";
import { createEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, startRollout } from "../../server/rollouts/rollouts";
import { freshDatabaseUrl } from "../helpers/console";
import { type ConsoleProcess, consoleProcessSlot, killConsoleProcess, removeConsoleProcess, startConsoleProcess } from "../helpers/console-process";
import { FACTORY, startFleet, waitFor } from "../helpers/fleet";
import { type RecordingProxy, startRecordingProxy } from "../helpers/recording-proxy";

const R2 = "2".repeat(64);
const TRIALS = 20;
let db: Database;
let databaseUrl: string;
const consoles: (ConsoleProcess & { proxy: RecordingProxy })[] = [];
const fleets: ReturnType<typeof startFleet>[] = [];

beforeAll(async () => {
  databaseUrl = await freshDatabaseUrl();
  db = await openDatabase({ databaseUrl, dataDir: os.tmpdir(), migrate: false });
  const prisma = db.prisma;
  await addRelease(prisma, cliActor, FACTORY);
  await addRelease(prisma, cliActor, { ref: FACTORY.ref, checksum: R2, version: "2" });
  for (const ring of ["east", "west"]) {
    await createRing(prisma, cliActor, { name: ring, branch: FACTORY.ref, rebootSlots: 200, checkInIntervalSeconds: 5 });
    await setRingRelease(prisma, cliActor, { ring, version: "1" });
  }
  for (let i = 0; i < 2; i++) {
    const slot = await consoleProcessSlot(databaseUrl);
    consoles.push({ ...slot, proxy: await startRecordingProxy(slot.url) });
    await startConsoleProcess(consoles[i]);
  }
  // Half the agents talk to each console process.
  for (const ring of ["east", "west"]) {
    for (const [j, slot] of consoles.entries()) {
      const { token } = await createEnrollmentToken(prisma, cliActor, { name: `${ring}-${j}`, ring });
      fleets.push(startFleet({ server: slot.proxy.url, token, count: 50, prefix: `${ring}${j}` }));
    }
  }
  await waitFor("200 machines reporting", async () => (await prisma.machine.count({ where: { bootedChecksum: FACTORY.checksum } })) === 200, 120_000);
}, 240_000);

afterAll(async () => {
  await Promise.all(fleets.map((f) => f.stop()));
  for (const slot of consoles) {
    await removeConsoleProcess(slot);
    await slot.proxy.close();
  }
  for (const f of fleets) fs.rmSync(f.stateDir, { recursive: true, force: true });
  await db?.close();
});

/**
 * Right after a console died: every event it answered 200 is stored, and every
 * machine's stored state is the one of its last check-in the console answered
 * 200, or of one sent after it that the console applied before dying.
 * Returns the number of acknowledgements not found in the database.
 */
async function lostAcknowledgements(proxy: RecordingProxy): Promise<number> {
  const acked = [...proxy.events.entries()].filter(([, status]) => status === 200).map(([id]) => id);
  const events = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM agent_events WHERE event_id = ANY($1)", [acked]);
  let lost = acked.length - events.rows[0].n;
  const states = await db.pool.query<{ token_hash: string; state_hash: string | null }>(
    "SELECT t.token_hash, m.state_hash FROM machine_tokens t JOIN machines m ON m.id = t.machine_id WHERE t.token_hash = ANY($1)",
    [[...proxy.checkins.keys()]],
  );
  const stored = new Map(states.rows.map((r) => [r.token_hash, r.state_hash]));
  for (const [tokenHash, record] of proxy.checkins) {
    if (!record.acked) continue;
    const hash = stored.get(tokenHash);
    if (hash !== record.acked.hash && !(hash && record.unanswered.has(hash))) lost++;
  }
  return lost;
}

describe("controller crashes", () => {
  it(`ends a rollout as an uninterrupted run does after ${TRIALS} kills of two console processes`, async () => {
    const rollout = await startRollout(db.prisma, cliActor, {
      version: "2",
      rings: ["east", "west"],
      waves: [10, 50, 100],
      soakSeconds: 0,
      darkAfterSeconds: 900,
    });
    const kills: string[] = [];
    let acknowledgedLost = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      await new Promise((r) => setTimeout(r, 500 + Math.random() * 3000));
      const slot = consoles[trial % 2];
      await killConsoleProcess(slot);
      acknowledgedLost += await lostAcknowledgements(slot.proxy);
      kills.push(`${trial % 2}@${(await getRollout(db.prisma, rollout.id)).rings.map((r) => `${r.phase}:${r.currentWave ?? 0}`).join(",")}`);
      await startConsoleProcess(slot);
    }
    await waitFor("the rollout to complete", async () => (await getRollout(db.prisma, rollout.id)).state === "completed", 400_000, 2000);

    // The same end as an uninterrupted run: every machine on the release, every row succeeded, the rings moved.
    expect(await db.prisma.machine.count({ where: { bootedChecksum: R2 } })).toBe(200);
    const steps = await db.prisma.rolloutMachine.groupBy({ by: ["step"], where: { rolloutId: rollout.id }, _count: { _all: true } });
    expect(steps).toEqual([{ step: "succeeded", _count: { _all: 200 } }]);
    const rings = await db.prisma.ring.findMany({ select: { currentRelease: { select: { version: true } } } });
    expect(rings.every((r) => r.currentRelease?.version === "2")).toBe(true);
    // No wave advanced twice: each ring's four waves opened exactly once, each ring completed once.
    const audit = await db.prisma.auditLog.findMany({ where: { targetId: rollout.id }, select: { action: true, after: true } });
    const opened = audit.filter((a) => a.action === "rollout.open-wave").map((a) => JSON.stringify(a.after));
    expect(opened).toHaveLength(8);
    expect(new Set(opened).size).toBe(8);
    expect(audit.filter((a) => a.action === "rollout.complete-ring")).toHaveLength(2);
    expect(audit.filter((a) => a.action === "rollout.complete")).toHaveLength(1);
    expect(kills).toHaveLength(TRIALS);
    expect(acknowledgedLost).toBe(0);

    // Every event any agent made reached the database once, though many were sent again.
    await waitFor("the agents' event queues to drain", async () => {
      const sent = consoles.flatMap((c) => [...c.proxy.events.entries()]);
      return sent.length > 0 && sent.every(([, status]) => status === 200);
    }, 60_000, 500);
    const ids = consoles.flatMap((c) => [...c.proxy.events.keys()]);
    const stored = await db.pool.query<{ event_id: string; n: number }>(
      "SELECT event_id, count(*)::int AS n FROM agent_events WHERE event_id = ANY($1) GROUP BY event_id",
      [ids],
    );
    expect(stored.rows).toHaveLength(ids.length);
    expect(stored.rows.every((r) => r.n === 1)).toBe(true);
    const statuses = consoles.map((c) => Object.fromEntries(c.proxy.statuses));
    console.log(`controller crashes: ${TRIALS} kills (${kills.join(" ")}); ${ids.length} events stored once; answers per console ${JSON.stringify(statuses)}`);
  }, 600_000);
});
