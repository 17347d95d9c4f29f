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
import { pauseRollout, resumeRollout, startRollout } from "../../server/rollouts/rollouts";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF, SimFleet } from "../helpers/sim-machines";

const R1 = hex("1");
const R2 = hex("2");
const DARK_AFTER = 3600;
let app: TestConsole;

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_WAVE_STARTS: "1" }, { controller: false });
  const db = app.db.prisma;
  await addRelease(db, cliActor, { ref: REF, checksum: R1, version: "1" });
  await addRelease(db, cliActor, { ref: REF, checksum: R2, version: "2" });
  await createRing(db, cliActor, { name: "ramped", branch: REF }); // the default interval: 300 s
  await setRingRelease(db, cliActor, { ring: "ramped", version: "1" });
});

afterAll(async () => {
  await app?.stop();
});

it("starts a wave's machines one a second in cohort order, telling each when to come back, and counts its dark deadline from its turn", async () => {
  const db = app.db.prisma;
  const sims = new SimFleet(app);
  const machines = await sims.enroll("ramped", 40, R1);
  const rollout = await startRollout(db, cliActor, {
    version: "2",
    rings: ["ramped"],
    singleFirst: false,
    waves: [50, 100],
    soakSeconds: 3600,
    maxFailureRate: 0.5,
    minSample: 1,
    darkAfterSeconds: DARK_AFTER,
  });
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
