// Apps per ring end to end: the agent's fleet simulator (sim machines with
// Flatpak apps, real HTTP, their own timing) and one agent with the real
// flatpak command on a throwaway user installation and a real Flatpak
// repository built in the test (its commits are the releases), against the
// console on real PostgreSQL with its controller on its timer. The rings' app set is
// installed, an app release goes through three rings, a release whose app
// check fails on the machines pauses the gate in the first ring (the agents
// roll the app back themselves), and a revert leaves the ring on the app's
// previous release, sent with allowDowngrade.
import fs from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { AppHealth } from "../../agent/src/apps/app-health";
import { runCommand } from "../../agent/src/command";
import { FlatpakLab } from "../../agent/src/testing/flatpak-lab";
import { startTestAgent, type TestAgent } from "../../agent/src/testing/test-agent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listRingApps, setRingApp } from "../../server/apps/ring-apps";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, revertRollout, startRollout } from "../../server/rollouts/rollouts";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { FACTORY, startFleet, waitFor } from "../helpers/fleet";

const KIOSK = "app/org.example.Kiosk/x86_64/stable";
const PLATFORM = "runtime/org.example.Platform/x86_64/1.0";
/** The app's commits in the lab's repository, by version. */
const commits: Record<string, string> = {};
const K = (v: string) => commits[v];
/** Sim machines per ring; canary has the real-flatpak machine as well. */
const RINGS = { canary: 3, beta: 6, stable: 8 };
const TOTAL = 18;
let app: TestConsole;
const fleets: ReturnType<typeof startFleet>[] = [];
let lab: FlatpakLab;
let real: TestAgent;

/** Machines per installed commit of the app (its version's digit), with the update state, in a ring or all. */
async function kioskOn(ring?: string) {
  const rows = await app.db.pool.query<{ v: string; state: string | null; n: number }>(
    `SELECT (SELECT r.version FROM releases r JOIN branches b ON b.id = r.branch_id WHERE b.ref = a.ref AND r.checksum = a.commit) AS v,
            a.update_state AS state, count(*)::int AS n
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
  lab = await FlatpakLab.create();
  await lab.runtime("org.example.Platform");
  for (const v of ["1", "2", "3"]) commits[v] = await lab.app("org.example.Kiosk", PLATFORM, `kiosk ${v}`);
  const remote = { name: "orchard-kiosk", url: lab.url, gpgKey: await lab.gpgKeyBase64() };
  await addRelease(db, cliActor, FACTORY);
  for (const v of ["1", "2", "3"]) await addRelease(db, cliActor, { ref: KIOSK, checksum: K(v), version: v });
  for (const [name, count] of Object.entries(RINGS)) {
    await createRing(db, cliActor, { name, branch: FACTORY.ref, rebootSlots: count, checkInIntervalSeconds: 5 });
    await setRingRelease(db, cliActor, { ring: name, version: "1" });
    await setRingApp(db, cliActor, { ring: name, ref: KIOSK, version: "1", remote });
    // Release 3 of the app fails its check on every machine: each rolls it back to what it ran.
    fleets.push(startFleet({ server: app.url, token: await enrollmentToken(app, { ring: name }), count, prefix: name, failAppRelease: "3", appInstallSeconds: 0.2 }));
  }
  // The real one: flatpak in a throwaway user installation; the app's required check fails on release 3.
  const { dir, driver } = await lab.installation();
  const checks = path.join(dir, "app-check", "org.example.Kiosk", "required.d");
  await mkdir(checks, { recursive: true });
  await writeFile(path.join(checks, "10-not-3"), `#!/bin/sh\n[ "$ORCHARD_APP_COMMIT" != "${K("3")}" ] || { echo "kiosk 3 crashes"; exit 1; }\n`);
  await chmod(path.join(checks, "10-not-3"), 0o755);
  real = await startTestAgent(app, {
    machineId: "canary-flatpak",
    enrollmentToken: await enrollmentToken(app, { ring: "canary" }),
    agent: {
      apps: {
        driver,
        checks: new AppHealth({ checksDir: path.join(dir, "app-check"), probes: {}, timeoutSeconds: 30, run: runCommand }),
        timing: { graceSeconds: 0.5, checkRetrySeconds: 0.1 },
      },
    },
  });
  await waitFor("every machine to install the ring's app", async () => (await kioskOn())["1 succeeded"] === TOTAL, 180_000);
}, 300_000);

afterAll(async () => {
  await real?.stop();
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
    // The real machine's flatpak runs release 2: what it reports is what is installed.
    expect((await app.db.prisma.machineApp.findFirstOrThrow({ where: { ref: KIOSK, machine: { machineId: "canary-flatpak" } } })).commit).toBe(K("2"));
    // Nothing rebooted for it: every sim machine still runs its first boot of the OS.
    expect(await app.db.prisma.machine.count({ where: { bootedChecksum: FACTORY.checksum } })).toBe(TOTAL - 1);
  }, 270_000);

  it("pause on the gate when the app's release fails on the canaries; a revert keeps the ring on the previous release", async () => {
    // One wave: every canary, the real machine with them, is sent 3. The gate
    // judges once all of them have finished: with a smaller sample the sims'
    // failures could pause the rollout before the real machine's next
    // check-in, and a paused rollout sends 3 to no machine that has not begun it.
    const rollout = await startRollout(app.db.prisma, cliActor, { ...plan("3"), waves: [100], minSample: RINGS.canary + 1 });
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
    expect(failed.some((f) => /exited with status 1|kiosk 3 crashes/.test(f.detail ?? ""))).toBe(true);
    expect(await app.db.prisma.rolloutMachine.count({ where: { rolloutId: rollout.id, ringId: { not: (await app.db.prisma.ring.findUniqueOrThrow({ where: { name: "canary" } })).id } } })).toBe(0);
    expect(await kioskOn("beta")).toEqual({ "2 succeeded": RINGS.beta });
    // The real machine tried 3 with flatpak, failed its check and went back to 2 itself.
    await waitFor(
      "the real machine to roll 3 back",
      async () => {
        const a = await app.db.prisma.machineApp.findFirst({ where: { ref: KIOSK, machine: { machineId: "canary-flatpak" } } });
        return a?.updateState === "rolled_back" && a.commit === K("2") ? a : null;
      },
      120_000,
    );
    // Every canary, the real machine too, is back on 2, and says it rolled 3
    // back while the paused rollout's ring asks for 2: the gate's verdict stays.
    await waitFor("every canary back on 2", async () => (await kioskOn("canary"))["2 rolled_back"] === RINGS.canary + 1, 60_000);
    const rolledBack = () => app.db.prisma.rolloutMachine.count({ where: { rolloutId: rollout.id, step: "rolled_back" } });
    expect(await rolledBack()).toBe(RINGS.canary + 1);

    await revertRollout(app.db.prisma, cliActor, { rolloutId: rollout.id, reason: "kiosk crashes" });
    expect((await getRollout(app.db.prisma, rollout.id)).state).toBe("reverted");
    expect((await listRingApps(app.db.prisma, { ring: "canary" })).apps[0]).toMatchObject({ release: { version: "2" }, allowDowngrade: true });
    // The canaries stay on 2 and are not asked to try 3 again.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await kioskOn("canary")).toEqual({ "2 rolled_back": RINGS.canary + 1 });
    expect(await rolledBack()).toBe(RINGS.canary + 1);
  }, 270_000);
});
