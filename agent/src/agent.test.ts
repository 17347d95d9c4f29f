import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkEnrollProof } from "../../server/agents/identity.ts";
import { IDENTITY_FILE } from "./identity.ts";
import type { UpdateState } from "../../server/protocol/v1.ts";
import { STATE_FILE } from "./store.ts";
import { eventually, type FakeConsole } from "./testing/fake-console.ts";
import { fakeConsoleSuite, stateOnDisk } from "./testing/fake-console-suite.ts";
import { FACTORY, release } from "./testing/test-agent.ts";

const NEXT = release("2026.11.1");

let fake: FakeConsole;
const { start } = fakeConsoleSuite((f) => {
  fake = f;
});

const stateOf = stateOnDisk;

const machine = () => fake.machine("test-0001");
const eventTypes = () => machine().events.map((e) => e.type);
const lastCheckin = () => machine().checkins.at(-1);
const reportedStates = () =>
  machine().checkins.map((c) => c.update.state).filter((s, i, all) => i === 0 || all[i - 1] !== s);
const booted = (checkin = lastCheckin()) => checkin?.deployments.find((d) => d.booted)?.checksum;

/** True when `seen` appears in `order`'s order (states may be too short-lived to be reported). */
function inOrder(seen: UpdateState[], order: UpdateState[]) {
  let at = 0;
  for (const state of seen) {
    at = order.indexOf(state, at);
    if (at < 0) return false;
  }
  return true;
}

async function settled(state: UpdateState) {
  return eventually(() => lastCheckin()?.update.state === state && !machine().holdsLock && lastCheckin(), 5000, state);
}

describe("agent against a console", () => {
  it("enrolls, announces itself and checks in with its deployments and health", async () => {
    await start();
    await eventually(() => machine().events.length > 0 && machine().checkins.length >= 2, 5000, "check-ins");
    expect(eventTypes()).toEqual(["agent.started"]);
    const checkin = lastCheckin()!;
    expect(checkin.deployments).toEqual([
      { checksum: FACTORY.checksum, ref: FACTORY.ref, version: FACTORY.version, booted: true, staged: false, pinned: false },
    ]);
    expect(checkin.update).toEqual({ state: "idle", targetChecksum: null, progress: null, error: null });
    expect(checkin.health.status).toBe("healthy");
    expect(checkin.bootId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("updates: stages, takes a reboot slot, reboots, verifies and gives the slot back", async () => {
    fake.desired = NEXT;
    const agent = await start();
    const done = await settled("succeeded");
    expect(booted(done)).toBe(NEXT.checksum);
    expect(done.update.targetChecksum).toBe(NEXT.checksum);
    expect(done.bootId).not.toBe(machine().checkins[0].bootId);
    expect(inOrder(reportedStates(), ["idle", "downloading", "staged", "rebooting", "verifying", "succeeded"])).toBe(true);
    expect(reportedStates()).toContain("rebooting");
    expect(eventTypes()).toEqual([
      "agent.started",
      "update.started",
      "update.downloaded",
      "update.staged",
      "reboot.started",
      "agent.started",
      "boot.verified",
    ]);
    expect(machine().events.filter((e) => e.type !== "agent.started").every((e) => e.checksum === NEXT.checksum)).toBe(true);
    await eventually(() => !stateOf(agent).holdsRebootLock, 5000, "slot released on disk");
    // The rollback deployment stays on disk behind the new one, which is pinned as known-good.
    expect(done.deployments.map((d) => [d.version, d.pinned])).toEqual([
      [NEXT.version, true],
      [FACTORY.version, false],
    ]);
  });

  it("does not act on an answer to a check-in sent before the (sim) machine rebooted: it updates once", async () => {
    fake.desired = NEXT;
    // The check-in reporting `rebooting` is answered late, after the reboot and the boot's
    // verification: its answer (update to NEXT, as the machine had not booted it yet) is stale.
    let held = false;
    fake.answerDelayMs = (body) => (body.update.state === "rebooting" && !held ? ((held = true), 1500) : 0);
    await start({ agent: { timing: { retryBaseSeconds: 0.01, healthGraceSeconds: 0.3, healthRetrySeconds: 0.02, reportBeforeRebootSeconds: 0.2, requestTimeoutSeconds: 5 } } });
    await settled("succeeded");
    // Past the late answer, and a few check-ins more.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const seq = lastCheckin()!.seq;
    await eventually(() => lastCheckin()!.seq >= seq + 3, 5000, "more check-ins");
    expect(held).toBe(true);
    expect(eventTypes().filter((t) => t === "update.started")).toHaveLength(1);
    expect(lastCheckin()!.update.state).toBe("succeeded");
    expect(booted()).toBe(NEXT.checksum);
  });

  it("keeps the last release that passed the health gate pinned, and unpins the one before", async () => {
    fake.desired = NEXT;
    const agent = await start();
    await settled("succeeded");
    const THIRD = release("2026.12.1");
    fake.desired = THIRD;
    const done = await eventually(
      () => lastCheckin()?.update.targetChecksum === THIRD.checksum && lastCheckin()!.update.state === "succeeded" && lastCheckin(),
      5000,
      "the second update",
    );
    expect(done.deployments.map((d) => [d.version, d.booted, d.pinned])).toEqual([
      [THIRD.version, true, true],
      [NEXT.version, false, false],
    ]);
    expect(stateOf(agent).pinnedByAgent).toBe(THIRD.checksum);
  });

  it("refuses a release built before the booted one until the console allows the downgrade", async () => {
    const OLDER = release("2026.9.1");
    fake.desired = OLDER;
    const agent = await start();
    const refused = await settled("failed");
    expect(booted(refused)).toBe(FACTORY.checksum);
    expect(refused.update.error).toBe(
      `refused 2026.9.1 (${OLDER.checksum.slice(0, 12)}): it was built before the booted deployment, and the console did not allow a downgrade`,
    );
    await eventually(() => eventTypes().includes("update.failed"), 5000, "the update.failed event");
    expect(eventTypes()).toEqual(["agent.started", "update.started", "update.failed"]);
    // Asked again and again, it does not try again (and nothing went on the denylist).
    await eventually(() => lastCheckin()!.seq >= refused.seq + 5, 5000, "more check-ins");
    expect(eventTypes().filter((t) => t === "update.started")).toHaveLength(1);
    expect(stateOf(agent).denylist).toEqual([]);

    fake.desired = { ...OLDER, allowDowngrade: true };
    const done = await settled("succeeded");
    expect(booted(done)).toBe(OLDER.checksum);
  });

  it("rolls back when a required health check fails, and does not try that checksum again until asked anew", async () => {
    fake.desired = NEXT;
    const agent = await start({ sim: { failRelease: NEXT.version } });
    const done = await settled("rolled-back");
    expect(booted(done)).toBe(FACTORY.checksum);
    expect(done.update.error).toMatch(/^health check kiosk-app\.service failed: kiosk-app\.service: Main process exited/);
    expect(eventTypes()).toEqual(expect.arrayContaining(["health.failed", "rollback.performed"]));
    expect(eventTypes().indexOf("health.failed")).toBeLessThan(eventTypes().indexOf("rollback.performed"));
    expect(stateOf(agent).denylist).toEqual([NEXT.checksum]);

    // The console keeps asking for it: the agent stays where it is.
    const seq = done.seq;
    await eventually(() => lastCheckin()!.seq >= seq + 5, 5000, "more check-ins");
    expect(eventTypes().filter((t) => t === "update.started")).toHaveLength(1);
    expect(lastCheckin()!.update.state).toBe("rolled-back");

    // The console moves on, then asks for it again: that is a new request.
    fake.desired = null;
    await eventually(() => stateOf(agent).denylist.length === 0, 5000, "denylist cleared");
    fake.desired = NEXT;
    await eventually(() => eventTypes().filter((t) => t === "update.started").length === 2, 5000, "second attempt");
  });

  it("reports failed when the boot loader falls back to the previous deployment", async () => {
    fake.desired = NEXT;
    const agent = await start({ sim: { fallbackRate: 1 } });
    const done = await settled("failed");
    expect(booted(done)).toBe(FACTORY.checksum);
    expect(done.update.error).toBe(`boot loader fell back to ${FACTORY.version} instead of ${NEXT.version} (${NEXT.checksum.slice(0, 12)})`);
    expect(eventTypes().at(-1)).toBe("update.failed");
    expect(stateOf(agent).denylist).toEqual([NEXT.checksum]);
    // The failed release is gone: neither an unrelated reboot nor the boot loader's fallback would try it again.
    expect(done.deployments.map((d) => [d.version, d.booted, d.staged])).toEqual([[FACTORY.version, true, false]]);
    expect(machine().events.at(-1)!.detail).toMatch(/; removed 2026\.11\.1 /);
  });

  it("waits for a reboot slot while the console answers 409", async () => {
    fake.desired = NEXT;
    fake.lockDenials = 3;
    await start();
    const done = await settled("succeeded");
    expect(booted(done)).toBe(NEXT.checksum);
    expect(machine().lockRequests).toBe(4);
  });

  it("goes back to the previous deployment when the console asks for a rollback", async () => {
    fake.desired = NEXT;
    const agent = await start();
    await settled("succeeded");
    fake.desired = FACTORY;
    fake.action = "rollback";
    const rollbackEvents = () =>
      machine().events.filter((e) => e.checksum === FACTORY.checksum && e.type !== "agent.started").map((e) => e.type);
    await eventually(() => rollbackEvents().includes("boot.verified"), 5000, "rollback verified");
    expect(booted()).toBe(FACTORY.checksum);
    expect(rollbackEvents()).toEqual(["update.started", "update.staged", "reboot.started", "boot.verified"]);
    await eventually(() => !stateOf(agent).holdsRebootLock, 5000, "slot released on disk");
  });

  it("against a 1.0 console: finishes the update under way when asked for another, and retries refusals without a reason", async () => {
    const THIRD = release("2026.12.1");
    fake.desired = NEXT;
    fake.lockDenials = 2;
    fake.lockRetryAfterSeconds = 0.1;
    fake.onCheckin = (body) => {
      if (body.update.state === "staged") fake.desired = THIRD;
    };
    await start();
    await eventually(() => eventTypes().filter((t) => t === "boot.verified").length === 2, 10_000, "both updates");
    const byChecksum = (checksum: string) =>
      machine().events.filter((e) => e.checksum === checksum && e.type !== "agent.started").map((e) => e.type);
    const steps = ["update.started", "update.downloaded", "update.staged", "reboot.started", "boot.verified"];
    expect(byChecksum(NEXT.checksum)).toEqual(steps);
    expect(byChecksum(THIRD.checksum)).toEqual(steps);
    const nextDone = machine().events.findIndex((e) => e.type === "boot.verified" && e.checksum === NEXT.checksum);
    const thirdStarted = machine().events.findIndex((e) => e.type === "update.started" && e.checksum === THIRD.checksum);
    expect(nextDone).toBeLessThan(thirdStarted);
    // Two refusals, then the grant; each request names the checksum it reboots into.
    expect(machine().lockBodies).toEqual([...Array(3).fill({ checksum: NEXT.checksum }), { checksum: THIRD.checksum }]);
    expect(eventTypes()).not.toContain("update.cancelled");
  }, 30_000);

  it("resends events whose answer was lost with the same ids, and the console stores them once", async () => {
    fake.fail("POST /events", "drop-after-handling", { status: 503 });
    fake.desired = NEXT;
    const agent = await start();
    await settled("succeeded");
    await eventually(() => stateOf(agent).queue.length === 0, 5000, "queue drained");
    expect(machine().duplicates).toBeGreaterThan(0);
    const ids = machine().events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(eventTypes()).toEqual([
      "agent.started",
      "update.started",
      "update.downloaded",
      "update.staged",
      "reboot.started",
      "agent.started",
      "boot.verified",
    ]);
  });

  it("to a console before 1.3, sends its events on their own after the one check-in that carried them", async () => {
    fake.desired = NEXT;
    const agent = await start();
    await settled("succeeded");
    await eventually(() => stateOf(agent).queue.length === 0, 5000, "queue drained");
    // The first check-in carried agent.started; its answer said nothing of them, so they stayed queued and went by POST /events.
    expect(machine().checkins[0].events?.map((e) => e.type)).toEqual(["agent.started"]);
    expect(machine().checkins.slice(1).every((c) => c.events === undefined)).toBe(true);
    expect(eventTypes()).toEqual(["agent.started", "update.started", "update.downloaded", "update.staged", "reboot.started", "agent.started", "boot.verified"]);
  });

  it("sends a check-in refused with its events again at once without them, and its events on their own", async () => {
    fake.fail("POST /checkin", { status: 400 });
    const agent = await start();
    await eventually(() => machine().events.length > 0 && stateOf(agent).queue.length === 0, 5000, "events stored");
    expect(machine().checkins[0]).toMatchObject({ seq: 1 });
    expect(machine().checkins.every((c) => c.events === undefined)).toBe(true);
    expect(agent.agent.counters.errors).toBe(0);
  });

  it("writes each seq to disk before the check-in carrying it is sent", async () => {
    const seen: [number, number][] = [];
    let stateDir = "";
    fake.onCheckin = (body) => seen.push([body.seq, JSON.parse(readFileSync(path.join(stateDir, STATE_FILE), "utf8")).seq]);
    const agent = await start();
    stateDir = agent.stateDir;
    await eventually(() => seen.length >= 5, 5000, "check-ins");
    for (const [sent, onDisk] of seen) expect(onDisk).toBeGreaterThanOrEqual(sent);
    expect(seen.map(([sent]) => sent)).toEqual([1, 2, 3, 4, 5, ...seen.slice(5).map(([s]) => s)]);
  });

  it("stops when the console answers 410 (retired)", async () => {
    const agent = await start();
    await eventually(() => machine().checkins.length > 0, 5000, "a check-in");
    machine().retired = true;
    expect(await agent.exit).toBe("retired");
  });

  it("enrolls again after a 401 when it has an enrollment token, proving it is the same machine with its key", async () => {
    const agent = await start();
    await eventually(() => machine().checkins.length > 0, 5000, "a check-in");
    const key = machine().enrolled.publicKey!;
    expect(machine().checkins.at(-1)?.publicKey).toBe(key);
    const firstToken = machine().token;
    machine().token = "revoked";
    await eventually(() => machine().token !== "revoked", 5000, "a new token");
    expect(machine().token).not.toBe(firstToken);
    const seq = machine().lastSeq;
    await eventually(() => machine().lastSeq > seq, 5000, "check-ins with the new token");
    expect(stateOf(agent).token).toBe(machine().token);
    // The second enrollment carries a proof by the key the first one registered (as the console checks it).
    const again = machine().enrolled;
    expect(again.publicKey).toBe(key);
    expect(checkEnrollProof(key, again.machineId, again.proof!, new Date())).toBeNull();
    expect(statSync(path.join(agent.stateDir, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
  });

  it("stops after a 401 when it has no enrollment token", async () => {
    const enrolled = await start();
    await eventually(() => machine().checkins.length > 0, 5000, "a check-in");
    await enrolled.stop();
    const agent = await start({ stateDir: enrolled.stateDir, enrollmentToken: null });
    const seq = machine().lastSeq;
    await eventually(() => machine().lastSeq > seq, 5000, "a check-in after the restart");
    machine().token = "revoked";
    expect(await agent.exit).toBe("refused");
  });

  it("retries a failing console with backoff and carries on", async () => {
    fake.fail("POST /checkin", { status: 500 }, { status: 502 }, { status: 429, retryAfter: 0 });
    const agent = await start();
    await eventually(() => machine().checkins.length >= 2, 5000, "check-ins after the faults");
    expect(agent.agent.counters.errors).toBe(3);
  });

  it("resumes an update after a restart in the middle of the download", async () => {
    fake.desired = NEXT;
    const first = await start({ sim: { stageSeconds: 1 } });
    await eventually(() => first.agent.state!.update.progress! > 0, 5000, "download under way");
    await first.stop();
    expect(stateOf(first).update.phase).toBe("downloading");

    await start({ stateDir: first.stateDir });
    const done = await settled("succeeded");
    expect(booted(done)).toBe(NEXT.checksum);
    expect(eventTypes().filter((t) => t === "update.started")).toHaveLength(1);
  });
});
