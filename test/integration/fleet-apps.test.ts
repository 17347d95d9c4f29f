// Apps per ring end to end: the agent's fleet simulator (sim machines with
// Flatpak apps, real HTTP, their own timing) against the console on real
// PostgreSQL with its controller on its timer. The rings' app set is
// installed, an app release goes through three rings, a release whose app
// check fails on the machines pauses the gate in the first ring (the agents
// roll the app back themselves), and a revert leaves the ring on the app's
// previous release, sent with allowDowngrade.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listRingApps, setRingApp } from "../../server/apps/ring-apps";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, revertRollout, startRollout } from "../../server/rollouts/rollouts";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { FACTORY, startFleet, waitFor } from "../helpers/fleet";

const KIOSK = "app/org.example.Kiosk/x86_64/stable";
const K = (v: string) => `a${v}`.repeat(32);
const RINGS = { canary: 4, beta: 6, stable: 8 };
const TOTAL = 18;
let app: TestConsole;
const fleets: ReturnType<typeof startFleet>[] = [];

/** Machines per installed commit of the app (its version's digit), with the update state, in a ring or all. */
async function kioskOn(ring?: string) {
  const rows = await app.db.pool.query<{ v: string; state: string | null; n: number }>(
    `SELECT right(a.commit, 1) AS v, a.update_state AS state, count(*)::int AS n
       FROM machine_apps a JOIN machines m ON m.id = a.machine_id JOIN rings r ON r.id = m.ring_id
      WHERE a.ref = $1 AND ($2::text IS NULL OR r.name = $2)
      GROUP BY 1, 2 ORDER BY 1, 2`,
    [KIOSK, ring ?? null],
  );
  return Object.fromEntries(rows.rows.map((r) => [`${r.v} ${r.state}`, r.n]));
}

const plan = (version: string) => ({
  version,
  ref: KIOSK,
  rings: Object.keys(RINGS),
  waves: [50, 100],
  singleFirst: false,
  soakSeconds: 0,
  maxFailureRate: 0.2,
  minSample: 1,
  darkAfterSeconds: 120,
});

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_BUSY_INTERVAL: "1", ORCHARD_CONTROLLER_INTERVAL_MS: "300", ORCHARD_LASTSEEN_FLUSH_MS: "1000" }, { controller: true });
  const db = app.db.prisma;
  await addRelease(db, cliActor, FACTORY);
  for (const v of ["1", "2", "3"]) await addRelease(db, cliActor, { ref: KIOSK, checksum: K(v), version: v });
  for (const [name, count] of Object.entries(RINGS)) {
    await createRing(db, cliActor, { name, branch: FACTORY.ref, rebootSlots: count, checkInIntervalSeconds: 5 });
    await setRingRelease(db, cliActor, { ring: name, version: "1" });
    await setRingApp(db, cliActor, { ring: name, ref: KIOSK, version: "1", remote: { name: "orchard-kiosk", url: "https://apps.example.com/repo" } });
    // Release 3 of the app fails its check on every machine: each rolls it back to what it ran.
    fleets.push(startFleet({ server: app.url, token: await enrollmentToken(app, { ring: name }), count, prefix: name, failAppRelease: "3", appInstallSeconds: 0.2 }));
  }
  await waitFor("every machine to install the ring's app", async () => (await kioskOn())["1 succeeded"] === TOTAL, 120_000);
}, 180_000);

afterAll(async () => {
  await Promise.all(fleets.map((f) => f.stop()));
  await app?.stop();
  for (const f of fleets) fs.rmSync(f.stateDir, { recursive: true, force: true });
});

describe("sim agents with apps", () => {
  it("take an app release through three rings, wave by wave, judged by their apps' reports", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, plan("2"));
    await waitFor("the app rollout to complete", async () => (await getRollout(app.db.prisma, rollout.id)).state === "completed", 240_000, 1000);
    expect(await kioskOn()).toEqual({ "2 succeeded": TOTAL });
    for (const ring of Object.keys(RINGS)) expect((await listRingApps(app.db.prisma, { ring })).apps[0].release.version).toBe("2");
    const steps = await app.db.prisma.rolloutMachine.groupBy({ by: ["step"], where: { rolloutId: rollout.id }, _count: { _all: true } });
    expect(steps).toEqual([{ step: "succeeded", _count: { _all: TOTAL } }]);
    // Nothing rebooted for it: every machine still runs its first boot of the OS.
    expect(await app.db.prisma.machine.count({ where: { bootedChecksum: FACTORY.checksum } })).toBe(TOTAL);
  }, 270_000);

  it("pause on the gate when the app's release fails on the canaries; a revert keeps the ring on the previous release", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, plan("3"));
    const paused = await waitFor(
      "the gate to pause the rollout",
      async () => {
        const r = await getRollout(app.db.prisma, rollout.id);
        return r.state === "paused" ? r : null;
      },
      240_000,
      1000,
    );
    expect(paused.pausedBy).toBe("gate");
    expect(paused.pauseReason).toMatch(/health gate: ring canary/);
    // The canaries that tried it rolled it back on the machine and said why; beta and stable never saw it.
    const failed = await app.db.prisma.rolloutMachine.findMany({ where: { rolloutId: rollout.id, step: "rolled_back" }, select: { detail: true } });
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0].detail).toMatch(/exited with status 1/);
    expect(await app.db.prisma.rolloutMachine.count({ where: { rolloutId: rollout.id, ringId: { not: (await app.db.prisma.ring.findUniqueOrThrow({ where: { name: "canary" } })).id } } })).toBe(0);
    expect(await kioskOn("beta")).toEqual({ "2 succeeded": RINGS.beta });
    expect(Object.keys(await kioskOn("canary")).every((k) => k.startsWith("2 "))).toBe(true);

    await revertRollout(app.db.prisma, cliActor, { rolloutId: rollout.id, reason: "kiosk crashes" });
    expect((await getRollout(app.db.prisma, rollout.id)).state).toBe("reverted");
    expect((await listRingApps(app.db.prisma, { ring: "canary" })).apps[0]).toMatchObject({ release: { version: "2" }, allowDowngrade: true });
    // The canaries stay on 2 and are not asked to try 3 again.
    await new Promise((r) => setTimeout(r, 4000));
    expect(Object.keys(await kioskOn("canary")).every((k) => k.startsWith("2 "))).toBe(true);
  }, 270_000);
});
