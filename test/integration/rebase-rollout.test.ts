// Moving a ring to another branch (an ostree rebase, a bootc switch) is a
// rollout like any other, over HTTP on real PostgreSQL with the controller
// stepped by hand: machines are sent the new ref wave by wave behind the
// gate, the ring follows the new branch when it completes, a revert puts the
// ring back on its old branch and release and sends machines back to their
// old ref, and a gate breach pauses it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing, getRingByName, listRings, setRingRelease } from "../../server/rings/rings";
import { getRollout, previewRollout, revertRollout, startRollout } from "../../server/rollouts/rollouts";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

/** The new major stream. */
const NEXT = "exampleos/x86_64/next";
const A1 = hex("1");
const B5 = hex("5");
let app: TestConsole;
let sims: SimFleet;
let n = 0;
let ring: string;
let fleet: SimMachine[];

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  sims = new SimFleet(app);
  await addRelease(app.db.prisma, cliActor, { ref: REF, checksum: A1, version: "1" });
  await addRelease(app.db.prisma, cliActor, { ref: NEXT, checksum: B5, version: "5" });
  sims.refs.set(B5, NEXT);
});

afterAll(async () => {
  await app?.stop();
});

beforeEach(async () => {
  n++;
  ring = `rebase${n}`;
  await createRing(app.db.prisma, cliActor, { name: ring, branch: REF });
  await setRingRelease(app.db.prisma, cliActor, { ring, version: "1" });
  fleet = await sims.enroll(ring, 8, A1);
});

const db = () => app.db.prisma;
const step = (id: string) => app.controller.stepRollout(id);
const plan = (extra: Record<string, unknown> = {}) => ({
  version: "5",
  ref: NEXT,
  rings: [ring],
  singleFirst: false,
  waves: [25, 100],
  soakSeconds: 0,
  minSample: 1,
  maxFailureRate: 0.2,
  darkAfterSeconds: 600,
  ...extra,
});
const ringNow = async () => {
  const r = await getRingByName(db(), ring);
  return { branch: r.branch.ref, release: r.currentRelease?.version ?? null };
};

/** Steps the controller and lets every machine act, until the rollout settles (or the hang detector trips). */
async function drive(id: string, behaviour?: Parameters<SimFleet["round"]>[1]) {
  for (let i = 0; i < 12; i++) {
    await step(id);
    const state = (await getRollout(db(), id)).state;
    if (state === "completed" || state === "paused") return state;
    await sims.round([...fleet], behaviour);
  }
  return (await getRollout(db(), id)).state;
}

describe("a rollout of another branch's release", () => {
  it("is previewed as a rebase, sends each wave the new ref behind the gate, and the ring follows the branch on completion", async () => {
    const preview = await previewRollout(db(), plan(), app.clock);
    expect(preview.rings[0]).toMatchObject({ ring, branch: REF, currentRelease: "1", rebase: true });

    const rollout = await startRollout(db(), cliActor, plan(), app.clock);
    await step(rollout.id); // the first wave opens
    const answers = await Promise.all(fleet.map(async (m) => [m, await sims.checkin(m)] as const));
    const sent = answers.filter(([, a]) => a.action === "update");
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThan(fleet.length); // only the first wave
    for (const [, a] of sent) expect(a.desired).toMatchObject({ ref: NEXT, checksum: B5, version: "5" });
    for (const [, a] of answers.filter(([, a]) => a.action !== "update")) expect(a.desired).toMatchObject({ ref: REF, checksum: A1 });
    // While it runs, the ring is still on its branch and release.
    expect(await ringNow()).toEqual({ branch: REF, release: "1" });

    expect(await drive(rollout.id)).toBe("completed");
    expect(fleet.every((m) => m.booted === B5)).toBe(true);
    expect(await ringNow()).toEqual({ branch: NEXT, release: "5" });
    const listed = (await listRings(db())).find((r) => r.name === ring)!;
    expect(listed.branch.ref).toBe(NEXT);
    // The ring's answer after the rollout: its new branch.
    for (const m of fleet) expect(await sims.checkin(m)).toMatchObject({ action: "none", desired: { ref: NEXT, checksum: B5 } });
  });

  it("reverted after completion, puts the ring back on its old branch and release and sends machines back to their old ref", async () => {
    const rollout = await startRollout(db(), cliActor, plan(), app.clock);
    expect(await drive(rollout.id)).toBe("completed");
    expect(await ringNow()).toEqual({ branch: NEXT, release: "5" });
    const row = await db().rolloutRing.findFirstOrThrow({ where: { rolloutId: rollout.id }, select: { previousBranchId: true } });
    const old = await db().branch.findUniqueOrThrow({ where: { ref: REF }, select: { id: true } });
    expect(row.previousBranchId).toBe(old.id);

    const reverted = await revertRollout(db(), cliActor, { rolloutId: rollout.id, reason: "next is not ready" }, app.clock);
    expect(reverted.revertedMachines).toBe(fleet.length);
    expect(await ringNow()).toEqual({ branch: REF, release: "1" });
    for (const m of fleet) expect(await sims.checkin(m)).toMatchObject({ action: "rollback", desired: { ref: REF, checksum: A1 } });
    await sims.round([...fleet]);
    expect(fleet.every((m) => m.booted === A1)).toBe(true);
    // Back on the old branch, machines are left there (no new update toward the other branch).
    for (const m of fleet) expect(await sims.checkin(m)).toMatchObject({ action: "none", desired: { ref: REF, checksum: A1 } });
  });

  it("a ring new to any release goes back to its branch with no release", async () => {
    const fresh = `fresh${n}`;
    await createRing(db(), cliActor, { name: fresh, branch: REF });
    const machines = await sims.enroll(fresh, 2, A1);
    const rollout = await startRollout(db(), cliActor, plan({ rings: [fresh], waves: [100] }), app.clock);
    for (let i = 0; i < 6 && (await getRollout(db(), rollout.id)).state !== "completed"; i++) {
      await step(rollout.id);
      await sims.round([...machines]);
    }
    expect((await getRingByName(db(), fresh)).branch.ref).toBe(NEXT);
    await revertRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
    const back = await getRingByName(db(), fresh);
    expect({ branch: back.branch.ref, release: back.currentRelease }).toEqual({ branch: REF, release: null });
  });

  it("a gate breach pauses it like any other, and the ring stays on its branch", async () => {
    const rollout = await startRollout(db(), cliActor, plan(), app.clock);
    expect(await drive(rollout.id, () => "roll-back")).toBe("paused");
    const paused = await getRollout(db(), rollout.id);
    expect(paused.pauseReason).toMatch(/fail/i);
    expect(paused.rings[0].phase).toBe("active");
    expect(await ringNow()).toEqual({ branch: REF, release: "1" });
    // Machines of the later wave were never sent the new ref.
    const untouched = fleet.filter((m) => m.target === null);
    expect(untouched.length).toBeGreaterThan(0);
    for (const m of untouched) expect(await sims.checkin(m)).toMatchObject({ action: "none", desired: { ref: REF, checksum: A1 } });
  });
});
