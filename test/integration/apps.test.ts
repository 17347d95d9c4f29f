// Apps per ring (issue 17, protocol v1.2) over HTTP on real PostgreSQL, the
// controller stepped by hand: the check-in's installed apps stored (and not
// rewritten when unchanged), the answer's `apps` (absent, a ring's set, pins
// per app, [] once emptied), bad input naming its field, and an app release
// rolled out through three rings by machines that act on their answers, a
// failing commit pausing the gate and a revert sending the previous commit
// with allowDowngrade.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { pinMachineApp, unpinMachineApp, listMachineApps } from "../../server/apps/machine-apps";
import { listRingApps, removeRingApp, setRingApp } from "../../server/apps/ring-apps";
import { cliActor } from "../../server/audit/audit";
import { AppError } from "../../server/errors";
import { getMachine } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { healthComparison } from "../../server/rollouts/comparison";
import { getRollout, listRolloutMachines, previewRollout, previewRolloutAction, revertRollout, startRollout } from "../../server/rollouts/rollouts";
import { call, enrollBody, hex } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";

const OS_REF = "exampleos/x86_64/stable";
const KIOSK = "app/org.example.Kiosk/x86_64/stable";
const RUNTIME = "runtime/org.example.Platform/x86_64/1.0";
const REMOTE = { name: "orchard-kiosk", url: "https://apps.example.com/repo", gpgKey: null };
const K1 = hex("a");
const K2 = hex("c");
const K3 = hex("d");
const K4 = hex("e");

let app: TestConsole;
const db = () => app.db.prisma;

interface DesiredApp {
  ref: string;
  remote: { name: string; url: string; gpgKey: string | null };
  commit: string;
  version: string | null;
  reason: string;
  allowDowngrade: boolean;
}
interface Answer {
  apps?: DesiredApp[];
  checkInIntervalSeconds: number;
}

/** A machine that reports its installed apps and, when told, acts on its answer's `apps` as the protocol says. */
class AppMachine {
  seq = 0;
  apps = new Map<string, { commit: string | null; managed: boolean; state: string; target: string | null; error: string | null; health: string | null }>();
  constructor(
    readonly machineId: string,
    readonly token: string,
  ) {}

  body() {
    return {
      seq: ++this.seq,
      sentAt: new Date().toISOString(),
      bootId: `${this.machineId}-boot`,
      agentVersion: "1.2.0",
      deployments: [{ checksum: hex("1"), ref: OS_REF, version: "1", booted: true, staged: false, pinned: false }],
      update: { state: "idle", targetChecksum: null, progress: null, error: null },
      health: { status: "healthy", checks: [] },
      apps: [...this.apps].map(([ref, a]) => ({
        ref,
        commit: a.commit,
        origin: REMOTE.name,
        managed: a.managed,
        ...(ref.startsWith("app/")
          ? {
              update: { state: a.state, targetCommit: a.target, error: a.error },
              health: a.health ? { status: a.health, checks: [{ name: "kiosk-http", status: a.health === "healthy" ? "pass" : "fail" }] } : null,
            }
          : {}),
      })),
    };
  }

  async checkin(): Promise<Answer> {
    const res = await call<Answer>(app.url, "POST", "/checkin", { token: this.token, body: this.body() });
    expect(res.status).toBe(200);
    return res.body;
  }

  /** Checks in, then acts on `apps`: installs or updates to the commit (succeeding, or failing its check and rolling back), removes what is no longer listed. */
  async round(how: "succeed" | "roll-back" = "succeed") {
    const answer = await this.checkin();
    if (!answer.apps) return answer;
    for (const want of answer.apps) {
      const have = this.apps.get(want.ref);
      if (have?.commit === want.commit) continue;
      if (have?.state === "rolled-back" && have.target === want.commit) continue; // not tried again
      if (how === "roll-back") {
        this.apps.set(want.ref, { commit: have?.commit ?? null, managed: true, state: "rolled-back", target: want.commit, error: "kiosk-http: exit 1", health: "healthy" });
      } else {
        this.apps.set(want.ref, { commit: want.commit, managed: true, state: "succeeded", target: want.commit, error: null, health: "healthy" });
      }
    }
    for (const [ref, a] of this.apps) if (a.managed && ref.startsWith("app/") && !answer.apps.some((w) => w.ref === ref)) this.apps.delete(ref);
    await this.checkin();
    return answer;
  }
}

async function enroll(ring: string, machineId: string) {
  const token = await enrollmentToken(app, { ring });
  const res = await call<{ token: string }>(app.url, "POST", "/enroll", { token, body: enrollBody(machineId) });
  expect(res.status).toBe(201);
  return new AppMachine(machineId, res.body.token);
}

async function expectInvalid(promise: Promise<unknown>, field: string) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  // The domain's own checks throw an AppError; its input schema a ZodError: the adapters name the field of either.
  if (error instanceof ZodError) expect(error.issues.map((i) => i.path.join("."))).toContain(field);
  else {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).field).toBe(field);
  }
}

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  await addRelease(db(), cliActor, { ref: OS_REF, checksum: hex("1"), version: "1" });
  for (const [checksum, version] of [[K1, "v1"], [K2, "v2"], [K3, "v3"], [K4, "v4"]]) {
    await addRelease(db(), cliActor, { ref: KIOSK, checksum, version });
  }
  for (const ring of ["canary", "beta", "stable", "plain"]) {
    await createRing(db(), cliActor, { name: ring, branch: OS_REF });
    await setRingRelease(db(), cliActor, { ring, version: "1" });
  }
});

afterAll(async () => {
  await app?.stop();
});

describe("check-in ingest", () => {
  it("stores every installed app and runtime, rewrites only what changed, and puts app changes on the timeline", async () => {
    const m = await enroll("plain", "ingest-1");
    m.apps.set(KIOSK, { commit: K1, managed: true, state: "succeeded", target: K1, error: null, health: "healthy" });
    m.apps.set(RUNTIME, { commit: hex("f"), managed: true, state: "idle", target: null, error: null, health: null });
    const first = await m.checkin();
    // The ring never had an app set: the answer leaves the machine's apps alone.
    expect(first).not.toHaveProperty("apps");
    const machine = await db().machine.findUniqueOrThrow({ where: { machineId: "ingest-1" }, select: { id: true } });
    const stored = await db().machineApp.findMany({ where: { machineId: machine.id }, orderBy: { ref: "asc" } });
    expect(stored.map((a) => [a.ref, a.commit, a.managed, a.updateState, a.healthStatus])).toEqual([
      [KIOSK, K1, true, "succeeded", "healthy"],
      [RUNTIME, hex("f"), true, null, null],
    ]);
    const changes = () => db().machineChange.findMany({ where: { machineId: machine.id, kind: "app" }, orderBy: { id: "asc" } });
    expect(await changes()).toHaveLength(2);

    // Unchanged apps: no row rewritten, no timeline entry, no state version raised.
    const before = await app.db.pool.query<{ xmin: string; ref: string }>("SELECT xmin::text, ref FROM machine_apps WHERE machine_id = $1 ORDER BY ref", [machine.id]);
    const version = (await db().machine.findUniqueOrThrow({ where: { id: machine.id } })).stateVersion;
    await m.checkin();
    await m.checkin();
    const after = await app.db.pool.query<{ xmin: string; ref: string }>("SELECT xmin::text, ref FROM machine_apps WHERE machine_id = $1 ORDER BY ref", [machine.id]);
    expect(after.rows).toEqual(before.rows);
    expect((await db().machine.findUniqueOrThrow({ where: { id: machine.id } })).stateVersion).toBe(version);
    expect(await changes()).toHaveLength(2);

    // One app changes: only its row is rewritten, one timeline entry, the version moves.
    m.apps.set(KIOSK, { commit: K1, managed: true, state: "failed", target: K2, error: "download failed", health: "healthy" });
    await m.checkin();
    const changed = await app.db.pool.query<{ xmin: string; ref: string }>("SELECT xmin::text, ref FROM machine_apps WHERE machine_id = $1 ORDER BY ref", [machine.id]);
    expect(changed.rows[0].xmin).not.toBe(before.rows[0].xmin);
    expect(changed.rows[1].xmin).toBe(before.rows[1].xmin);
    expect((await db().machine.findUniqueOrThrow({ where: { id: machine.id } })).stateVersion).toBeGreaterThan(version);
    const entries = await changes();
    expect(entries).toHaveLength(3);
    expect(entries[2]).toMatchObject({ detail: "download failed" });
    expect(entries[2].after).toContain("failed");

    // No longer reported: removed, on the timeline.
    m.apps.delete(RUNTIME);
    await m.checkin();
    expect(await db().machineApp.count({ where: { machineId: machine.id } })).toBe(1);
    expect((await changes()).at(-1)).toMatchObject({ after: null, detail: "removed" });

    // The machine page's list: version from the app's releases.
    const listed = await listMachineApps(db(), { machineId: "ingest-1" });
    expect(listed).toEqual([expect.objectContaining({ ref: KIOSK, kind: "app", commit: K1, version: "v1", updateState: "failed", updateError: "download failed" })]);
  });

  it("refuses bad apps with the field named, never a 500", async () => {
    const m = await enroll("plain", "ingest-bad");
    const cases: [unknown, RegExp][] = [
      [[{ ref: "org.example.Kiosk", commit: K1 }], /^apps\[0\]\.ref: /],
      [[{ ref: KIOSK, commit: "nothex" }], /^apps\[0\]\.commit: /],
      [[{ ref: KIOSK, commit: K1, update: { state: "staged" } }], /^apps\[0\]\.update\.state: /],
      [[{ ref: KIOSK, commit: K1 }, { ref: KIOSK, commit: K2 }], /^apps\[1\]\.ref: /],
      ["none", /^apps: /],
    ];
    for (const [apps, message] of cases) {
      const res = await call<{ error: { code: string; message: string } }>(app.url, "POST", "/checkin", { token: m.token, body: { ...m.body(), apps } });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
  });
});

describe("the answer's apps", () => {
  it("sends the ring's app set once it has one, keeps a pinned app on its pin, and [] once the set is emptied", async () => {
    await createRing(db(), cliActor, { name: "answers", branch: OS_REF });
    const m = await enroll("answers", "answer-1");
    expect(await m.checkin()).not.toHaveProperty("apps");

    await setRingApp(db(), cliActor, { ring: "answers", ref: KIOSK, version: "v2", remote: REMOTE });
    let answer = await m.checkin();
    expect(answer.apps).toEqual([{ ref: KIOSK, remote: REMOTE, commit: K2, version: "v2", reason: "ring answers · release v2", allowDowngrade: false }]);
    // Not yet there: it checks in at the busy interval? No: only a rollout's open wave hurries it; the ring's set does not.
    expect((await listRingApps(db(), { ring: "answers" })).apps).toHaveLength(1);

    // A pin per app: the machine keeps the pinned (older) commit, allowed down to it.
    await pinMachineApp(db(), cliActor, { machineId: "answer-1", ref: KIOSK, version: "v1" });
    answer = await m.checkin();
    expect(answer.apps).toEqual([expect.objectContaining({ ref: KIOSK, commit: K1, version: "v1", allowDowngrade: true, reason: "pinned to v1" })]);
    // The machine page's answer says the same, with where it comes from.
    expect((await getMachine(db(), "answer-1")).answer.apps).toEqual([expect.objectContaining({ ref: KIOSK, commit: K1, source: "pin", allowDowngrade: true })]);
    await unpinMachineApp(db(), cliActor, { machineId: "answer-1", ref: KIOSK });
    expect((await m.checkin()).apps).toEqual([expect.objectContaining({ commit: K2 })]);

    // Emptied: [] (the agent removes what it installed), not absent.
    await removeRingApp(db(), cliActor, { ring: "answers", ref: KIOSK });
    expect((await m.checkin()).apps).toEqual([]);
  });

  it("refuses a bad app set change with the field named", async () => {
    await expectInvalid(setRingApp(db(), cliActor, { ring: "plain", ref: RUNTIME, version: "v1", remote: REMOTE }), "ref");
    await expectInvalid(setRingApp(db(), cliActor, { ring: "plain", ref: KIOSK, version: "v9", remote: REMOTE }), "version");
    await expectInvalid(setRingApp(db(), cliActor, { ring: "plain", ref: KIOSK, version: "v1" }), "remote");
    await expectInvalid(setRingApp(db(), cliActor, { ring: "plain", ref: KIOSK, version: "v1", remote: { name: "x", url: "ftp://x" } }), "remote.url");
    await expectInvalid(setRingApp(db(), cliActor, { ring: "nope", ref: KIOSK, version: "v1", remote: REMOTE }), "ring");
    await expectInvalid(pinMachineApp(db(), cliActor, { machineId: "ingest-1", ref: KIOSK, version: "v9" }), "version");
    await expectInvalid(startRollout(db(), cliActor, { version: "v2", ref: KIOSK, rings: ["plain"] }), "rings");
  });
});

describe("an app rollout through three rings", () => {
  const rings = ["canary", "beta", "stable"];
  const fleet = new Map<string, AppMachine[]>();
  const all = () => [...fleet.values()].flat();
  const plan = (version: string, extra: Record<string, unknown> = {}) => ({
    version,
    ref: KIOSK,
    rings,
    singleFirst: false,
    waves: [100],
    soakSeconds: 0,
    minSample: 1,
    maxFailureRate: 0.1,
    darkAfterSeconds: 600,
    ...extra,
  });
  const drive = async (rolloutId: string, how: (m: AppMachine) => "succeed" | "roll-back" = () => "succeed", limit = 12) => {
    for (let i = 0; i < limit; i++) {
      await app.controller.stepRollout(rolloutId);
      const rollout = await getRollout(db(), rolloutId);
      if (rollout.state !== "running") return rollout;
      for (const m of all()) await m.round(how(m));
    }
    return getRollout(db(), rolloutId);
  };
  const ringRelease = async (ring: string) => (await listRingApps(db(), { ring })).apps.find((a) => a.ref === KIOSK)?.release.version;

  beforeAll(async () => {
    for (const ring of rings) {
      await setRingApp(db(), cliActor, { ring, ref: KIOSK, version: "v1", remote: REMOTE });
      const machines: AppMachine[] = [];
      for (let i = 0; i < 5; i++) machines.push(await enroll(ring, `${ring}-app-${i}`));
      fleet.set(ring, machines);
    }
    // Every machine installs the ring's v1.
    for (const m of all()) await m.round();
    expect(all().every((m) => m.apps.get(KIOSK)?.commit === K1)).toBe(true);
  });

  it("rolls v2 out wave by wave, ring by ring, judged by the apps' reports", async () => {
    // The dry run measures against each ring's app release, and no ring rebases.
    const preview = await previewRollout(db(), plan("v2"));
    expect(preview.rings.map((r) => [r.ring, r.currentRelease, r.rebase, r.downgrade, r.machines])).toEqual(rings.map((r) => [r, "v1", false, false, 5]));
    const rollout = await startRollout(db(), cliActor, plan("v2"));
    // Before any wave opens, machines keep v1.
    expect((await fleet.get("canary")![0].checkin()).apps).toEqual([expect.objectContaining({ commit: K1 })]);
    const done = await drive(rollout.id);
    expect(done.state).toBe("completed");
    expect(all().every((m) => m.apps.get(KIOSK)?.commit === K2)).toBe(true);
    for (const ring of rings) expect(await ringRelease(ring)).toBe("v2");
    const machines = await listRolloutMachines(db(), { rolloutId: rollout.id });
    expect(machines.rows.every((r) => r.step === "succeeded")).toBe(true);
    // The rollout remembered what each machine ran before: the app's v1.
    expect(await db().rolloutMachine.count({ where: { rolloutId: rollout.id, previousChecksum: K1, previousRef: KIOSK } })).toBe(15);
    // The machine's answer after: the ring's v2, and its timeline has the app's update.
    expect((await fleet.get("stable")![0].checkin()).apps).toEqual([expect.objectContaining({ commit: K2, reason: "ring stable · release v2" })]);
  });

  it("pauses at the gate when v3 fails its check on a canary, and a revert sends v2 back with allowDowngrade", async () => {
    const rollout = await startRollout(db(), cliActor, plan("v3"));
    const failing = fleet.get("canary")![4];
    const paused = await drive(rollout.id, (m) => (m === failing ? "roll-back" : "succeed"));
    expect(paused.state).toBe("paused");
    expect(paused.pausedBy).toBe("gate");
    expect(paused.pauseReason).toMatch(/health gate: ring canary/);
    // The failing machine rolled back and reported it: counted, with the agent's words.
    const rows = await listRolloutMachines(db(), { rolloutId: rollout.id });
    expect(rows.rows.find((r) => r.machine.machineId === failing.machineId)).toMatchObject({ step: "rolled_back", detail: "kiosk-http: exit 1" });
    // The rollout page shows the app as each machine reports it (not its OS): the failing one back on v2, the others on v3.
    expect(rows.appRollout).toBe(true);
    const canaryRows = rows.rows.filter((r) => r.machine.ring?.name === "canary");
    expect(canaryRows.map((r) => [r.machine.machineId === failing.machineId, r.machine.bootedVersion, r.machine.healthStatus]).sort()).toEqual([
      [false, "v3", "healthy"],
      [false, "v3", "healthy"],
      [false, "v3", "healthy"],
      [false, "v3", "healthy"],
      [true, "v2", "healthy"],
    ]);
    // Its confirmations count the app's commit (no reboots), and the A/B view compares the app's health.
    expect(await previewRolloutAction(db(), { rolloutId: rollout.id })).toEqual({ onTheirWay: 0, rebooting: 0, booted: 4, waiting: 0 });
    const comparison = await healthComparison(db(), rollout.id);
    expect(comparison.map((r) => [r.ring, r.newRelease.machines, r.oldRelease.machines, r.newRelease.healthy])).toEqual([
      ["canary", 4, 1, 4],
      ["beta", 0, 5, 0],
      ["stable", 0, 5, 0],
    ]);
    // The other rings never started: their machines are still on v2.
    expect(fleet.get("beta")!.every((m) => m.apps.get(KIOSK)?.commit === K2)).toBe(true);
    expect(fleet.get("canary")!.filter((m) => m.apps.get(KIOSK)?.commit === K3)).toHaveLength(4);

    const reverted = await revertRollout(db(), cliActor, { rolloutId: rollout.id, reason: "kiosk crashes" });
    expect(reverted.state).toBe("reverted");
    expect(reverted.revertedMachines).toBe(5);
    expect(await ringRelease("canary")).toBe("v2");
    const answer = await fleet.get("canary")![0].checkin();
    expect(answer.apps).toEqual([{ ref: KIOSK, remote: REMOTE, commit: K2, version: "v2", reason: "ring canary · release v2", allowDowngrade: true }]);
    for (const m of fleet.get("canary")!) await m.round();
    expect(fleet.get("canary")!.every((m) => m.apps.get(KIOSK)?.commit === K2)).toBe(true);

    // Roll forward to v4 afterwards: the ring's app is no longer allowed down.
    const next = await drive((await startRollout(db(), cliActor, plan("v4"))).id);
    expect(next.state).toBe("completed");
    expect((await listRingApps(db(), { ring: "canary" })).apps[0]).toMatchObject({ release: { version: "v4" }, allowDowngrade: false });
  });
});
