import { describe, expect, it } from "vitest";
import { MachineHalted } from "../backend.ts";
import { FACTORY, release, tempDir } from "../testing/test-agent.ts";
import { compareVersions, SimBackend, type SimOptions, simMachineFile } from "./sim.ts";

const NEXT = release("2026.11.1");
const never = new AbortController().signal;

async function sim(options: Partial<SimOptions> = {}, dir?: string) {
  return SimBackend.open({
    file: simMachineFile(dir ?? (await tempDir())),
    factory: FACTORY,
    stageSeconds: 0.02,
    rebootSeconds: 0,
    failRate: 0,
    failRelease: null,
    darkRate: 0,
    degradedRate: 0,
    fallbackRate: 0,
    random: () => 0.5,
    ...options,
  });
}

const summary = async (machine: SimBackend) =>
  (await machine.status()).deployments.map(
    (d) => `${d.version}${d.booted ? " booted" : ""}${d.staged ? " staged" : ""}${d.pinned ? " pinned" : ""}`,
  );

describe("sim backend", () => {
  it("boots the factory deployment and reports healthy", async () => {
    const machine = await sim();
    expect(await summary(machine)).toEqual(["2026.10.3 booted"]);
    expect(await machine.osInfo()).toEqual({ id: "exampleos", arch: "x86_64", versionId: "2026.10.3" });
    const health = await machine.healthChecks();
    expect(health.status).toBe("healthy");
    expect(health.checks.map((c) => c.name)).toEqual(["sshd.service", "kiosk-app.service", "disk:/var"]);
  });

  it("stages with progress, reboots into the default deployment with a new boot id", async () => {
    const machine = await sim();
    const progress: number[] = [];
    await machine.stage(NEXT, (p) => progress.push(p), never);
    expect(progress).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(await summary(machine)).toEqual(["2026.11.1 staged", "2026.10.3 booted"]);
    const { bootId } = await machine.status();
    await machine.reboot(never);
    expect(await summary(machine)).toEqual(["2026.11.1 booted", "2026.10.3"]);
    expect((await machine.status()).bootId).not.toBe(bootId);
  });

  it("makes a deployment on disk the default, and pins", async () => {
    const machine = await sim();
    await machine.stage(NEXT, () => {}, never);
    await machine.reboot(never);
    await machine.pin(NEXT.checksum, true);
    await machine.makeDefault(FACTORY.checksum);
    expect(await summary(machine)).toEqual(["2026.10.3 staged", "2026.11.1 booted pinned"]);
    await machine.reboot(never);
    expect(await summary(machine)).toEqual(["2026.10.3 booted", "2026.11.1 pinned"]);
    await expect(machine.makeDefault("f".repeat(64))).rejects.toThrow(/no deployment of ffffffffffff on disk/);
  });

  it("discards a staged deployment or one behind the booted one, never the booted or a pinned one", async () => {
    const machine = await sim();
    await machine.stage(NEXT, () => {}, never);
    expect(await machine.discard(NEXT.checksum)).toBe(true);
    expect(await summary(machine)).toEqual(["2026.10.3 booted"]);
    expect(await machine.discard(NEXT.checksum)).toBe(false);
    await expect(machine.discard(FACTORY.checksum)).rejects.toThrow(/is the booted deployment/);

    await machine.stage(NEXT, () => {}, never);
    await machine.reboot(never);
    await machine.pin(FACTORY.checksum, true);
    await expect(machine.discard(FACTORY.checksum)).rejects.toThrow(/is pinned/);
    await machine.pin(FACTORY.checksum, false);
    expect(await machine.discard(FACTORY.checksum)).toBe(true);
    expect(await summary(machine)).toEqual(["2026.11.1 booted"]);
  });

  it("fails the health checks of a doomed release, but not of the deployment it falls back to", async () => {
    const machine = await sim({ failRelease: "2026.11.1" });
    await machine.stage(NEXT, () => {}, never);
    await machine.reboot(never);
    const health = await machine.healthChecks();
    expect(health.status).toBe("unhealthy");
    expect(health.checks[1]).toMatchObject({ name: "kiosk-app.service", status: "fail" });
    await machine.makeDefault(FACTORY.checksum);
    await machine.reboot(never);
    expect((await machine.healthChecks()).status).toBe("healthy");
  });

  it("fails by failRate, warns by degradedRate, falls back by fallbackRate, goes dark by darkRate", async () => {
    const failing = await sim({ failRate: 0.6 });
    await failing.stage(NEXT, () => {}, never);
    await failing.reboot(never);
    expect((await failing.healthChecks()).status).toBe("unhealthy");

    expect((await (await sim({ degradedRate: 0.6 })).healthChecks()).status).toBe("degraded");

    const fallback = await sim({ fallbackRate: 0.6 });
    await fallback.stage(NEXT, () => {}, never);
    await fallback.reboot(never);
    expect(await summary(fallback)).toEqual(["2026.11.1 staged", "2026.10.3 booted"]);

    const dark = await sim({ darkRate: 0.6 });
    await expect(dark.reboot(never)).rejects.toBeInstanceOf(MachineHalted);
    await expect(dark.status()).rejects.toBeInstanceOf(MachineHalted);
  });

  it("remembers what it booted (and that it went dark) across restarts", async () => {
    const dir = await tempDir();
    const machine = await sim({}, dir);
    await machine.stage(NEXT, () => {}, never);
    await machine.reboot(never);
    const { bootId } = await machine.status();
    const restarted = await sim({}, dir);
    expect(await summary(restarted)).toEqual(["2026.11.1 booted", "2026.10.3"]);
    expect((await restarted.status()).bootId).toBe(bootId);

    await expect((await sim({ darkRate: 1 }, dir)).reboot(never)).rejects.toBeInstanceOf(MachineHalted);
    await expect((await sim({}, dir)).status()).rejects.toBeInstanceOf(MachineHalted);
  });

  it("orders releases by version, standing in for commit times", async () => {
    const machine = await sim();
    expect(await machine.isOlderThanBooted(release("2026.9.9"))).toBe(true);
    expect(await machine.isOlderThanBooted(release("2026.10.3"))).toBe(false);
    expect(await machine.isOlderThanBooted(NEXT)).toBe(false);
    expect(await machine.isOlderThanBooted({ ...NEXT, version: null })).toBe(false);
    expect(await machine.isOlderThanBooted({ ...NEXT, version: "beta" })).toBe(false);
    const factory = await sim({ factory: { ...FACTORY, version: "factory" } });
    expect(await factory.isOlderThanBooted(NEXT)).toBe(false);
    expect(["2026.10.3", "2026.9", "2026.10.3-1", "1", "2026.10.10"].sort(compareVersions)).toEqual([
      "1",
      "2026.9",
      "2026.10.3",
      "2026.10.3-1",
      "2026.10.10",
    ]);
  });

  it("stops staging when aborted, leaving the machine as it was", async () => {
    const machine = await sim({ stageSeconds: 5 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await expect(machine.stage(NEXT, () => {}, controller.signal)).rejects.toThrow();
    expect(await summary(machine)).toEqual(["2026.10.3 booted"]);
  });
});
