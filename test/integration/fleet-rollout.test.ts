// A rollout as operators live it: 1,000 simulated agents (the fleet
// simulator, real HTTP, their own timing) against the console on real
// PostgreSQL, its controller on its timer, and a clock the test can move.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { pinMachine } from "../../server/rollouts/machine-actions";
import { brakeRelease, getRollout, revertRollout, startRollout } from "../../server/rollouts/rollouts";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { FACTORY, startFleet, waitFor } from "../helpers/fleet";

const R2 = "2".repeat(64);
const R3 = "3".repeat(64);
const RINGS = { canary: 50, beta: 300, stable: 650 };
let app: TestConsole;
const fleets: ReturnType<typeof startFleet>[] = [];

const booted = async (ring: string) =>
  Object.fromEntries(
    (
      await app.db.prisma.machine.groupBy({ by: ["bootedChecksum"], where: { ring: { name: ring } }, _count: { _all: true } })
    ).map((g) => [g.bootedChecksum?.slice(0, 1) ?? "none", g._count._all]),
  );

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_BUSY_INTERVAL: "1", ORCHARD_CONTROLLER_INTERVAL_MS: "500", ORCHARD_LASTSEEN_FLUSH_MS: "1000" }, { controller: true });
  const db = app.db.prisma;
  await addRelease(db, cliActor, FACTORY);
  await addRelease(db, cliActor, { ref: FACTORY.ref, checksum: R2, version: "2" });
  await addRelease(db, cliActor, { ref: FACTORY.ref, checksum: R3, version: "3" });
  for (const [name, count] of Object.entries(RINGS)) {
    await createRing(db, cliActor, { name, branch: FACTORY.ref, rebootSlots: count, checkInIntervalSeconds: 5 });
    await setRingRelease(db, cliActor, { ring: name, version: "1" });
  }
  const url = app.url;
  fleets.push(startFleet({ server: url, token: await enrollmentToken(app, { ring: "canary" }), count: RINGS.canary, prefix: "canary" }));
  // 10 % of beta fails its health checks after booting release 3, and rolls back on the machine.
  fleets.push(startFleet({ server: url, token: await enrollmentToken(app, { ring: "beta" }), count: 270, prefix: "beta" }));
  fleets.push(startFleet({ server: url, token: await enrollmentToken(app, { ring: "beta" }), count: 30, prefix: "betafail", failRelease: "3" }));
  fleets.push(startFleet({ server: url, token: await enrollmentToken(app, { ring: "stable" }), count: RINGS.stable, prefix: "stable" }));
  await waitFor("1,000 machines enrolled and reporting", async () => (await db.machine.count({ where: { bootedChecksum: FACTORY.checksum } })) === 1000, 120_000);
}, 180_000);

afterAll(async () => {
  await Promise.all(fleets.map((f) => f.stop()));
  await app?.stop();
  for (const f of fleets) fs.rmSync(f.stateDir, { recursive: true, force: true });
});

describe("1,000 simulated agents", () => {
  it("take a clean rollout through three rings", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, {
      version: "2",
      rings: ["canary", "beta", "stable"],
      waves: [10, 50, 100],
      soakSeconds: 0,
      maxFailureRate: 0.05,
      minSample: 5,
      darkAfterSeconds: 600,
    });
    await waitFor("the rollout to complete", async () => (await getRollout(app.db.prisma, rollout.id)).state === "completed", 300_000, 2000);
    for (const ring of Object.keys(RINGS)) expect(await booted(ring)).toEqual({ "2": RINGS[ring as keyof typeof RINGS] });
    const rows = await app.db.prisma.rolloutMachine.groupBy({ by: ["step"], where: { rolloutId: rollout.id }, _count: { _all: true } });
    expect(rows).toEqual([{ step: "succeeded", _count: { _all: 1000 } }]);
  }, 330_000);

  it("pause on the health gate when 10 % of beta rolls back, before any stable machine is touched; revert brings them back", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, {
      version: "3",
      rings: ["canary", "beta", "stable"],
      waves: [10, 50, 100],
      soakSeconds: 0,
      maxFailureRate: 0.05,
      minSample: 10,
      darkAfterSeconds: 600,
    });
    const paused = await waitFor(
      "the gate to pause the rollout",
      async () => {
        const r = await getRollout(app.db.prisma, rollout.id);
        return r.state === "paused" ? r : null;
      },
      300_000,
      1000,
    );
    expect(paused.pausedBy).toBe("gate");
    expect(paused.pauseReason).toMatch(/ring beta/);
    expect(paused.rings[2].phase).toBe("pending");
    expect(await app.db.prisma.rolloutMachine.count({ where: { rolloutId: rollout.id, ringId: paused.rings[2].ringId } })).toBe(0);
    expect(await booted("stable")).toEqual({ "2": RINGS.stable });
    const rolledBack = await app.db.prisma.rolloutMachine.count({ where: { rolloutId: rollout.id, step: "rolled_back" } });
    expect(rolledBack).toBeGreaterThan(0);
    const failed = await app.db.prisma.rolloutMachine.count({ where: { rolloutId: rollout.id, step: "failed" } });
    expect(failed).toBe(0); // a rollback is its own outcome

    const reverted = await revertRollout(app.db.prisma, cliActor, { rolloutId: rollout.id, reason: "beta kiosks fail" });
    expect(reverted.state).toBe("reverted");
    await waitFor(
      "every touched machine back on its previous checksum",
      async () => (await app.db.prisma.machine.count({ where: { bootedChecksum: R3 } })) === 0,
      180_000,
      2000,
    );
    for (const ring of Object.keys(RINGS)) expect(await booted(ring)).toEqual({ "2": RINGS[ring as keyof typeof RINGS] });
  }, 520_000);

  it("pin a machine to a known-good older release, and brake a release everywhere", async () => {
    const machineId = "stable-0042";
    await pinMachine(app.db.prisma, cliActor, { machineId, version: "1", allowDowngrade: true, reason: "known good" });
    await waitFor(
      "the pinned machine to boot release 1",
      async () => (await app.db.prisma.machine.findUnique({ where: { machineId }, select: { bootedChecksum: true } }))?.bootedChecksum === FACTORY.checksum,
      120_000,
    );
    const braked = await brakeRelease(app.db.prisma, cliActor, { version: "2", reason: "drill" });
    expect(braked.quarantined).toBe(true);
    // Nobody is sent release 2 any more: a fresh rollout of it is refused.
    await expect(
      startRollout(app.db.prisma, cliActor, { version: "2", rings: ["canary"], waves: [100] }),
    ).rejects.toThrow(/quarantined/);
  }, 150_000);
});
