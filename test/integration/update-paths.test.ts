// Safe update paths (issue 14, item 3) over HTTP on real PostgreSQL, the
// controller stepped by hand: floors make machines that are behind boot each
// floor in order within one rollout (the agent is only ever sent the next
// hop, and a machine counts as succeeded only on the final release); blocked
// paths are gone around, or leave a machine with no way (sent nothing, and
// the console says why); the dry run shows who takes more than one hop; the
// branch's graph shows floors, blocked paths and who runs what.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { getMachine } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { blockPath, setFloor, unblockPath, updateGraph } from "../../server/releases/update-paths";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, previewRollout, startRollout } from "../../server/rollouts/rollouts";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF, SimFleet } from "../helpers/sim-machines";

let app: TestConsole;
let sims: SimFleet;
const db = () => app.db.prisma;
const R = (n: number) => hex(String(n));

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  sims = new SimFleet(app);
  for (let n = 1; n <= 5; n++) await addRelease(db(), cliActor, { ref: REF, checksum: R(n), version: `${n}` });
});

afterAll(async () => {
  await app?.stop();
});

describe("floors", () => {
  it("send machines two floors behind through each floor in order, within one rollout, and count them succeeded only on the final release", async () => {
    await createRing(db(), cliActor, { name: "floors", branch: REF });
    await setRingRelease(db(), cliActor, { ring: "floors", version: "1" });
    const behind = await sims.enroll("floors", 4, R(1), "floors-old");
    const nearer = await sims.enroll("floors", 2, R(3), "floors-mid");
    await setFloor(db(), cliActor, { version: "2", floor: true, reason: "migrates the database schema" });
    await setFloor(db(), cliActor, { version: "4", floor: true });
    await expect(setFloor(db(), cliActor, { version: "4", floor: true })).rejects.toMatchObject({ field: "floor" });

    const plan = { version: "5", rings: ["floors"], singleFirst: false, waves: [100], soakSeconds: 0, minSample: 1, maxFailureRate: 0.5, darkAfterSeconds: 3600 };
    const preview = await previewRollout(db(), plan, app.clock);
    expect(preview.rings[0]).toMatchObject({ multiHop: 6, noPath: 0 });
    const hops = Object.fromEntries(preview.rings[0]!.waves[0]!.machines.map((m) => [m.machineId, m.hops]));
    expect(hops).toMatchObject({ "floors-old-000": 3, "floors-mid-000": 2 });

    const rollout = await startRollout(db(), cliActor, plan, app.clock);
    await app.controller.stepRollout(rollout.id);
    const all = [...behind, ...nearer];
    // Each round the agent is sent only its next hop: 1 → 2 → 4 → 5 and 3 → 4 → 5.
    const expected = [
      [R(2), R(4)],
      [R(4), R(5)],
      [R(5), null],
    ];
    for (const [forBehind, forNearer] of expected) {
      for (const m of behind) expect((await sims.checkin(m)).desired?.checksum).toBe(forBehind);
      for (const m of nearer) {
        const answer = await sims.checkin(m);
        if (forNearer) expect(answer).toMatchObject({ action: "update", desired: { checksum: forNearer } });
        else expect(answer.action).toBe("none");
      }
      const succeededBefore = (await getRollout(db(), rollout.id)).progress.steps.succeeded;
      expect(succeededBefore).toBe(all.filter((m) => m.booted === R(5)).length);
      await sims.round(all);
      await app.controller.stepRollout(rollout.id);
    }
    const [machine] = behind;
    expect(machine!.booted).toBe(R(5));
    await app.controller.stepRollout(rollout.id);
    const done = await getRollout(db(), rollout.id);
    expect(done.state, JSON.stringify(done.progress.steps)).toBe("completed");
    expect(done.progress.steps.succeeded).toBe(all.length);
  });

  it("a machine on its way is told in words which floor comes first", async () => {
    await createRing(db(), cliActor, { name: "floors-words", branch: REF });
    await setRingRelease(db(), cliActor, { ring: "floors-words", version: "5" });
    const [m] = await sims.enroll("floors-words", 1, R(1));
    const answer = await sims.checkin(m!);
    expect(answer).toMatchObject({ action: "update", desired: { checksum: R(2), version: "2" } });
    const shown = (await getMachine(db(), m!.machineId, app.clock)).answer;
    expect(shown).toMatchObject({ kind: "update", desired: { checksum: R(2) } });
    expect(shown.detail).toMatch(/2 first, 3 boots in all to reach 5/);
  });
});

describe("blocked paths", () => {
  const NEXT = "exampleos/x86_64/next";
  const [A, B, C] = [hex("a"), hex("b"), hex("c")];

  it("are gone around when another way exists; with none left the machine is sent nothing, and the console says why", async () => {
    for (const [checksum, version] of [[A, "n1"], [B, "n2"], [C, "n3"]] as const) await addRelease(db(), cliActor, { ref: NEXT, checksum, version });
    await createRing(db(), cliActor, { name: "blocked", branch: NEXT });
    await setRingRelease(db(), cliActor, { ring: "blocked", version: "n1" });
    const [m] = await sims.enroll("blocked", 1, A);
    await setRingRelease(db(), cliActor, { ring: "blocked", version: "n3" });
    expect((await sims.checkin(m!)).desired?.checksum).toBe(C);

    await blockPath(db(), cliActor, { from: ["n1"], to: "n3", reason: "n3 needs n2's migration" });
    expect((await sims.checkin(m!)).desired?.checksum).toBe(B);

    await blockPath(db(), cliActor, { from: ["n1"], to: "n2" });
    const stuck = await sims.checkin(m!);
    expect(stuck).toMatchObject({ action: "none", desired: null });
    expect((await getMachine(db(), m!.machineId, app.clock)).answer).toMatchObject({
      kind: "no-path",
      detail: expect.stringContaining("no allowed path from n1 to n3"),
    });
    const preview = await previewRollout(db(), { version: "n3", rings: ["blocked"], singleFirst: false, waves: [100] }, app.clock);
    expect(preview.rings[0]).toMatchObject({ noPath: 1 });

    await unblockPath(db(), cliActor, { from: ["n1"], to: "n2" });
    expect((await sims.checkin(m!)).desired?.checksum).toBe(B);

    const graph = await updateGraph(db(), { ref: NEXT });
    expect(graph.releases.map((r) => [r.version, r.floor, r.machines])).toEqual([
      ["n1", false, { blocked: 1 }],
      ["n2", false, {}],
      ["n3", false, {}],
    ]);
    expect(graph.blocked).toMatchObject([{ from: "n1", to: "n3", reason: "n3 needs n2's migration" }]);
    expect(graph.rings).toEqual([{ name: "blocked", currentRelease: "n3" }]);
  });

  it("refuse bad input naming the field and change nothing", async () => {
    await expect(blockPath(db(), cliActor, { from: ["n3"], to: "n2", ref: NEXT })).rejects.toMatchObject({ field: "from" });
    await expect(blockPath(db(), cliActor, { from: ["n1"], to: "n9", ref: NEXT })).rejects.toMatchObject({ field: "to" });
    await expect(blockPath(db(), cliActor, { from: ["n1"], to: "n3", ref: NEXT })).rejects.toMatchObject({ field: "from" });
    await expect(unblockPath(db(), cliActor, { from: ["n1"], to: "n2", ref: NEXT })).rejects.toMatchObject({ field: "from" });
    await expect(updateGraph(db(), { ref: "exampleos/x86_64/none" })).rejects.toMatchObject({ field: "ref" });
    expect((await updateGraph(db(), { ref: NEXT })).blocked).toHaveLength(1);
  });
});
