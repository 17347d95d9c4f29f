import { describe, expect, it } from "vitest";
import { MachineHalted } from "../backend.ts";
import { FACTORY, release, tempDir } from "../testing/test-agent.ts";
import { SimBackend, type SimOptions, simMachineFile } from "./sim.ts";

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
  (await machine.status()).deployments.map((d) => `${d.version}${d.booted ? " booted" : ""}${d.staged ? " staged" : ""}`);

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
    await machine.finalizeAndReboot(never);
    expect(await summary(machine)).toEqual(["2026.11.1 booted", "2026.10.3"]);
    expect((await machine.status()).bootId).not.toBe(bootId);
  });

  it("rolls back to the previous deployment, which is already on disk", async () => {
    const machine = await sim();
    await machine.stage(NEXT, () => {}, never);
    await machine.finalizeAndReboot(never);
    await machine.rollback();
    expect(await summary(machine)).toEqual(["2026.10.3", "2026.11.1 booted"]);
    await machine.finalizeAndReboot(never);
    expect(await summary(machine)).toEqual(["2026.10.3 booted", "2026.11.1"]);
  });

  it("fails the health checks of a doomed release, but not of the deployment it falls back to", async () => {
    const machine = await sim({ failRelease: "2026.11.1" });
    await machine.stage(NEXT, () => {}, never);
    await machine.finalizeAndReboot(never);
    const health = await machine.healthChecks();
    expect(health.status).toBe("unhealthy");
    expect(health.checks[1]).toMatchObject({ name: "kiosk-app.service", status: "fail" });
    await machine.rollback();
    await machine.finalizeAndReboot(never);
    expect((await machine.healthChecks()).status).toBe("healthy");
  });

  it("fails by failRate, warns by degradedRate, falls back by fallbackRate, goes dark by darkRate", async () => {
    const failing = await sim({ failRate: 0.6 });
    await failing.stage(NEXT, () => {}, never);
    await failing.finalizeAndReboot(never);
    expect((await failing.healthChecks()).status).toBe("unhealthy");

    expect((await (await sim({ degradedRate: 0.6 })).healthChecks()).status).toBe("degraded");

    const fallback = await sim({ fallbackRate: 0.6 });
    await fallback.stage(NEXT, () => {}, never);
    await fallback.finalizeAndReboot(never);
    expect(await summary(fallback)).toEqual(["2026.10.3 booted", "2026.11.1"]);

    const dark = await sim({ darkRate: 0.6 });
    await expect(dark.finalizeAndReboot(never)).rejects.toBeInstanceOf(MachineHalted);
    await expect(dark.status()).rejects.toBeInstanceOf(MachineHalted);
  });

  it("remembers what it booted (and that it went dark) across restarts", async () => {
    const dir = await tempDir();
    const machine = await sim({}, dir);
    await machine.stage(NEXT, () => {}, never);
    await machine.finalizeAndReboot(never);
    const { bootId } = await machine.status();
    const restarted = await sim({}, dir);
    expect(await summary(restarted)).toEqual(["2026.11.1 booted", "2026.10.3"]);
    expect((await restarted.status()).bootId).toBe(bootId);

    await expect((await sim({ darkRate: 1 }, dir)).finalizeAndReboot(never)).rejects.toBeInstanceOf(MachineHalted);
    await expect((await sim({}, dir)).status()).rejects.toBeInstanceOf(MachineHalted);
  });

  it("stops staging when aborted, leaving the machine as it was", async () => {
    const machine = await sim({ stageSeconds: 5 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await expect(machine.stage(NEXT, () => {}, controller.signal)).rejects.toThrow();
    expect(await summary(machine)).toEqual(["2026.10.3 booted"]);
  });
});
