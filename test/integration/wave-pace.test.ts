// An open wave's machines that have booted the release are watched at a
// pace the whole wave can afford (ORCHARD_WAVE_CHECKINS check-ins a second
// in all), while those with work to do keep the busy interval: at 100,000
// machines a 90 % wave on a 10 s busy interval asked 9,000 check-ins a
// second of the consoles (docs/scaling.md).
import { afterAll, beforeAll, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { startRollout } from "../../server/rollouts/rollouts";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF, SimFleet } from "../helpers/sim-machines";

const R1 = hex("1");
const R2 = hex("2");
let app: TestConsole;

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_BUSY_INTERVAL: "1", ORCHARD_WAVE_CHECKINS: "1" }, { controller: false });
  const db = app.db.prisma;
  await addRelease(db, cliActor, { ref: REF, checksum: R1, version: "1" });
  await addRelease(db, cliActor, { ref: REF, checksum: R2, version: "2" });
  await createRing(db, cliActor, { name: "paced", branch: REF }); // the default interval: 300 s
  await setRingRelease(db, cliActor, { ring: "paced", version: "1" });
});

afterAll(async () => {
  await app?.stop();
});

it("stretches the interval of an open wave's updated machines with the wave's size, up to the ring's", async () => {
  const sims = new SimFleet(app);
  const machines = await sims.enroll("paced", 40, R1);
  const rollout = await startRollout(app.db.prisma, cliActor, {
    version: "2",
    rings: ["paced"],
    singleFirst: false,
    waves: [50, 100],
    soakSeconds: 3600,
    maxFailureRate: 0.5,
    minSample: 1,
    darkAfterSeconds: 3600,
  });
  await app.controller.stepRollout(rollout.id);

  const answers = new Map(await Promise.all(machines.map(async (m) => [m.machineId, await sims.checkin(m)] as const)));
  const inWave = machines.filter((m) => answers.get(m.machineId)?.action === "update");
  const outside = machines.filter((m) => answers.get(m.machineId)?.action === "none");
  expect(inWave.length + outside.length).toBe(40);
  expect(inWave.length).toBeGreaterThan(5);
  // Told to update: the busy interval. Not in the open wave: the ring's.
  for (const m of inWave) expect(answers.get(m.machineId)?.checkInIntervalSeconds).toBe(1);
  for (const m of outside) expect(answers.get(m.machineId)?.checkInIntervalSeconds).toBe(300);

  // Booted and healthy, waiting out the soak: the wave's machines share one check-in a second.
  await sims.round(inWave);
  expect(inWave.every((m) => m.booted === R2)).toBe(true);
  const wave = 40 * 0.5; // the ring's machines the open waves reach, at one check-in a second
  for (const m of inWave) expect((await sims.checkin(m)).checkInIntervalSeconds).toBe(wave);
});
