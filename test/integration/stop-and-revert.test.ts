// Issue 11 over HTTP on real PostgreSQL, the controller stepped by hand:
// pause holds machines that have not rebooted, abort / brake / pin / move
// cancel them, the reboot lock refuses what the console no longer wants,
// one revert rule puts rings back where they were, and the operator's
// answers (allowed actions, the machine's answer, totals) come from the
// server.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { fleetSummary } from "../../server/dashboard/dashboard";
import { getMachine, moveMachinesToRing } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease, updateRingPolicy } from "../../server/rings/rings";
import { pinMachine, previewUnpin, rollbackMachine, unpinMachine } from "../../server/rollouts/machine-actions";
import {
  abortRollout,
  approveRollout,
  brakeRelease,
  getRollout,
  liftQuarantine,
  listRolloutMachines,
  listRollouts,
  pauseRollout,
  previewBrake,
  previewRolloutAction,
  resumeRollout,
  revertRollout,
  startRollout,
} from "../../server/rollouts/rollouts";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

const R1 = hex("1");
const R2 = hex("2");
const R3 = hex("3");
const R4 = hex("4");
let app: TestConsole;
let sims: SimFleet;
let n = 0;
let ringA: string;
let ringB: string;
let a: SimMachine[];
let b: SimMachine[];

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  sims = new SimFleet(app);
  for (const [checksum, version] of [[R1, "1"], [R2, "2"], [R3, "3"], [R4, "4"]]) await addRelease(app.db.prisma, cliActor, { ref: REF, checksum, version });
});

afterAll(async () => {
  await app?.stop();
});

beforeEach(async () => {
  n++;
  ringA = `a${n}`;
  ringB = `b${n}`;
  for (const ring of [ringA, ringB]) {
    await createRing(app.db.prisma, cliActor, { name: ring, branch: REF });
    await setRingRelease(app.db.prisma, cliActor, { ring, version: "1" });
  }
  a = await sims.enroll(ringA, 10, R1);
  b = await sims.enroll(ringB, 6, R1);
});

const db = () => app.db.prisma;
const step = (id: string) => app.controller.stepRollout(id);
const steps = async (id: string) => (await getRollout(db(), id)).progress.steps;
const plan = (extra: Record<string, unknown> = {}) => ({
  version: "2",
  rings: [ringA],
  singleFirst: false,
  waves: [100],
  soakSeconds: 0,
  minSample: 1,
  maxFailureRate: 0.5,
  darkAfterSeconds: 600,
  ...extra,
});

/** Starts a one-wave rollout of "2" on ring A and has every machine stage it (none rebooted yet). */
async function allStaged(extra: Record<string, unknown> = {}) {
  const rollout = await startRollout(db(), cliActor, plan(extra), app.clock);
  await step(rollout.id);
  await sims.round(a, () => "stage");
  await step(rollout.id);
  expect(a.every((m) => m.state === "staged")).toBe(true);
  return rollout.id;
}

describe("pause holds machines that have not rebooted", () => {
  it("answers hold, refuses their reboot slot as held, counts them held without ever going dark, and resume completes the wave", async () => {
    const id = await allStaged();
    const [first, ...rest] = a;
    expect((await sims.rebootLock(first)).status).toBe(200); // granted before the pause: it goes on
    first.state = "rebooting";
    expect(await sims.checkin(first)).toMatchObject({ hold: null, cancel: null });
    await pauseRollout(db(), cliActor, { rolloutId: id, reason: "looking at something" }, app.clock);

    for (const m of rest) {
      const answer = await sims.checkin(m);
      expect(answer).toMatchObject({ action: "update", desired: { checksum: R2 }, hold: { checksum: R2, reason: expect.stringMatching(/is paused/) }, cancel: null });
      expect((await sims.rebootLock(m)).body).toMatchObject({ granted: false, reason: "held" });
    }
    // Long past the dark deadline while paused: held, never dark.
    app.clock.advance(3600_000);
    await step(id);
    expect(await steps(id)).toMatchObject({ held: rest.length, rebooting: 1, dark: 0 });
    expect((await getRollout(db(), id)).actions.resume).toEqual({ allowed: true, why: null });

    await resumeRollout(db(), cliActor, { rolloutId: id }, app.clock);
    await step(id);
    expect((await steps(id)).held).toBe(0);
    await sims.round(a);
    await step(id);
    await step(id);
    const done = await getRollout(db(), id);
    expect(done.state, `${done.pauseReason} ${JSON.stringify(done.progress.steps)}`).toBe("completed");
    expect(a.every((m) => m.booted === R2)).toBe(true);
  });
});

describe("abort, brake, pin and move cancel machines that have not rebooted", () => {
  it("abort: staged machines are told to cancel, refused their slot, and counted cancelled once they stop; booted ones stay", async () => {
    const id = await allStaged();
    const [booted, ...staged] = a;
    await sims.rebootLock(booted);
    sims.boot(booted, R2);
    booted.state = "succeeded";
    await sims.checkin(booted);

    const preview = await previewRolloutAction(db(), { rolloutId: id });
    expect(preview).toEqual({ onTheirWay: staged.length, rebooting: 0, booted: 1, waiting: 0 });
    await abortRollout(db(), cliActor, { rolloutId: id, reason: "stop" }, app.clock);
    for (const m of staged) {
      expect((await sims.rebootLock(m)).body).toMatchObject({ granted: false, reason: "not_wanted" });
      expect(await sims.checkin(m)).toMatchObject({ action: "none", desired: { checksum: R1 }, cancel: { checksum: R2, reason: expect.stringMatching(/aborted/) } });
    }
    expect(await sims.checkin(booted)).toMatchObject({ action: "none", desired: { checksum: R2 }, cancel: null });
    // The controller follows the ended rollout until they say they stopped.
    await sims.round(staged);
    expect(staged.every((m) => m.state === "idle" && m.booted === R1)).toBe(true);
    await step(id);
    expect(await steps(id)).toMatchObject({ cancelled: staged.length, succeeded: 1, staged: 0 });
    const rows = await listRolloutMachines(db(), { rolloutId: id, step: "cancelled" });
    expect(rows.total).toBe(staged.length);
    expect(await app.db.prisma.rolloutMachine.count({ where: { rolloutId: id, finishedAt: null } })).toBe(0);
  });

  it("brake: the preview counts the staged machines it cancels; they cancel, the gate never sees them", async () => {
    const id = await allStaged();
    const preview = await previewBrake(db(), { version: "2" });
    // Machines of earlier tests still boot "2": they are counted as staying.
    expect(preview).toMatchObject({ rollouts: 1, cancel: a.length, rebooting: 0, booted: await db().machine.count({ where: { bootedChecksum: R2 } }) });
    const braked = await brakeRelease(db(), cliActor, { version: "2", reason: "kiosks crash" }, app.clock);
    expect(braked).toMatchObject({ rolloutsStopped: 1, machinesCancelled: a.length });
    for (const m of a) expect(await sims.checkin(m)).toMatchObject({ action: "none", cancel: { checksum: R2, reason: expect.stringMatching(/emergency brake/) } });
    await sims.round(a);
    await step(id);
    const after = await getRollout(db(), id);
    expect(after.progress.steps).toMatchObject({ cancelled: a.length, failed: 0, dark: 0 });
    expect(after.actions.resume).toMatchObject({ allowed: false, why: expect.stringMatching(/quarantined/) });
    await liftQuarantine(db(), cliActor, { version: "2", reason: "test over" }, app.clock);
    await abortRollout(db(), cliActor, { rolloutId: id }, app.clock);
  });

  it("a machine pinned or moved mid-rollout cancels, leaves the gate's sample, and the wave completes without it", async () => {
    const id = await allStaged();
    const [pinned, moved, ...others] = a;
    await pinMachine(db(), cliActor, { machineId: pinned.machineId, version: "1" }, app.clock);
    await moveMachinesToRing(db(), cliActor, { machineIds: [moved.machineId], ring: ringB });
    expect(await sims.checkin(pinned)).toMatchObject({ cancel: { checksum: R2, reason: "the machine was pinned to 1" } });
    expect(await sims.checkin(moved)).toMatchObject({ cancel: { checksum: R2, reason: `ring ${ringB} now runs 1` } });
    await sims.round([pinned, moved]);
    await sims.round(others);
    await step(id);
    await step(id);
    const after = await getRollout(db(), id);
    expect(after.progress.steps).toMatchObject({ cancelled: 2, succeeded: others.length });
    expect(after.state).toBe("completed");
  });
});

describe("one revert rule", () => {
  it("a brake with revert while the rollout awaits approval leaves the waiting ring on its release", async () => {
    // A release of its own: a brake with revert reaches every rollout of the release.
    const rollout = await startRollout(db(), cliActor, plan({ version: "4", rings: [ringA, ringB], approveBetween: true }), app.clock);
    for (let i = 0; i < 4; i++) {
      await step(rollout.id);
      await sims.round(a);
    }
    expect((await getRollout(db(), rollout.id)).state).toBe("awaiting_approval");
    const braked = await brakeRelease(db(), cliActor, { version: "4", revert: true, reason: "bad" }, app.clock);
    expect(braked.machinesReverted).toBe(a.length);
    const rings = await db().ring.findMany({ where: { name: { in: [ringA, ringB] } }, select: { name: true, currentRelease: { select: { version: true } } } });
    expect(Object.fromEntries(rings.map((r) => [r.name, r.currentRelease?.version]))).toEqual({ [ringA]: "1", [ringB]: "1" });
    for (const m of b) expect(await sims.checkin(m)).toMatchObject({ action: "none", desired: { checksum: R1 } });
    for (const m of a) expect(await sims.checkin(m)).toMatchObject({ action: "rollback", desired: { checksum: R1 } });
  });

  it("reverting a completed rollout puts a ring that had no eligible machine back on its release", async () => {
    const empty = `empty${n}`;
    await createRing(db(), cliActor, { name: empty, branch: REF });
    await setRingRelease(db(), cliActor, { ring: empty, version: "1" });
    const rollout = await startRollout(db(), cliActor, plan({ rings: [ringA, empty] }), app.clock);
    for (let i = 0; i < 5; i++) {
      await step(rollout.id);
      await sims.round(a);
    }
    expect((await getRollout(db(), rollout.id)).state).toBe("completed");
    await revertRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
    const ring = await db().ring.findUniqueOrThrow({ where: { name: empty }, select: { currentRelease: { select: { version: true } } } });
    expect(ring.currentRelease?.version).toBe("1");
  });

  it("a revert after an abort sends back the machines on the release and leaves the rings where they were", async () => {
    const id = await allStaged({ waves: [100] });
    const [done, ...staged] = a;
    await sims.rebootLock(done);
    sims.boot(done, R2);
    done.state = "succeeded";
    await sims.checkin(done);
    await abortRollout(db(), cliActor, { rolloutId: id }, app.clock);
    const reverted = await revertRollout(db(), cliActor, { rolloutId: id }, app.clock);
    expect(reverted.revertedMachines).toBe(1);
    expect(await sims.checkin(done)).toMatchObject({ action: "rollback", desired: { checksum: R1 } });
    for (const m of staged) expect(await sims.checkin(m)).toMatchObject({ action: "none", cancel: { checksum: R2 } });
    const ring = await db().ring.findUniqueOrThrow({ where: { name: ringA }, select: { currentRelease: { select: { version: true } } } });
    expect(ring.currentRelease?.version).toBe("1");
  });

  it("reverting a rollout a later one superseded changes nothing the later one did", async () => {
    const first = await startRollout(db(), cliActor, plan(), app.clock);
    for (let i = 0; i < 3; i++) {
      await step(first.id);
      await sims.round(a);
    }
    const second = await startRollout(db(), cliActor, plan({ version: "3" }), app.clock);
    for (let i = 0; i < 3; i++) {
      await step(second.id);
      await sims.round(a);
    }
    expect((await getRollout(db(), second.id)).state).toBe("completed");
    const reverted = await revertRollout(db(), cliActor, { rolloutId: first.id }, app.clock);
    expect(reverted.revertedMachines).toBe(0);
    const ring = await db().ring.findUniqueOrThrow({ where: { name: ringA }, select: { currentRelease: { select: { version: true } } } });
    expect(ring.currentRelease?.version).toBe("3");
    for (const m of a) expect(await sims.checkin(m)).toMatchObject({ action: "none", desired: { checksum: R3 } });
  });

  it("a rollout whose last ring was reverted cannot be resumed into 'completed'", async () => {
    const rollout = await startRollout(db(), cliActor, plan({ rings: [ringA, ringB] }), app.clock);
    // Drive it until its last ring is under way.
    for (let i = 0; i < 10 && (await getRollout(db(), rollout.id)).rings[1].phase !== "active"; i++) {
      await step(rollout.id);
      await sims.round([...a, ...b]);
    }
    expect((await getRollout(db(), rollout.id)).rings.map((r) => r.phase)).toEqual(["completed", "active"]);
    await revertRollout(db(), cliActor, { rolloutId: rollout.id, ring: ringB }, app.clock);
    const after = await getRollout(db(), rollout.id);
    expect(after.state).toBe("paused");
    expect(after.actions.resume).toMatchObject({ allowed: false, why: expect.stringMatching(new RegExp(`ring ${ringB} was reverted`)) });
    await expect(resumeRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock)).rejects.toThrow(/was reverted/);
    // Still stepped by the controller, it never calls itself completed.
    await step(rollout.id);
    expect((await getRollout(db(), rollout.id)).state).toBe("paused");
    const ring = await db().ring.findUniqueOrThrow({ where: { name: ringB }, select: { currentRelease: { select: { version: true } } } });
    expect(ring.currentRelease?.version).toBe("1");
  });
});

describe("what an operator hit", () => {
  it("a machine held by an operator's rollback stays out of the next wave: not assigned, not dark, not a failure", async () => {
    const [held] = a;
    held.previous = R3; // it reports a previous deployment to go back to
    await sims.checkin(held);
    await rollbackMachine(db(), cliActor, { machineId: held.machineId }, app.clock);
    const rollout = await startRollout(db(), cliActor, plan(), app.clock);
    await step(rollout.id);
    app.clock.advance(3600_000);
    await step(rollout.id);
    expect(await db().rolloutMachine.count({ where: { rolloutId: rollout.id, machine: { machineId: held.machineId } } })).toBe(0);
    expect((await getRollout(db(), rollout.id)).rings[0].machines).toBe(a.length - 1);
    await abortRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
  });

  it("unpinning a machine pinned to a newer release says it is a downgrade, and can allow it", async () => {
    const [m] = a;
    await pinMachine(db(), cliActor, { machineId: m.machineId, version: "2" }, app.clock);
    await sims.round([m]);
    expect(m.booted).toBe(R2);
    expect(await previewUnpin(db(), m.machineId)).toMatchObject({ action: "update", desired: { version: "1" }, downgrade: { from: "2", to: "1" } });
    await unpinMachine(db(), cliActor, { machineId: m.machineId }, app.clock);
    expect((await sims.checkin(m)).desired).not.toHaveProperty("allowDowngrade");
    await pinMachine(db(), cliActor, { machineId: m.machineId, version: "2" }, app.clock);
    await unpinMachine(db(), cliActor, { machineId: m.machineId, allowDowngrade: true }, app.clock);
    expect(await sims.checkin(m)).toMatchObject({ action: "update", desired: { checksum: R1, allowDowngrade: true } });
  });

  it("a machine that rolled back on its own is shown as such, not as 'update pending'", async () => {
    const rollout = await startRollout(db(), cliActor, plan(), app.clock);
    await step(rollout.id);
    await sims.round([a[0]], () => "roll-back");
    const machine = await getMachine(db(), a[0].machineId, app.clock);
    expect(machine.answer).toMatchObject({ kind: "refused", title: "Rolled back from 2", detail: expect.stringMatching(/will not try 2 again/) });
    await abortRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
  });

  it("the machine page shows held and cancelling as the agent is told", async () => {
    const id = await allStaged();
    await pauseRollout(db(), cliActor, { rolloutId: id }, app.clock);
    expect((await getMachine(db(), a[1].machineId, app.clock)).answer).toMatchObject({ kind: "held", hold: { checksum: R2 }, rolloutId: id });
    await abortRollout(db(), cliActor, { rolloutId: id }, app.clock);
    expect((await getMachine(db(), a[1].machineId, app.clock)).answer).toMatchObject({ kind: "cancelling", cancel: { checksum: R2 } });
  });

  it("one total for the list, the dashboard and the rollout page; waves numbered from 1", async () => {
    await pinMachine(db(), cliActor, { machineId: a[9].machineId, version: "1" }, app.clock);
    const rollout = await startRollout(db(), cliActor, plan({ rings: [ringA, ringB], waves: [50, 100] }), app.clock);
    await step(rollout.id);
    await sims.round(a, () => "stage");
    await step(rollout.id);
    const page = await getRollout(db(), rollout.id);
    const listed = (await listRollouts(db(), { pageSize: 200 })).rows.find((r) => r.id === rollout.id)!;
    const dashboard = (await fleetSummary(db(), app.clock)).activeRollouts.find((r) => r.id === rollout.id)!;
    expect(page.progress.total).toBe(a.length - 1 + b.length); // the pinned machine takes no part
    expect(listed.progress.total).toBe(page.progress.total);
    expect(dashboard.progress.total).toBe(page.progress.total);
    expect(page.rings[0].currentWave).toBe(1);
    expect(page.rings[0].waves.map((w) => w.number)).toEqual([1, 2]);
    expect(listed.rings[0]).toMatchObject({ currentWave: 1, waves: 2 });
    const rows = await listRolloutMachines(db(), { rolloutId: rollout.id });
    expect(rows.rows.every((r) => r.wave === 1)).toBe(true);
    await abortRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
  });

  it("says when a shut maintenance window next opens", async () => {
    const today = app.clock.now().toISOString().slice(0, 10);
    await updateRingPolicy(db(), cliActor, { ring: ringA, timeZone: "UTC", blackoutDates: [today] });
    const rollout = await startRollout(db(), cliActor, plan(), app.clock);
    const result = await step(rollout.id);
    expect(result.decision).toMatchObject({ kind: "wait", why: expect.stringMatching(/outside its maintenance window; it next opens \d{4}-\d{2}-\d{2}T00:00:00.000Z/) });
    await abortRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
  });

  it("lifting a quarantine is audited with its reason and restarts nothing", async () => {
    const id = await allStaged();
    await brakeRelease(db(), cliActor, { version: "2" }, app.clock);
    await expect(liftQuarantine(db(), cliActor, { version: "2", reason: "" }, app.clock)).rejects.toThrow(/reason/);
    await liftQuarantine(db(), cliActor, { version: "2", reason: "the crash was a bad probe" }, app.clock);
    expect((await getRollout(db(), id)).state).toBe("paused");
    const audit = await db().auditLog.findFirstOrThrow({ where: { action: "release.lift-quarantine" }, orderBy: { at: "desc" } });
    expect(audit.reason).toBe("the crash was a bad probe");
    await resumeRollout(db(), cliActor, { rolloutId: id }, app.clock);
    expect((await getRollout(db(), id)).state).toBe("running");
    await abortRollout(db(), cliActor, { rolloutId: id }, app.clock);
  });

  it("approves only what awaits approval", async () => {
    const rollout = await startRollout(db(), cliActor, plan(), app.clock);
    await expect(approveRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock)).rejects.toThrow(/nothing awaits approval/);
    await abortRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
  });
});
