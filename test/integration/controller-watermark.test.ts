// The controller's watermark (server/rollouts/controller.ts, VersionMark):
// a step reads only machines whose state_version moved past the ring's
// watermark, so a change that took its number before a step and committed
// after it must still be judged at the next step; and machines that join an
// open wave after the watermark is set must still be assigned.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { moveMachinesToRing } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { startRollout } from "../../server/rollouts/rollouts";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

const R1 = hex("1");
const R2 = hex("2");
let app: TestConsole;
let sims: SimFleet;
const clients: pg.Client[] = [];

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  sims = new SimFleet(app);
  await addRelease(app.db.prisma, cliActor, { ref: REF, checksum: R1, version: "1" });
  await addRelease(app.db.prisma, cliActor, { ref: REF, checksum: R2, version: "2" });
});

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => {});
  await app?.stop();
});

async function client() {
  const c = new pg.Client({ connectionString: app.databaseUrl });
  await c.connect();
  clients.push(c);
  return c;
}

/** The machine's report of the release booted healthy after a new boot, with a new state_version; on `c`, in its transaction if it has one. */
async function reportSucceeded(c: pg.Client, machineId: string) {
  const { rows } = await c.query<{ state_version: string }>(
    `UPDATE machines SET booted_checksum = $1, booted_version = '2', boot_id = 'after-' || machine_id, update_state = 'idle',
                         update_target = NULL, health_status = 'healthy', state_version = nextval('machine_state_version')
      WHERE machine_id = $2 RETURNING state_version::text`,
    [R2, machineId],
  );
  return BigInt(rows[0].state_version);
}

async function stepsOf(rolloutId: string) {
  const rows = await app.db.prisma.rolloutMachine.findMany({ where: { rolloutId }, select: { step: true, machine: { select: { machineId: true } } } });
  return new Map(rows.map((r) => [r.machine.machineId, r.step]));
}

const trackedVersion = async (rolloutId: string) =>
  (await app.db.prisma.rolloutRing.findFirstOrThrow({ where: { rolloutId }, select: { trackedVersion: true } })).trackedVersion;

async function ringWithRollout(name: string, machines: number) {
  await createRing(app.db.prisma, cliActor, { name, branch: REF });
  await setRingRelease(app.db.prisma, cliActor, { ring: name, version: "1" });
  const fleet = await sims.enroll(name, machines, R1, name);
  const rollout = await startRollout(app.db.prisma, cliActor, {
    version: "2",
    rings: [name],
    waves: [100],
    singleFirst: false,
    soakSeconds: 3600,
    darkAfterSeconds: 3600,
  });
  await app.controller.stepRollout(rollout.id); // opens the wave
  await app.controller.stepRollout(rollout.id); // tracks: the watermark is set
  return { fleet, rollout };
}

describe("the controller's watermark", () => {
  it("the sequence hands out its values in order (no per-session cache), as the rule needs", async () => {
    const [row] = await app.db.prisma.$queryRaw<{ cache_size: bigint }[]>`
      SELECT cache_size FROM pg_sequences WHERE sequencename = 'machine_state_version'`;
    expect(Number(row.cache_size)).toBe(1);
  });

  it("judges a change that took its number before a step and committed after it", async () => {
    const { fleet, rollout } = await ringWithRollout("watermark", 4);
    const [late, early, third] = fleet as [SimMachine, SimMachine, SimMachine, SimMachine];
    const before = await trackedVersion(rollout.id);
    expect(before).not.toBeNull();

    // `late` takes its number and holds it uncommitted; `early` takes a larger one and commits.
    const slow = await client();
    await slow.query("BEGIN");
    const lateVersion = await reportSucceeded(slow, late.machineId);
    const earlyVersion = await reportSucceeded(await client(), early.machineId);
    expect(earlyVersion).toBeGreaterThan(lateVersion);

    await app.controller.stepRollout(rollout.id);
    let steps = await stepsOf(rollout.id);
    expect(steps.get(early.machineId)).toBe("succeeded");
    expect(steps.get(late.machineId)).toBe("assigned"); // not committed yet: not seen
    // The watermark stayed below the number still in flight.
    expect((await trackedVersion(rollout.id))!).toBeLessThan(lateVersion);

    // `late` commits while another writer holds a number of its own through the next step.
    await slow.query("COMMIT");
    const other = await client();
    await other.query("BEGIN");
    const thirdVersion = await reportSucceeded(other, third.machineId);
    await app.controller.stepRollout(rollout.id);
    steps = await stepsOf(rollout.id);
    expect(steps.get(late.machineId)).toBe("succeeded");
    expect(steps.get(third.machineId)).toBe("assigned");
    const mark = (await trackedVersion(rollout.id))!;
    expect(mark).toBeGreaterThanOrEqual(earlyVersion); // the previous step's mark became safe once `late` ended
    expect(mark).toBeLessThan(thirdVersion);

    await other.query("COMMIT");
    await app.controller.stepRollout(rollout.id);
    expect((await stepsOf(rollout.id)).get(third.machineId)).toBe("succeeded");
    await app.db.prisma.rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });

  it("assigns machines that join an open wave after the watermark is set: enrolled, or moved in", async () => {
    const { rollout } = await ringWithRollout("joiners", 3);
    await createRing(app.db.prisma, cliActor, { name: "elsewhere", branch: REF });
    await setRingRelease(app.db.prisma, cliActor, { ring: "elsewhere", version: "1" });
    const [moved] = await sims.enroll("elsewhere", 1, R1, "moved");
    const [enrolled] = await sims.enroll("joiners", 1, R1, "enrolled");
    await moveMachinesToRing(app.db.prisma, cliActor, { machineIds: [moved.machineId], ring: "joiners" });
    await app.controller.stepRollout(rollout.id);
    const steps = await stepsOf(rollout.id);
    expect(steps.size).toBe(5);
    expect(steps.get(moved.machineId)).toBe("assigned");
    expect(steps.get(enrolled.machineId)).toBe("assigned");
    await app.db.prisma.rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });

  it("judges at once a machine assigned on the release already", async () => {
    await createRing(app.db.prisma, cliActor, { name: "already", branch: REF });
    await setRingRelease(app.db.prisma, cliActor, { ring: "already", version: "1" });
    const [on, off] = await sims.enroll("already", 2, R1, "already");
    await reportSucceeded(await client(), on.machineId);
    const rollout = await startRollout(app.db.prisma, cliActor, {
      version: "2",
      rings: ["already"],
      waves: [100],
      singleFirst: false,
      soakSeconds: 3600,
      darkAfterSeconds: 3600,
    });
    await app.controller.stepRollout(rollout.id);
    app.clock.advance(1000);
    await app.controller.stepRollout(rollout.id);
    const steps = await stepsOf(rollout.id);
    expect(steps.get(on.machineId)).toBe("succeeded");
    expect(steps.get(off.machineId)).toBe("assigned");
    await app.db.prisma.rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });
});
