// hawkBit DDI against Debian's stock SWUpdate (suricatta), real processes
// against a real console on real PostgreSQL: devices enroll with a gateway
// token (one says who it is through swupdate.cfg's identify: configData,
// kept as labels), a rollout's waves reach them one at a time, they download
// and install a signed .swu, confirm after their restart (-c 2, one with a
// target token issued meanwhile) and the rollout moves on; a .swu whose payload hash is wrong is reported failed and the gate
// pauses the rollout; an abort reaches a device as cancelAction. Deadlines
// are hang detectors only: each wait polls the database.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactsDir, storeArtifact } from "../../server/artifacts/artifacts";
import { cliActor } from "../../server/audit/audit";
import { issueTargetToken } from "../../server/ddi/target-tokens";
import { addRelease } from "../../server/releases/releases";
import { createRing } from "../../server/rings/rings";
import { abortRollout, getRollout, startRollout } from "../../server/rollouts/rollouts";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { buildSwu, devicesDir, type SigningKey, signingKey, startSwupdate, type SwupdateDevice } from "../helpers/swupdate";

const REF = "acme/board/stable";
let app: TestConsole;
let dir: string;
let signer: SigningKey;
const devices: SwupdateDevice[] = [];
const db = () => app.db.prisma;

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_BUSY_INTERVAL: "1" }, { controller: false });
  dir = devicesDir();
  signer = signingKey(dir);
});

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await app?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A release of REF whose only artifact is `swu` (its checksum: the file's sha256). */
async function release(version: string, swu: { path: string; sha256: string }) {
  const added = await addRelease(db(), cliActor, { ref: REF, checksum: swu.sha256, version });
  const body = fs.createReadStream(swu.path);
  await storeArtifact(db(), cliActor, { releaseId: added.id, name: path.basename(swu.path), sha256: swu.sha256 }, body, { dir: artifactsDir(app.dataDir), maxBytes: 8 << 20 });
  return { ...added, checksum: swu.sha256 };
}

function device(id: string, token: string | { target: string }, options: { confirm?: 2; maxDownloadSpeed?: string; identify?: Record<string, string> } = {}): SwupdateDevice {
  const d = startSwupdate({ dir, url: `${app.url}/ddi`, id, cert: signer.cert, token: typeof token === "string" ? { gateway: token } : token, ...options });
  devices.push(d);
  return d;
}

/** Restarts the device as its start-up after the update would: `-c 2` confirms the install. */
async function restart(d: SwupdateDevice, token: string | { target: string }) {
  await d.stop();
  return device(d.id, token, { confirm: 2 });
}

const machine = (id: string) =>
  db().machine.findUnique({ where: { machineId: id }, select: { backend: true, ringId: true, updateState: true, updateTarget: true, updateError: true, bootedChecksum: true, bootedVersion: true, labels: true } });
const stepOf = async (rolloutId: string, id: string) => (await db().rolloutMachine.findFirst({ where: { rolloutId, machine: { machineId: id } }, select: { step: true } }))?.step;

/** Waits (stepping the rollout, if any) until `check` holds; the deadline only detects a hang, with the devices' output. */
async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, rolloutId?: string, seconds = 90): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    if (rolloutId) await app.controller.stepRollout(rolloutId);
    const value = await check();
    if (value) return value;
    if (Date.now() > end) {
      const out = devices.map((d) => `--- ${d.id}${d.exited() ? " (exited)" : ""}\n${d.output().slice(-3000)}`).join("\n");
      throw new Error(`timed out waiting for ${what}\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// Hang detectors: a whole test waits at most this long (each wait inside it at most 90 s).
describe("SWUpdate over DDI", { timeout: 300_000 }, () => {
  it("enrolls with a gateway token, installs in its wave, confirms after its restart, and the rollout moves on", async () => {
    // The folder a .swu installs into is inside it: the ring's devices share one here.
    const shared = path.join(dir, "shared-install");
    fs.mkdirSync(shared, { recursive: true });
    const swu2 = buildSwu(dir, signer, { version: "2.0.0", content: "two\n", installDir: shared });
    const v2 = await release("2.0.0", swu2);
    await createRing(db(), cliActor, { name: "swu-a", branch: REF, checkInIntervalSeconds: 5 });
    const gateway = await enrollmentToken(app, { ring: "swu-a" });

    // One device says who it is (swupdate.cfg's identify): its attributes become its labels.
    let a = device("swu-a-1", gateway, { identify: { hwRevision: "1.0", site: "fra-1" } });
    let b = device("swu-a-2", gateway);
    const ringId = (await db().ring.findUniqueOrThrow({ where: { name: "swu-a" }, select: { id: true } })).id;
    for (const d of [a, b]) {
      const m = await until(`${d.id} to enroll`, () => machine(d.id));
      expect(m).toMatchObject({ backend: "swupdate", ringId, updateState: "idle" });
    }
    await until("swu-a-1's configData", async () => (await machine("swu-a-1"))?.labels && JSON.stringify((await machine("swu-a-1"))!.labels).includes("fra-1"));
    expect((await machine("swu-a-1"))!.labels).toMatchObject({ hwRevision: "1.0", site: "fra-1" });

    const rollout = await startRollout(db(), cliActor, { version: "2.0.0", rings: ["swu-a"], singleFirst: true, waves: [100], soakSeconds: 0, minSample: 1, maxFailureRate: 0.5, darkAfterSeconds: 3600 }, app.clock);
    // The single first device of the wave installs; it waits for its restart to confirm.
    const first = await until("a device of the first wave to install", async () => {
      for (const d of [a, b]) if ((await machine(d.id))?.updateState === "rebooting") return d;
      return null;
    }, rollout.id);
    const second = first === a ? b : a;
    expect(await machine(first.id)).toMatchObject({ updateState: "rebooting", updateTarget: v2.checksum });
    expect(fs.readFileSync(path.join(shared, "payload.txt"), "utf8")).toBe("two\n");
    expect(await stepOf(rollout.id, first.id)).toBe("rebooting");
    // The other is not in an open wave yet: offered nothing.
    expect(await machine(second.id)).toMatchObject({ updateState: "idle", updateTarget: null });

    // Its restart confirms it (closed, success): it runs 2.0.0, and the rest of the ring opens. It comes
    // back with a target token of its own (SWUpdate's -k), issued by an operator; its gateway days are over.
    const { targetToken } = await issueTargetToken(db(), cliActor, { machineId: first.id }, app.clock);
    const restarted = await restart(first, { target: targetToken });
    if (first === a) a = restarted;
    else b = restarted;
    await until(`${first.id} to confirm`, async () => (await stepOf(rollout.id, first.id)) === "succeeded", rollout.id);
    expect(await machine(first.id)).toMatchObject({ updateState: "succeeded", bootedChecksum: v2.checksum, bootedVersion: "2.0.0" });

    await until(`${second.id} to install in the next wave`, async () => (await machine(second.id))?.updateState === "rebooting", rollout.id);
    const again = await restart(second, gateway);
    if (second === a) a = again;
    else b = again;
    await until("the rollout to complete", async () => (await getRollout(db(), rollout.id, app.clock)).state === "completed", rollout.id);
    expect(await machine(second.id)).toMatchObject({ updateState: "succeeded", bootedChecksum: v2.checksum });
    // The timeline has its steps.
    const changes = await db().machineChange.findMany({ where: { machine: { machineId: second.id }, kind: "update" }, orderBy: { id: "asc" }, select: { after: true } });
    expect(changes.map((c) => c.after)).toEqual(expect.arrayContaining(["downloading", "rebooting", "succeeded"]));
    if (process.env.DDI_DUMP) console.log(devices.map((d) => `--- ${d.id}\n${d.output()}`).join("\n"));
    await Promise.all([a.stop(), b.stop()]);
  });

  it("reports a .swu whose payload hash is wrong as failed, and the gate pauses the rollout", async () => {
    const install = path.join(dir, "bad-install");
    fs.mkdirSync(install, { recursive: true });
    const bad = await release("3.0.0", buildSwu(dir, signer, { version: "3.0.0", content: "three\n", installDir: install, wrongHash: true }));
    await createRing(db(), cliActor, { name: "swu-b", branch: REF, checkInIntervalSeconds: 5 });
    const gateway = await enrollmentToken(app, { ring: "swu-b" });
    const ds = [device("swu-b-1", gateway), device("swu-b-2", gateway)];
    for (const d of ds) await until(`${d.id} to enroll`, () => machine(d.id));

    const rollout = await startRollout(db(), cliActor, { version: "3.0.0", rings: ["swu-b"], singleFirst: false, waves: [100], soakSeconds: 0, minSample: 1, maxFailureRate: 0, darkAfterSeconds: 3600 }, app.clock);
    const failed = await until("a device to report the failure", async () => {
      for (const d of ds) {
        const m = await machine(d.id);
        if (m?.updateState === "failed") return { d, m };
      }
      return null;
    }, rollout.id);
    expect(failed.m).toMatchObject({ updateState: "failed", updateTarget: bad.checksum, bootedChecksum: null });
    expect(failed.m.updateError).toBeTruthy();
    await until("the gate to pause the rollout", async () => {
      const r = await getRollout(db(), rollout.id, app.clock);
      return r.state === "paused" && r.pausedBy === "gate";
    }, rollout.id);
    expect(await stepOf(rollout.id, failed.d.id)).toBe("failed");
    expect(fs.existsSync(path.join(install, "payload.txt"))).toBe(false);
    await Promise.all(ds.map((d) => d.stop()));
  });

  it("sends an abort to a device still downloading as cancelAction; it acknowledges and the rollout counts it cancelled", async () => {
    const install = path.join(dir, "slow-install");
    fs.mkdirSync(install, { recursive: true });
    // 2 MiB at 100 kB/s: twenty seconds of download, which the abort cuts short.
    const big = await release("4.0.0", buildSwu(dir, signer, { version: "4.0.0", content: "four\n".repeat(400_000), installDir: install }));
    await createRing(db(), cliActor, { name: "swu-c", branch: REF, checkInIntervalSeconds: 5 });
    const gateway = await enrollmentToken(app, { ring: "swu-c" });
    const d = device("swu-c-1", gateway, { maxDownloadSpeed: "100k" });
    await until(`${d.id} to enroll`, () => machine(d.id));

    const rollout = await startRollout(db(), cliActor, { version: "4.0.0", rings: ["swu-c"], singleFirst: false, waves: [100], soakSeconds: 0, minSample: 1, maxFailureRate: 0.5, darkAfterSeconds: 3600 }, app.clock);
    await until("the device to start downloading", async () => (await machine(d.id))?.updateState === "downloading", rollout.id);
    await abortRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
    await until("the device to acknowledge the cancel", async () => {
      const m = await machine(d.id);
      return m?.updateState === "idle" && m.updateTarget === null;
    });
    expect(d.output()).toMatch(/cancelAction\/\d+/);
    await until("its step to be cancelled", async () => (await stepOf(rollout.id, d.id)) === "cancelled", rollout.id);
    expect(fs.existsSync(path.join(install, "payload.txt"))).toBe(false);
    expect((await machine(d.id))?.bootedChecksum).not.toBe(big.checksum);
    if (process.env.DDI_DUMP) console.log(d.output());
    await d.stop();
  });
});
