// Rollouts end to end over HTTP on real PostgreSQL, with the controller
// stepped by hand and the console's clock moved by the test: machines are
// driven through the agent protocol exactly as agents would.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease, updateRingPolicy } from "../../server/rings/rings";
import { RolloutController } from "../../server/rollouts/controller";
import { pinMachine } from "../../server/rollouts/machine-actions";
import { waveFor } from "../../server/rollouts/membership";
import { wavesOf } from "../../server/rollouts/plan";
import { abortRollout, brakeRelease, getRollout, revertRollout, startRollout } from "../../server/rollouts/rollouts";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { type Behaviour, REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

const R1 = hex("1");
const R2 = hex("2");
let app: TestConsole;

let sims: SimFleet;
const checkin = (m: SimMachine) => sims.checkin(m);
const round = (machines: SimMachine[], behaviour?: (m: SimMachine) => Behaviour) => sims.round(machines, behaviour);
const fleet = (ring: string, count: number, prefix = ring) => sims.enroll(ring, count, R1, prefix);

let controller: RolloutController;
let canary: SimMachine[];
let beta: SimMachine[];
let stable: SimMachine[];

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  sims = new SimFleet(app);
  controller = app.controller;
  const db = app.db.prisma;
  await addRelease(db, cliActor, { ref: REF, checksum: R1, version: "1" });
  await addRelease(db, cliActor, { ref: REF, checksum: R2, version: "2" });
});

afterAll(async () => {
  await app?.stop();
});

let ringSuffix = 0;
beforeEach(async () => {
  // Fresh rings and machines for every test.
  ringSuffix++;
  const db = app.db.prisma;
  for (const name of ["canary", "beta", "stable"]) {
    await createRing(db, cliActor, { name: `${name}${ringSuffix}`, branch: REF });
    await setRingRelease(db, cliActor, { ring: `${name}${ringSuffix}`, version: "1" });
  }
  canary = await fleet(`canary${ringSuffix}`, 3);
  beta = await fleet(`beta${ringSuffix}`, 20);
  stable = await fleet(`stable${ringSuffix}`, 20);
});

const rings = () => [`canary${ringSuffix}`, `beta${ringSuffix}`, `stable${ringSuffix}`];

async function drive(rolloutId: string, behaviour?: (m: SimMachine) => Behaviour, maxRounds = 40) {
  for (let i = 0; i < maxRounds; i++) {
    await controller.stepRollout(rolloutId);
    const state = (await getRollout(app.db.prisma, rolloutId)).state;
    if (state !== "running") return state;
    await round([...canary, ...beta, ...stable], behaviour);
    app.clock.advance(61_000);
  }
  return (await getRollout(app.db.prisma, rolloutId)).state;
}

const startPlan = (extra: Record<string, unknown> = {}) => ({
  version: "2",
  rings: rings(),
  waves: [50, 100],
  soakSeconds: 60,
  maxFailureRate: 0.05,
  minSample: 3,
  darkAfterSeconds: 600,
  ...extra,
});

describe("rollouts", () => {
  it("goes ring by ring, wave by wave, and ends with every machine on the release", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan());
    // The first step opens a single machine in canary only.
    await controller.stepRollout(rollout.id);
    const first = await getRollout(app.db.prisma, rollout.id);
    expect(first.rings.map((r) => r.phase)).toEqual(["active", "pending", "pending"]);
    expect(first.rings[0].waves[0].steps.assigned).toBe(1);
    const answers = await Promise.all(canary.map((m) => checkin(m)));
    expect(answers.filter((a) => a.action === "update")).toHaveLength(1);

    expect(await drive(rollout.id)).toBe("completed");
    for (const m of [...canary, ...beta, ...stable]) expect(m.booted, m.machineId).toBe(R2);
    const db = app.db.prisma;
    const ringRows = await db.ring.findMany({ where: { name: { in: rings() } }, select: { currentRelease: { select: { version: true } } } });
    expect(ringRows.every((r) => r.currentRelease?.version === "2")).toBe(true);
    const opened = await db.auditLog.count({ where: { targetId: rollout.id, action: "rollout.open-wave" } });
    expect(opened).toBe(9); // three waves in each of three rings
  });

  it("pauses on the health gate before any stable machine is touched, counting rolled-back machines", async () => {
    const failing = new Set(beta.slice(0, 4).map((m) => m.machineId)); // 20 % of beta
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ singleFirst: false }));
    const state = await drive(rollout.id, (m) => (failing.has(m.machineId) ? "roll-back" : "succeed"));
    expect(state).toBe("paused");
    const after = await getRollout(app.db.prisma, rollout.id);
    expect(after.pausedBy).toBe("gate");
    expect(after.pauseReason).toMatch(new RegExp(`ring beta${ringSuffix}`));
    expect(after.rings[2].phase).toBe("pending");
    expect(stable.every((m) => m.booted === R1)).toBe(true);
    const rolledBack = await app.db.prisma.rolloutMachine.findMany({ where: { rolloutId: rollout.id, step: "rolled_back" }, select: { detail: true } });
    expect(rolledBack.length).toBeGreaterThan(0);
    expect(rolledBack[0].detail).toMatch(/kiosk-app.service/);
    // While paused, machines that have not started are held on the ring's release.
    const waiting = beta.find((m) => m.booted === R1 && !failing.has(m.machineId));
    if (waiting) expect((await checkin(waiting)).desired?.checksum).toBe(R1);
  });

  it("counts a machine's dark deadline from when it began, however late it began", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ rings: [rings()[0]], waves: [100], singleFirst: false }));
    await controller.stepRollout(rollout.id);
    const [late] = canary;
    const step = async () => (await app.db.prisma.rolloutMachine.findFirstOrThrow({ where: { rolloutId: rollout.id, machine: { machineId: late.machineId } } })).step;
    // It checks in only 590 s into its 600 s, and begins.
    app.clock.advance(590_000);
    late.state = "downloading";
    late.target = R2;
    await checkin(late);
    await controller.stepRollout(rollout.id);
    expect(await step()).toBe("downloading");
    // 60 s later it is staged: at work and reporting, not dark.
    app.clock.advance(60_000);
    late.state = "staged";
    await checkin(late);
    await controller.stepRollout(rollout.id);
    expect(await step()).toBe("staged");
    // Not heard from for 600 s after it began: dark.
    app.clock.advance(560_000);
    await controller.stepRollout(rollout.id);
    expect(await step()).toBe("dark");
  });

  it("counts a machine that never comes back as dark, and pauses", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ rings: [`canary${ringSuffix}`], minSample: 1 }));
    const state = await drive(rollout.id, () => "go-dark", 20);
    expect(state).toBe("paused");
    const dark = await app.db.prisma.rolloutMachine.count({ where: { rolloutId: rollout.id, step: "dark" } });
    expect(dark).toBe(1);
    expect((await getRollout(app.db.prisma, rollout.id)).pauseReason).toMatch(/dark/);
  });

  it("reverts: every touched machine boots its previous deployment and the rings go back", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ rings: [`canary${ringSuffix}`, `beta${ringSuffix}`], approveBetween: true }));
    expect(await drive(rollout.id)).toBe("awaiting_approval");
    const touched = canary.filter((m) => m.booted === R2);
    expect(touched).toHaveLength(3);
    const reverted = await revertRollout(app.db.prisma, cliActor, { rolloutId: rollout.id, reason: "test" });
    expect(reverted.state).toBe("reverted");
    expect(reverted.revertedMachines).toBe(3);
    for (const m of touched) {
      const answer = await checkin(m);
      expect(answer).toMatchObject({ action: "rollback", desired: { checksum: R1 } });
    }
    await round(canary);
    expect(canary.every((m) => m.booted === R1)).toBe(true);
    // Back on the previous deployment, nothing more is asked.
    for (const m of canary) expect((await checkin(m)).action).toBe("none");
    const ring = await app.db.prisma.ring.findUniqueOrThrow({ where: { name: `canary${ringSuffix}` }, select: { currentRelease: { select: { version: true } } } });
    expect(ring.currentRelease?.version).toBe("1");
  });

  it("leaves pinned machines out, and the emergency brake stops everything at once", async () => {
    const pinned = beta[0];
    await pinMachine(app.db.prisma, cliActor, { machineId: pinned.machineId, version: "1" });
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ rings: [`beta${ringSuffix}`], singleFirst: false, waves: [100] }));
    await controller.stepRollout(rollout.id);
    expect((await checkin(pinned)).desired?.checksum).toBe(R1);
    const other = beta[1];
    expect((await checkin(other)).desired?.checksum).toBe(R2);

    const braked = await brakeRelease(app.db.prisma, cliActor, { version: "2", reason: "kiosks crash" });
    expect(braked.rolloutsStopped).toBeGreaterThanOrEqual(1);
    const after = await getRollout(app.db.prisma, rollout.id);
    expect(after).toMatchObject({ state: "paused", pausedBy: "brake" });
    expect(after.release.quarantinedAt).not.toBeNull();
    // No machine is sent the quarantined release any more.
    expect((await checkin(other)).desired?.checksum).not.toBe(R2);
    await expect(startRollout(app.db.prisma, cliActor, startPlan())).rejects.toThrow(/quarantined/);
    // Lift the quarantine for the other tests (a test-only shortcut).
    await app.db.prisma.release.updateMany({ where: { version: "2" }, data: { quarantinedAt: null, quarantineReason: null } });
    await app.db.prisma.rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });

  it("sends the release to a machine that joins the ring mid-rollout when its cohort is in an open wave", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ rings: [`beta${ringSuffix}`], singleFirst: false, waves: [50, 100], soakSeconds: 3600 }));
    await controller.stepRollout(rollout.id);
    await round(beta);
    const joiners = await fleet(`beta${ringSuffix}`, 30, `late${ringSuffix}`);
    const view = await app.db.prisma.machine.findMany({ where: { machineId: { in: joiners.map((j) => j.machineId) } }, select: { machineId: true, cohort: true } });
    for (const j of joiners) {
      const cohort = view.find((v) => v.machineId === j.machineId)!.cohort;
      const answer = await checkin(j);
      expect(answer.desired?.checksum, `${j.machineId} at ${cohort}`).toBe(cohort < 0.5 ? R2 : R1);
    }
    await app.db.prisma.rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });

  it("aborts where it stands: updated machines stay, the others are not sent the release", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ rings: [`beta${ringSuffix}`], singleFirst: false, waves: [50, 100], soakSeconds: 3600 }));
    await controller.stepRollout(rollout.id);
    await round(beta);
    const updated = beta.filter((m) => m.booted === R2);
    expect(updated.length).toBeGreaterThan(0);
    await abortRollout(app.db.prisma, cliActor, { rolloutId: rollout.id, reason: "enough" });
    for (const m of beta) {
      const answer = await checkin(m);
      if (m.booted === R2) expect(answer, m.machineId).toMatchObject({ action: "none", desired: { checksum: R2 } });
      else expect(answer.desired?.checksum, m.machineId).toBe(R1);
    }
  });

  it("refuses to send a ring an older release without an explicit allow-downgrade", async () => {
    for (const ring of rings()) await setRingRelease(app.db.prisma, cliActor, { ring, version: "2" });
    await expect(startRollout(app.db.prisma, cliActor, startPlan({ version: "1" }))).rejects.toThrow(/allowDowngrade/);
    const forward = await startRollout(app.db.prisma, cliActor, startPlan({ version: "1", rings: [`canary${ringSuffix}`], allowDowngrade: true }));
    await controller.stepRollout(forward.id);
    const answers = await Promise.all(canary.map((m) => checkin(m)));
    const toOlder = answers.filter((a) => a.desired?.checksum === R1);
    expect(toOlder.length).toBeGreaterThan(0);
    for (const a of toOlder) expect(a.desired).toMatchObject({ allowDowngrade: true });
    await app.db.prisma.rollout.update({ where: { id: forward.id }, data: { state: "aborted" } });
  });

  it("waits for the maintenance window before opening a wave", async () => {
    const closed = { timeZone: "UTC", maintenanceWindows: [], blackoutDates: [new Date(app.clock.now()).toISOString().slice(0, 10)] };
    await updateRingPolicy(app.db.prisma, cliActor, { ring: `canary${ringSuffix}`, ...closed });
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ rings: [`canary${ringSuffix}`] }));
    const step = await controller.stepRollout(rollout.id);
    expect(step.decision).toMatchObject({ kind: "wait", why: expect.stringMatching(/maintenance window/) });
    expect((await getRollout(app.db.prisma, rollout.id)).rings[0].phase).toBe("pending");
    await app.db.prisma.rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });

  it("assigns waves in SQL exactly as the check-in answer computes them", async () => {
    const forced = beta[17].machineId;
    const excluded = beta[3].machineId;
    const rollout = await startRollout(
      app.db.prisma,
      cliActor,
      startPlan({ rings: [`beta${ringSuffix}`], waves: [10, 50, 100], forceFirst: { machineIds: [forced] }, exclude: { machineIds: [excluded] } }),
    );
    expect(await drive(rollout.id)).toBe("completed");
    const ring = await app.db.prisma.rolloutRing.findFirstOrThrow({ where: { rolloutId: rollout.id } });
    const membership = {
      waves: wavesOf({ singleFirst: ring.singleFirst, percents: ring.percents as number[] }),
      forceFirst: ring.forceFirst as { machineIds: string[] },
      exclude: ring.exclude as { machineIds: string[] },
      firstMachineIds: ring.firstMachineIds as string[],
    };
    const machines = await app.db.prisma.machine.findMany({
      where: { ring: { name: `beta${ringSuffix}` } },
      select: { machineId: true, labels: true, cohort: true, rollouts: { where: { rolloutId: rollout.id }, select: { wave: true } } },
    });
    expect(machines).toHaveLength(20);
    for (const m of machines) {
      const expected = waveFor({ machineId: m.machineId, labels: m.labels as Record<string, string>, cohort: m.cohort, pinned: false }, membership);
      expect(m.rollouts[0]?.wave ?? null, m.machineId).toBe(expected);
    }
    expect(machines.find((m) => m.machineId === forced)?.rollouts[0]?.wave).toBe(0);
    expect(machines.find((m) => m.machineId === excluded)?.rollouts).toEqual([]);
  });

  it("advances a wave once when two controllers step at the same time", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, startPlan({ rings: [`stable${ringSuffix}`] }));
    const other = new RolloutController(app.db, { clock: app.clock, log: app.log, intervalMs: 1000 });
    const results = await Promise.all([controller.stepRollout(rollout.id), other.stepRollout(rollout.id)]);
    expect(results.filter((r) => r.acted && r.decision?.kind === "open-wave")).toHaveLength(1);
    const opened = await app.db.prisma.auditLog.count({ where: { targetId: rollout.id, action: "rollout.open-wave" } });
    expect(opened).toBe(1);
    await app.db.prisma.rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });
});
