// A large wave starts its machines a few at a time (ORCHARD_WAVE_STARTS a
// second, rollouts/ramp.ts), in cohort order: at 100,000 machines a 90 %
// wave started as fast as its machines checked in, and the machines at work
// asked more of the consoles than they serve (docs/scaling.md). Through the
// agent protocol on PostgreSQL, with the controller stepped by hand and the
// console's clock moved.
import { afterAll, beforeAll, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { getMachine } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, pauseRollout, resumeRollout, startRollout } from "../../server/rollouts/rollouts";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

const R1 = hex("1");
const R2 = hex("2");
const DARK_AFTER = 3600;
/** The console's busy interval (ORCHARD_BUSY_INTERVAL's default). */
const BUSY_INTERVAL = 10;

/** A rollout of release 2 to one ring: half of it, then the rest, no single first machine. */
function startHalves(ring: string, maxFailureRate: number, darkAfterSeconds: number) {
  return startRollout(app.db.prisma, cliActor, {
    version: "2",
    rings: [ring],
    singleFirst: false,
    waves: [50, 100],
    soakSeconds: 3600,
    maxFailureRate,
    minSample: 1,
    darkAfterSeconds,
  });
}

async function rampOf(rolloutId: string) {
  return app.db.prisma.rolloutRing.findFirstOrThrow({ where: { rolloutId }, select: { rampStartedAt: true, rampSeconds: true, rampHeldAt: true } });
}
let app: TestConsole;

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_WAVE_STARTS: "1", ORCHARD_WAVE_AT_WORK: "4" }, { controller: false });
  const db = app.db.prisma;
  await addRelease(db, cliActor, { ref: REF, checksum: R1, version: "1" });
  await addRelease(db, cliActor, { ref: REF, checksum: R2, version: "2" });
  for (const name of ["ramped", "held", "ended"]) {
    await createRing(db, cliActor, { name, branch: REF }); // the default interval: 300 s
    await setRingRelease(db, cliActor, { ring: name, version: "1" });
  }
});

afterAll(async () => {
  await app?.stop();
});

it("starts a wave's machines one a second in cohort order, telling each when to come back, and counts its dark deadline from its turn", async () => {
  const db = app.db.prisma;
  const sims = new SimFleet(app);
  const machines = await sims.enroll("ramped", 40, R1);
  const rollout = await startHalves("ramped", 0.5, DARK_AFTER);
  await app.controller.stepRollout(rollout.id);

  // Half of 40 machines at one a second: over 20 s from the wave's opening.
  const [ring] = await db.$queryRaw<{ ramp_started_at: Date; ramp_seconds: number }[]>`
    SELECT ramp_started_at, ramp_seconds FROM rollout_rings WHERE rollout_id = ${rollout.id}`;
  expect(ring.ramp_seconds).toBe(20);
  const opened = ring.ramp_started_at.getTime();
  const cohorts = new Map(
    (await db.machine.findMany({ select: { machineId: true, cohort: true } })).map((m) => [m.machineId, m.cohort] as const),
  );
  const turnOf = (machineId: string) => opened + 20_000 * (cohorts.get(machineId)! / 0.5);
  const wave = machines.filter((m) => cohorts.get(m.machineId)! < 0.5);
  expect(wave.length).toBeGreaterThan(5);

  // Each machine's dark deadline is its turn plus the ring's dark-after.
  const rows = await db.rolloutMachine.findMany({ where: { rolloutId: rollout.id }, select: { machine: { select: { machineId: true } }, darkAt: true } });
  expect(rows.length).toBe(wave.length);
  for (const row of rows) {
    expect(Math.abs(row.darkAt.getTime() - (turnOf(row.machine.machineId) + DARK_AFTER * 1000))).toBeLessThan(5);
  }

  // Paused for 100 s: the turns still to come move on by as much.
  await pauseRollout(db, cliActor, { rolloutId: rollout.id }, app.clock);
  app.clock.advance(100_000);
  await resumeRollout(db, cliActor, { rolloutId: rollout.id }, app.clock);
  const shift = (await db.rolloutRing.findFirstOrThrow({ where: { rolloutId: rollout.id } })).rampStartedAt!.getTime() - opened;
  expect(shift).toBeGreaterThanOrEqual(100_000);
  expect(shift).toBeLessThan(110_000);

  // Checking in now: the machines whose turn has come are sent the release;
  // the others, the ring's release, and are told to come back at their turn.
  const now = app.clock.now().getTime();
  const late = wave.filter((m) => turnOf(m.machineId) + shift > now + 3000);
  expect(late.length).toBeGreaterThan(3);
  for (const m of wave) {
    const answer = await sims.checkin(m);
    const turn = turnOf(m.machineId) + shift;
    const due = turn <= app.clock.now().getTime();
    if (due) {
      expect(answer).toMatchObject({ action: "update", desired: { checksum: R2 } });
    } else {
      expect(answer.action).toBe("none");
      expect(answer.desired?.checksum).toBe(R1);
      expect(Math.abs(answer.checkInIntervalSeconds - (turn - app.clock.now().getTime()) / 1000)).toBeLessThanOrEqual(2);
      expect((await sims.rebootLock(m, R2)).body).toMatchObject({ granted: false, reason: "not_wanted" });
    }
  }
  // The machine page says why, and when.
  const waiting = late[late.length - 1];
  expect((await getMachine(db, waiting.machineId, app.clock)).answer).toMatchObject({ kind: "waiting-turn", rolloutId: rollout.id });

  // Past the ramp: every machine of the wave is sent the release, and the next wave's are not.
  app.clock.advance(21_000);
  for (const m of machines) {
    const answer = await sims.checkin(m);
    expect(answer.desired?.checksum).toBe(cohorts.get(m.machineId)! < 0.5 ? R2 : R1);
  }
});

/** Enrolls `count` machines in `ring` and opens the first half of a rollout of release 2: its machines in turn order. */
async function openHalf(ring: string, count: number, darkAfterSeconds: number) {
  const db = app.db.prisma;
  const sims = new SimFleet(app);
  const machines = await sims.enroll(ring, count, R1, ring);
  const rollout = await startHalves(ring, 1, darkAfterSeconds);
  await app.controller.stepRollout(rollout.id);
  const opened = (await rampOf(rollout.id)).rampStartedAt!.getTime();
  const cohorts = new Map((await db.machine.findMany({ where: { ring: { name: ring } }, select: { machineId: true, cohort: true } })).map((m) => [m.machineId, m.cohort] as const));
  const turnOf = (machineId: string) => opened + 20_000 * (cohorts.get(machineId)! / 0.5);
  const byTurn = machines.filter((m) => cohorts.get(m.machineId)! < 0.5).sort((a, b) => turnOf(a.machineId) - turnOf(b.machineId));
  return { sims, rollout, opened, turnOf, byTurn };
}

/**
 * The machine is answered its ring's release and refused a reboot slot for 2;
 * told to come back in `seconds` (give or take 2), not sooner than the busy interval.
 */
async function expectWaiting(sims: SimFleet, m: SimMachine, seconds = BUSY_INTERVAL) {
  const answer = await sims.checkin(m);
  expect(answer).toMatchObject({ action: "none", desired: { checksum: R1 } });
  expect(answer.checkInIntervalSeconds).toBeGreaterThanOrEqual(BUSY_INTERVAL);
  expect(Math.abs(answer.checkInIntervalSeconds - seconds)).toBeLessThanOrEqual(2);
  expect((await sims.rebootLock(m, R2)).body).toMatchObject({ granted: false, reason: "not_wanted" });
}

it("holds the wave while too many of the ring's machines are at work: no machine that has not begun starts, its turn come or not, and none goes dark waiting", async () => {
  const db = app.db.prisma;
  const { sims, rollout, opened, turnOf, byTurn } = await openHalf("held", 40, 60);
  const late = byTurn.filter((m) => turnOf(m.machineId) > opened + 12_000);
  expect(late.length).toBeGreaterThan(2);

  // 10 s in: four of the machines whose turn came stage, and the next step holds the wave.
  app.clock.advance(10_000);
  const due = byTurn.filter((m) => turnOf(m.machineId) <= app.clock.now().getTime() - 100);
  expect(due.length).toBeGreaterThanOrEqual(6);
  const [working, waiting] = [due.slice(0, 4), due.slice(4)];
  await sims.round(working, () => "stage");
  await app.controller.stepRollout(rollout.id);
  const held = await rampOf(rollout.id);
  expect(held.rampHeldAt).not.toBeNull();
  expect((await getRollout(db, rollout.id, app.clock)).rings[0].waves[0]).toMatchObject({ startingHeld: true, startingUntil: null });

  // Held for 100 s, past the dark deadlines (60 s) every waiting machine had: those whose turn
  // came before the hold wait as the late ones do; they come back at the busy interval (20 machines
  // ask far less than 500 a second at it), a late one at the soonest as far off as its turn was.
  app.clock.advance(100_000);
  for (const m of waiting) await expectWaiting(sims, m);
  for (const m of late) await expectWaiting(sims, m, Math.max(BUSY_INTERVAL, (turnOf(m.machineId) - held.rampHeldAt!.getTime()) / 1000));
  const explained = (await getMachine(db, waiting[0].machineId, app.clock)).answer;
  expect(explained).toMatchObject({ kind: "waiting-turn", rolloutId: rollout.id });
  expect(explained.detail).toContain("while many of the ring's machines are at work");

  // The four staged machines stayed staged past their deadline: dark, so none is at work, and the
  // same step lets the wave go, the ramp's start moved on by the time held. No waiting machine went dark.
  await app.controller.stepRollout(rollout.id);
  const steps = await db.rolloutMachine.findMany({ where: { rolloutId: rollout.id }, select: { step: true, darkAt: true, machine: { select: { machineId: true } } } });
  const stepOf = (m: SimMachine) => steps.find((r) => r.machine.machineId === m.machineId)!;
  for (const m of working) expect(stepOf(m).step).toBe("dark");
  for (const m of [...waiting, ...late]) {
    expect(stepOf(m).step).toBe("assigned");
    expect(stepOf(m).darkAt.getTime()).toBeGreaterThan(app.clock.now().getTime());
  }
  const going = await rampOf(rollout.id);
  expect(going.rampHeldAt).toBeNull();
  const shift = going.rampStartedAt!.getTime() - opened;
  expect(shift).toBeGreaterThanOrEqual(100_000);
  expect(shift).toBeLessThan(115_000);
  // Let go: the machines whose turn had come start; past the rest of the ramp, the late ones too.
  for (const m of waiting) expect((await sims.checkin(m)).desired?.checksum).toBe(R2);
  app.clock.advance(12_000);
  for (const m of late) expect((await sims.checkin(m)).desired?.checksum).toBe(R2);
});

it("holds a wave whose turns have all come (its ramp shorter than the ring's interval) until half of its machines at work are done", async () => {
  const db = app.db.prisma;
  const { sims, rollout, byTurn } = await openHalf("ended", 40, DARK_AFTER);
  // Past the 20 s ramp: every machine's turn has come, and each takes it at its next check-in.
  app.clock.advance(25_000);
  const [working, waiting] = [byTurn.slice(0, 4), byTurn.slice(4)];
  expect(waiting.length).toBeGreaterThan(2);
  await sims.round(working, () => "stage");
  await app.controller.stepRollout(rollout.id);
  expect((await rampOf(rollout.id)).rampHeldAt).not.toBeNull();
  expect((await getRollout(db, rollout.id, app.clock)).rings[0].waves[0]).toMatchObject({ startingHeld: true });

  // Held: the rest wait; those at work go on (a staged machine gets its reboot slot).
  for (const m of waiting) await expectWaiting(sims, m);
  expect((await sims.rebootLock(working[0], R2)).body).toMatchObject({ granted: true });

  // Two of the four finish (half the limit left at work): let go, and the rest start.
  await sims.round(working.slice(0, 2));
  await app.controller.stepRollout(rollout.id);
  expect((await rampOf(rollout.id)).rampHeldAt).toBeNull();
  for (const m of waiting) expect(await sims.checkin(m)).toMatchObject({ action: "update", desired: { checksum: R2 } });
});
