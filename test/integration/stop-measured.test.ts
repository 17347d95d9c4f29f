// Stop means stop, measured with the project's own agent code (the fleet
// simulator's sim agents, real HTTP): a wave of 32 machines behind one
// reboot slot, so that most of them sit staged waiting for it. After the
// brake, a gate pause or an abort, the machines booted on the release grow
// by at most those already granted their slot, and every staged machine
// holds (pause) or reports its update cancelled within two busy check-in
// intervals (brake, abort). A console SIGKILLed right after the brake and
// started again changes none of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { type Database, openDatabase } from "../../server/db/client";
import { createEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { pinMachine } from "../../server/rollouts/machine-actions";
import { abortRollout, brakeRelease, getRollout, resumeRollout, startRollout } from "../../server/rollouts/rollouts";
import { freshDatabaseUrl, startTestConsole, type TestConsole } from "../helpers/console";
import { consoleProcessSlot, killConsoleProcess, removeConsoleProcess, startConsoleProcess } from "../helpers/console-process";
import { FACTORY, startFleet, waitFor } from "../helpers/fleet";

/** ORCHARD_BUSY_INTERVAL: machines on their way check in this often (seconds). */
const BUSY = 2;
/** Two busy intervals, each up to 10 % longer (the agent's jitter), and a second for the work itself. */
const CANCEL_BOUND_MS = 2 * BUSY * 1.1 * 1000 + 1000;
const MACHINES = 32;
const figures: Record<string, unknown> = {};
const fleets: ReturnType<typeof startFleet>[] = [];

afterAll(async () => {
  await Promise.all(fleets.map((f) => f.stop()));
  console.log(`stop measured: ${JSON.stringify(figures)}`);
});

const checksumOf = (version: string) => version.repeat(64);

/** One ring of sim agents on release 1, one reboot slot, checking in every 5 s when idle. */
async function ringWithFleet(db: Database["prisma"], server: string, ring: string, groups: { count: number; failRelease?: string; stageSeconds?: number }[]) {
  await createRing(db, cliActor, { name: ring, branch: FACTORY.ref, rebootSlots: 1, checkInIntervalSeconds: 5 });
  await setRingRelease(db, cliActor, { ring, version: "1" });
  let n = 0;
  for (const group of groups) {
    const { token } = await createEnrollmentToken(db, cliActor, { name: `${ring}-${n}`, ring });
    fleets.push(startFleet({ server, token, count: group.count, prefix: `${ring}${n++}`, failRelease: group.failRelease, stageSeconds: group.stageSeconds ?? 3 }));
  }
  const total = groups.reduce((sum, g) => sum + g.count, 0);
  await waitFor(`${total} machines of ${ring} on release 1`, async () => (await db.machine.count({ where: { ring: { name: ring }, bootedChecksum: FACTORY.checksum } })) === total, 60_000, 250);
}

/** Where the ring's machines stand towards `version`, as the console knows it. */
async function standing(db: Database["prisma"], ring: string, version: string) {
  const checksum = checksumOf(version);
  const [booted, granted, onTheirWay] = await Promise.all([
    db.machine.count({ where: { ring: { name: ring }, bootedChecksum: checksum } }),
    // Granted a reboot slot and not booted on it yet: these may still boot it.
    db.rebootLease.count({ where: { ring: { name: ring }, machine: { bootedChecksum: { not: checksum } } } }),
    // On their way and holding no slot: a machine granted its slot (still "staged" until its reboot
    // is reported) may go on and boot the release, and is counted in `granted` instead.
    db.machine.findMany({
      where: {
        ring: { name: ring },
        updateTarget: checksum,
        bootedChecksum: { not: checksum },
        updateState: { in: ["downloading", "staged"] },
        rebootLease: { is: null },
      },
      select: { id: true },
    }),
  ]);
  return { booted, granted, onTheirWay: onTheirWay.map((m) => m.id) };
}

/** Waits until every machine in `ids` reported `update.cancelled` for `version` and is idle; returns when the last event arrived. */
async function cancelledBy(db: Database["prisma"], ids: string[], version: string, timeoutMs: number) {
  const checksum = checksumOf(version);
  await waitFor(
    `${ids.length} machines to report their update cancelled`,
    async () => {
      const [events, idle] = await Promise.all([
        db.agentEvent.count({ where: { machineId: { in: ids }, type: "update_cancelled", checksum } }),
        db.machine.count({ where: { id: { in: ids }, updateState: "idle" } }),
      ]);
      return events >= ids.length && idle === ids.length;
    },
    timeoutMs,
    100,
  ).catch(async (error: Error) => {
    // Say who did not: their state as the console knows it, and what they last reported.
    const missing = await db.machine.findMany({
      where: { id: { in: ids }, OR: [{ updateState: { not: "idle" } }, { events: { none: { type: "update_cancelled", checksum } } }] },
      select: { machineId: true, updateState: true, lastSeenAt: true, events: { orderBy: { receivedAt: "desc" }, take: 3, select: { type: true, receivedAt: true } } },
    });
    throw new Error(`${error.message}; not yet: ${JSON.stringify(missing)}`);
  });
  const last = await db.agentEvent.aggregate({ where: { machineId: { in: ids }, type: "update_cancelled", checksum }, _max: { receivedAt: true } });
  return last._max.receivedAt!;
}

const plan = (version: string, ring: string, extra: Record<string, unknown> = {}) => ({
  version,
  rings: [ring],
  singleFirst: false,
  waves: [100],
  soakSeconds: 0,
  minSample: 1000,
  maxFailureRate: 0.5,
  darkAfterSeconds: 900,
  ...extra,
});

describe("a wave of 32 sim agents behind one reboot slot", () => {
  let app: TestConsole;

  beforeAll(async () => {
    app = await startTestConsole(
      { ORCHARD_BUSY_INTERVAL: String(BUSY), ORCHARD_CONTROLLER_INTERVAL_MS: "300", ORCHARD_LASTSEEN_FLUSH_MS: "1000" },
      { controller: true },
    );
    for (const version of ["1", "2", "3", "4"]) await addRelease(app.db.prisma, cliActor, { ref: FACTORY.ref, checksum: checksumOf(version), version });
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
  });

  it("the brake: no machine boots the release after it but those already granted a slot, and every staged one cancels within two busy intervals", async () => {
    const db = app.db.prisma;
    await ringWithFleet(db, app.url, "brake", [{ count: MACHINES }]);
    await startRollout(db, cliActor, plan("2", "brake"), app.clock);
    await waitFor("the first machines to boot the release", async () => (await standing(db, "brake", "2")).booted >= 3, 120_000, 100);

    const pulled = new Date();
    await brakeRelease(db, cliActor, { version: "2", reason: "measured" }, app.clock);
    const at = await standing(db, "brake", "2");
    expect(at.onTheirWay.length).toBeGreaterThan(10);
    const last = await cancelledBy(db, at.onTheirWay, "2", 60_000);
    const cancelMs = last.getTime() - pulled.getTime();
    expect(cancelMs).toBeLessThanOrEqual(CANCEL_BOUND_MS);

    await new Promise((r) => setTimeout(r, 4 * BUSY * 1000));
    const after = await standing(db, "brake", "2");
    expect(after.booted).toBeLessThanOrEqual(at.booted + at.granted);
    expect(after.onTheirWay).toEqual([]);
    figures.brake = { bootedAtBrake: at.booted, grantedAtBrake: at.granted, staged: at.onTheirWay.length, lastCancelMs: cancelMs, boundMs: CANCEL_BOUND_MS, bootedAfter: after.booted };
  }, 240_000);

  it("a gate pause: staged machines hold and nobody boots it but the slot holder; once the failing machines are pinned out, resume completes the wave", async () => {
    const db = app.db.prisma;
    // Three machines that fail release 3 stage it at once and take the slot first (every machine hears of
    // the rollout within its 5 s interval); the rest take 6 to 18 s to stage it.
    await ringWithFleet(db, app.url, "gate", [
      { count: 3, failRelease: "3", stageSeconds: 0.1 },
      { count: MACHINES - 3, stageSeconds: 12 },
    ]);
    const rollout = await startRollout(db, cliActor, plan("3", "gate", { minSample: 1, maxFailureRate: 0.1 }), app.clock);
    const paused = await waitFor("the gate to pause the rollout", async () => {
      const r = await getRollout(db, rollout.id, app.clock);
      return r.state === "paused" ? r : null;
    }, 120_000, 100);
    expect(paused.pausedBy).toBe("gate");
    const at = await standing(db, "gate", "3");

    // Two busy intervals on, every machine on its way is held (counted so), and it stays that way.
    await new Promise((r) => setTimeout(r, 2 * BUSY * 1100));
    const held = await waitFor("staged machines counted held", async () => {
      const r = await getRollout(db, rollout.id, app.clock);
      const s = await standing(db, "gate", "3");
      return s.onTheirWay.length > 10 && r.progress.steps.held === (await db.machine.count({ where: { ring: { name: "gate" }, updateState: "staged" } })) ? r.progress.steps.held : null;
    }, 30_000, 250);
    await new Promise((r) => setTimeout(r, 4 * BUSY * 1000));
    const during = await standing(db, "gate", "3");
    expect(during.booted).toBeLessThanOrEqual(at.booted + at.granted);
    // By now most have finished staging: each of them is held, none asked for a slot in vain and rebooted.
    const heldLater = await waitFor("the later staged machines counted held", async () => {
      const staged = await db.machine.count({ where: { ring: { name: "gate" }, updateState: "staged" } });
      const r = await getRollout(db, rollout.id, app.clock);
      return staged > 15 && r.progress.steps.held === staged ? staged : null;
    }, 30_000, 250);
    expect(await db.agentEvent.count({ where: { machine: { ring: { name: "gate" } }, type: "update_cancelled" } })).toBe(0);

    // The operator takes the failing machines out (known bad), and resumes.
    for (const m of await db.machine.findMany({ where: { ring: { name: "gate" }, machineId: { startsWith: "gate0-" } }, select: { machineId: true } })) {
      await pinMachine(db, cliActor, { machineId: m.machineId, version: "1", reason: "bad hardware" }, app.clock);
    }
    await resumeRollout(db, cliActor, { rolloutId: rollout.id, reason: "failing machines pinned out" }, app.clock);
    await waitFor("the wave to complete", async () => (await getRollout(db, rollout.id, app.clock)).state === "completed", 180_000, 500);
    expect(await db.machine.count({ where: { ring: { name: "gate" }, bootedChecksum: checksumOf("3") } })).toBe(MACHINES - 3);
    const steps = (await getRollout(db, rollout.id, app.clock)).progress.steps;
    expect(steps).toMatchObject({ succeeded: MACHINES - 3, cancelled: 3, held: 0, failed: 0, rolled_back: 0, dark: 0 });
    figures.gatePause = { bootedAtPause: at.booted, grantedAtPause: at.granted, heldFirst: held, heldLater, bootedDuringPause: during.booted };
  }, 300_000);

  it("an abort: the same as the brake", async () => {
    const db = app.db.prisma;
    await ringWithFleet(db, app.url, "abort", [{ count: MACHINES }]);
    const rollout = await startRollout(db, cliActor, plan("4", "abort"), app.clock);
    await waitFor("the first machines to boot the release", async () => (await standing(db, "abort", "4")).booted >= 3, 120_000, 100);

    const pulled = new Date();
    await abortRollout(db, cliActor, { rolloutId: rollout.id, reason: "measured" }, app.clock);
    const at = await standing(db, "abort", "4");
    expect(at.onTheirWay.length).toBeGreaterThan(10);
    const last = await cancelledBy(db, at.onTheirWay, "4", 60_000);
    const cancelMs = last.getTime() - pulled.getTime();
    expect(cancelMs).toBeLessThanOrEqual(CANCEL_BOUND_MS);
    await new Promise((r) => setTimeout(r, 4 * BUSY * 1000));
    const after = await standing(db, "abort", "4");
    expect(after.booted).toBeLessThanOrEqual(at.booted + at.granted);
    // The controller follows the aborted rollout until its machines said they stopped.
    await waitFor("every cancelled machine counted", async () => (await getRollout(db, rollout.id, app.clock)).progress.steps.cancelled >= at.onTheirWay.length, 30_000, 250);
    figures.abort = { bootedAtAbort: at.booted, grantedAtAbort: at.granted, staged: at.onTheirWay.length, lastCancelMs: cancelMs, boundMs: CANCEL_BOUND_MS, bootedAfter: after.booted };
  }, 240_000);
});

describe("a console killed between the brake and the agents' next check-ins", () => {
  it("changes nothing: nobody boots the release but the slot holder, and every staged machine cancels once it is back", async () => {
    const databaseUrl = await freshDatabaseUrl();
    const database = await openDatabase({ databaseUrl, dataDir: "/tmp", migrate: false });
    const db = database.prisma;
    const slot = await consoleProcessSlot(databaseUrl, { ORCHARD_BUSY_INTERVAL: String(BUSY) });
    try {
      await addRelease(db, cliActor, FACTORY);
      await addRelease(db, cliActor, { ref: FACTORY.ref, checksum: checksumOf("2"), version: "2" });
      await startConsoleProcess(slot);
      await ringWithFleet(db, slot.url, "killed", [{ count: MACHINES }]);
      await startRollout(db, cliActor, plan("2", "killed"));
      await waitFor("the first machines to boot the release", async () => (await standing(db, "killed", "2")).booted >= 3, 120_000, 100);

      // The brake is committed; the console dies before any agent hears of it.
      await brakeRelease(db, cliActor, { version: "2", reason: "measured, then killed" });
      await killConsoleProcess(slot);
      const at = await standing(db, "killed", "2");
      expect(at.onTheirWay.length).toBeGreaterThan(10);
      await new Promise((r) => setTimeout(r, 3000));
      const restarted = new Date();
      await startConsoleProcess(slot);
      const last = await cancelledBy(db, at.onTheirWay, "2", 150_000);
      await new Promise((r) => setTimeout(r, 4 * BUSY * 1000));
      const after = await standing(db, "killed", "2");
      expect(after.booted).toBeLessThanOrEqual(at.booted + at.granted);
      figures.killedAfterBrake = {
        bootedAtBrake: at.booted,
        grantedAtBrake: at.granted,
        staged: at.onTheirWay.length,
        lastCancelAfterRestartMs: last.getTime() - restarted.getTime(),
        bootedAfter: after.booted,
      };
    } finally {
      await removeConsoleProcess(slot);
      await database.close();
    }
  }, 300_000);
});
