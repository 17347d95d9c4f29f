// The agent against a console speaking protocol 1.1, which holds and cancels
// updates under way (docs/agent-protocol-v1.md, "Version 1.1: hold and
// cancel"), on a sim machine: what it downloads, stages, reboots, removes
// and reports.
import { describe, expect, it } from "vitest";
import type { Deployment, HealthCheck } from "../../server/protocol/v1.ts";
import type { HealthSource } from "./backend.ts";
import { eventually, type FakeConsole } from "./testing/fake-console.ts";
import { fakeConsoleSuite, stateOnDisk } from "./testing/fake-console-suite.ts";
import { FACTORY, release, type TestAgent } from "./testing/test-agent.ts";

const NEXT = release("2026.11.1");
const OTHER = release("2026.12.1");

let fake: FakeConsole;
const { start } = fakeConsoleSuite((f) => {
  fake = f;
  fake.version = "1.1";
});

const stateOf = stateOnDisk;
const machine = () => fake.machine("test-0001");
const eventTypes = () => machine().events.map((e) => e.type);
const lastCheckin = () => machine().checkins.at(-1);
const started = () => eventTypes().filter((t) => t === "update.started").length;
/** The deployments of the last check-in, as `version booted staged pinned`. */
const deployments = () =>
  lastCheckin()!.deployments.map((d) => `${d.version}${d.booted ? " booted" : ""}${d.staged ? " staged" : ""}${d.pinned ? " pinned" : ""}`);

/** Waits for `count` more check-ins than now. */
async function checkinsPass(count: number) {
  const seq = lastCheckin()?.seq ?? 0;
  await eventually(() => (lastCheckin()?.seq ?? 0) >= seq + count, 10_000, `${count} more check-ins`);
}

/** Waits until the agent reported idle after an update.cancelled event, and the slot is given back on disk. */
async function cancelled(agent: TestAgent) {
  await eventually(
    () => eventTypes().includes("update.cancelled") && lastCheckin()?.update.state === "idle" && !stateOf(agent).holdsRebootLock,
    10_000,
    "the cancel",
  );
  return machine().events.find((e) => e.type === "update.cancelled")!;
}

async function succeeded() {
  return eventually(
    () => lastCheckin()?.update.state === "succeeded" && !machine().holdsLock && lastCheckin(),
    10_000,
    "succeeded",
  );
}

describe("hold", { timeout: 30_000 }, () => {
  it("keeps a held update staged, asks for no reboot slot, and carries on when the hold is lifted", async () => {
    fake.desired = NEXT;
    fake.holdReason = "rollout 2026.11.1 is paused: health gate";
    // The download outlasts the check-in that reports it, whose answer holds it.
    const agent = await start({ sim: { stageSeconds: 0.5 } });
    await eventually(() => stateOf(agent).update.phase === "staged", 10_000, "staged");
    await checkinsPass(10);
    expect(machine().lockRequests).toBe(0);
    expect(stateOf(agent).update.hold).toEqual({ checksum: NEXT.checksum, reason: "rollout 2026.11.1 is paused: health gate" });
    expect(lastCheckin()!.update.state).toBe("staged");
    expect(deployments()).toEqual(["2026.11.1 staged", "2026.10.3 booted"]);

    fake.holdReason = null;
    const done = await succeeded();
    expect(done.deployments.find((d) => d.booted)?.checksum).toBe(NEXT.checksum);
    expect(machine().lockRequests).toBe(1);
    expect(stateOf(agent).update.hold).toBeNull();
  });

  it("keeps a held update staged across a restart, and does not reboot before the console lifts the hold", async () => {
    fake.desired = NEXT;
    fake.holdReason = "rollout paused by an operator";
    const first = await start({ sim: { stageSeconds: 0.5 } });
    await eventually(() => stateOf(first).update.phase === "staged" && stateOf(first).update.hold, 10_000, "held while staged");
    await first.stop();

    const second = await start({ stateDir: first.stateDir });
    await checkinsPass(10);
    expect(machine().lockRequests).toBe(0);
    expect(stateOf(second).update.phase).toBe("staged");
    expect(deployments()).toEqual(["2026.11.1 staged", "2026.10.3 booted"]);

    fake.holdReason = null;
    const done = await succeeded();
    expect(done.deployments.find((d) => d.booted)?.checksum).toBe(NEXT.checksum);
    expect(started()).toBe(1);
  });

  it("refused a slot because the rollout is paused, checks in and waits for an answer without hold (no retry loop)", async () => {
    fake.desired = NEXT;
    fake.holdReason = "rollout paused";
    fake.lockRetryAfterSeconds = 0.02;
    // The pause reaches the agent first through the refusal: the answers hide it until the first refusal.
    fake.answerExtras = () => (machine().lockRequests === 0 ? { hold: null } : {});
    await start();
    await eventually(() => machine().lockRequests === 1, 10_000, "the refused request");
    await checkinsPass(10);
    expect(machine().lockRequests).toBe(1);
    expect(lastCheckin()!.update.state).toBe("staged");

    fake.holdReason = null;
    await succeeded();
    expect(machine().lockRequests).toBe(2);
  });
});

describe("cancel", { timeout: 30_000 }, () => {
  it("stops a download, reports update.cancelled and idle, and starts that checksum again only when asked without a cancel", async () => {
    fake.desired = NEXT;
    const agent = await start({ sim: { stageSeconds: 5 } });
    await eventually(() => stateOf(agent).update.phase === "downloading" && stateOf(agent).update.progress! > 0, 10_000, "the download");
    fake.withdrawn = { checksum: NEXT.checksum, reason: "rollout 2026.11.1 aborted by alice" };
    fake.desired = null;
    const event = await cancelled(agent);
    expect(event.checksum).toBe(NEXT.checksum);
    // Nothing was staged: the download stopped well before its 5 s.
    expect(event.detail).toBe("cancelled by the console: rollout 2026.11.1 aborted by alice; nothing was staged yet");
    expect(deployments()).toEqual(["2026.10.3 booted"]);
    expect(lastCheckin()!.update).toEqual({ state: "idle", targetChecksum: null, progress: null, error: null });
    expect(stateOf(agent).denylist).toEqual([]);

    // An answer that asks for it and cancels it in the same breath does not start it.
    fake.desired = NEXT;
    fake.answerExtras = () => ({ cancel: { checksum: NEXT.checksum, reason: "still withdrawn" } });
    await checkinsPass(5);
    expect(started()).toBe(1);

    // A later answer that asks for it without a cancel does.
    fake.answerExtras = null;
    fake.withdrawn = null;
    const done = await eventually(
      () => lastCheckin()?.update.state === "succeeded" && started() === 2 && lastCheckin(),
      20_000,
      "the second attempt",
    );
    expect(done.deployments.find((d) => d.booted)?.checksum).toBe(NEXT.checksum);
  });

  it("removes a staged update waiting for a slot: refused as not wanted, it checks in at once, follows the cancel and gives the slot back", async () => {
    fake.desired = NEXT;
    fake.intervalSeconds = 3;
    fake.lockDenials = 1000;
    fake.lockRetryAfterSeconds = 0.2;
    const agent = await start();
    await eventually(() => stateOf(agent).update.phase === "staged" && machine().lockRequests >= 2, 10_000, "waiting for a slot");
    expect(stateOf(agent).holdsRebootLock).toBe(true);
    const withdrawnAt = Date.now();
    fake.withdrawn = { checksum: NEXT.checksum, reason: "machine pinned to 2026.10.3" };
    fake.desired = null;
    const event = await cancelled(agent);
    // Well within the 3 s check-in interval: the refusal made it check in, and the cancel made it report at once.
    expect(Date.now() - withdrawnAt).toBeLessThan(2500);
    expect(event.detail).toBe(
      `cancelled by the console: machine pinned to 2026.10.3; removed the staged deployment 2026.11.1 (${NEXT.checksum.slice(0, 12)})`,
    );
    expect(deployments()).toEqual(["2026.10.3 booted"]);
    expect(eventTypes()).toEqual(["agent.started", "update.started", "update.downloaded", "update.staged", "update.cancelled"]);
  });

  it("stops in the rebooting window before the reboot command: no reboot, the slot given back", async () => {
    fake.desired = NEXT;
    fake.onCheckin = (body) => {
      if (body.update.state !== "rebooting") return;
      fake.withdrawn = { checksum: NEXT.checksum, reason: "release braked" };
      fake.desired = null;
    };
    const agent = await start();
    await cancelled(agent);
    await eventually(() => !machine().holdsLock, 10_000, "the slot released");
    expect(deployments()).toEqual(["2026.10.3 booted"]);
    expect(new Set(machine().checkins.map((c) => c.bootId)).size).toBe(1);
    expect(eventTypes()).toEqual(["agent.started", "update.started", "update.downloaded", "update.staged", "reboot.started", "update.cancelled"]);
  });

  it("stops after a restart in rebooting whose boot id shows the reboot never happened", async () => {
    fake.desired = NEXT;
    let first: TestAgent | null = null;
    fake.onCheckin = (body) => {
      if (body.update.state === "rebooting" && first) void first.stop();
    };
    first = await start();
    await first.exit;
    expect(stateOf(first).update.phase).toBe("rebooting");

    fake.onCheckin = null;
    fake.withdrawn = { checksum: NEXT.checksum, reason: "moved to ring stable" };
    fake.desired = null;
    const second = await start({ stateDir: first.stateDir });
    const event = await cancelled(second);
    expect(event.detail).toMatch(/^cancelled by the console: moved to ring stable; removed the staged deployment 2026\.11\.1 /);
    expect(deployments()).toEqual(["2026.10.3 booted"]);
    expect(new Set(machine().checkins.map((c) => c.bootId)).size).toBe(1);
    expect(eventTypes().filter((t) => t === "boot.verified")).toEqual([]);
  });

  it("changes nothing when it names another checksum, or comes after the machine booted the target", async () => {
    fake.desired = NEXT;
    fake.answerExtras = (body) => {
      const booted = body.deployments.find((d) => d.booted)?.checksum;
      return { cancel: { checksum: booted === NEXT.checksum ? NEXT.checksum : OTHER.checksum, reason: "not this one" } };
    };
    // The new boot's health check fails for half a second: it stays verifying for some check-ins.
    let bootedAt: number | null = null;
    const health: HealthSource = {
      async healthChecks(booted: Deployment | null) {
        const onNext = booted?.checksum === NEXT.checksum;
        if (onNext) bootedAt ??= Date.now();
        const failing = onNext && Date.now() - bootedAt! < 500;
        const check: HealthCheck = { name: "app", status: failing ? "fail" : "pass", output: null };
        return { status: failing ? "unhealthy" : "healthy", checks: [check] };
      },
    };
    await start({ agent: { health, timing: { healthGraceSeconds: 5, healthRetrySeconds: 0.05, retryBaseSeconds: 0.01, reportBeforeRebootSeconds: 2, requestTimeoutSeconds: 2 } } });
    const done = await succeeded();
    expect(done.deployments.find((d) => d.booted)?.checksum).toBe(NEXT.checksum);
    expect(machine().checkins.some((c) => c.update.state === "verifying")).toBe(true);
    expect(eventTypes()).not.toContain("update.cancelled");
  });

  it("of a rollback, keeps the older deployment on disk and makes the booted one the default again", async () => {
    fake.desired = NEXT;
    const agent = await start();
    await succeeded();
    fake.lockDenials = 1000;
    fake.lockRetryAfterSeconds = 0.2;
    fake.desired = FACTORY;
    fake.action = "rollback";
    await eventually(() => stateOf(agent).update.kind === "rollback" && stateOf(agent).update.phase === "staged", 10_000, "the rollback staged");
    await eventually(() => deployments().join() === "2026.10.3 staged,2026.11.1 booted pinned", 10_000, "the rollback reported");

    fake.withdrawn = { checksum: FACTORY.checksum, reason: "rollback withdrawn" };
    fake.desired = NEXT;
    fake.action = "update";
    const event = await cancelled(agent);
    expect(event.checksum).toBe(FACTORY.checksum);
    expect(event.detail).toBe(
      `cancelled by the console: rollback withdrawn; 2026.10.3 (${FACTORY.checksum.slice(0, 12)}) stays on disk (it was there before this update); the booted deployment is the default again`,
    );
    expect(deployments()).toEqual(["2026.11.1 booted pinned", "2026.10.3"]);
  });
});

describe("a refusal as not wanted while the console still asks for the target", { timeout: 30_000 }, () => {
  it("checks in at once, then asks again after retryAfterSeconds", async () => {
    fake.desired = NEXT;
    fake.intervalSeconds = 3;
    fake.lockRefusals.push("not_wanted");
    fake.lockRetryAfterSeconds = 0.05;
    const startedAt = Date.now();
    await start();
    await succeeded();
    // Well within the 3 s check-in interval.
    expect(Date.now() - startedAt).toBeLessThan(2500);
    expect(machine().lockRequests).toBe(2);
    // The check-in when it staged, and the one the refusal asked for (the interval is 3 s).
    expect(machine().checkins.filter((c) => c.update.state === "staged").length).toBeGreaterThanOrEqual(2);
    expect(eventTypes()).not.toContain("update.cancelled");
  });
});
