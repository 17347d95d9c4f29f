import { describe, expect, it } from "vitest";
import type { CheckinResponse } from "../../server/protocol/v1.ts";
import { emptyApps } from "./apps/state.ts";
import { type AgentState, idleUpdate, type UpdatePhase } from "./store.ts";
import { FACTORY, release } from "./testing/test-agent.ts";
import { asksFor, denylistAfter, planUpdate, reportedState, steerUpdate } from "./plan.ts";

const NEXT = release("2026.11.1");
const now = new Date("2026-11-25T17:00:00Z");

function answer(action: CheckinResponse["action"], desired = NEXT): CheckinResponse {
  return { serverTime: now.toISOString(), checkInIntervalSeconds: 60, action, desired: { ...desired, reason: "test" }, hold: null, cancel: null };
}

function state(change: Partial<AgentState> = {}): AgentState {
  return {
    version: 1,
    server: "http://console",
    machineId: "m",
    hostname: "m",
    backend: "sim",
    labels: {},
    token: "t",
    seq: 0,
    checkInIntervalSeconds: 60,
    queue: [],
    update: { ...idleUpdate },
    denylist: [],
    pinnedByAgent: null,
    holdsRebootLock: false,
    lastCheckin: null,
    apps: emptyApps(),
    ...change,
  };
}

describe("planUpdate", () => {
  it("updates when the console asks for a checksum that is not booted", () => {
    expect(planUpdate(answer("update"), FACTORY.checksum, state(), now)).toEqual({
      kind: "update",
      target: { ref: NEXT.ref, checksum: NEXT.checksum, version: NEXT.version },
      mayDowngrade: false,
    });
  });

  it("allows an older target for a rollback or an operator's roll-forward only", () => {
    expect(planUpdate(answer("rollback", FACTORY), NEXT.checksum, state(), now)).toMatchObject({ kind: "rollback", mayDowngrade: true });
    const rollForward = { ...answer("update", FACTORY), desired: { ...FACTORY, reason: "", allowDowngrade: true } };
    expect(planUpdate(rollForward, NEXT.checksum, state(), now)).toMatchObject({ kind: "update", mayDowngrade: true });
  });

  it("does not try a refused downgrade again until the console allows it", () => {
    const refused = state({ update: { ...idleUpdate, phase: "failed", target: FACTORY, downgradeRefused: true } });
    expect(planUpdate(answer("update", FACTORY), NEXT.checksum, refused, now)).toBeNull();
    const allowed = { ...answer("update", FACTORY), desired: { ...FACTORY, reason: "", allowDowngrade: true } };
    expect(planUpdate(allowed, NEXT.checksum, refused, now)).toMatchObject({ mayDowngrade: true });
    expect(planUpdate(answer("rollback", FACTORY), NEXT.checksum, refused, now)).toMatchObject({ kind: "rollback" });
  });

  it("does nothing when asked for nothing, for what is booted, or for a denied checksum", () => {
    expect(planUpdate(answer("none"), FACTORY.checksum, state(), now)).toBeNull();
    expect(planUpdate({ ...answer("update"), desired: null }, FACTORY.checksum, state(), now)).toBeNull();
    expect(planUpdate(answer("update"), NEXT.checksum, state(), now)).toBeNull();
    expect(planUpdate(answer("update"), FACTORY.checksum, state({ denylist: [NEXT.checksum] }), now)).toBeNull();
  });

  it("does not start a target that the same answer cancels, and starts it from a later answer that does not", () => {
    const cancelled = { ...answer("update"), cancel: { checksum: NEXT.checksum, reason: "rollout aborted" } };
    expect(planUpdate(cancelled, FACTORY.checksum, state(), now)).toBeNull();
    // A cancel of another checksum does not stop this one; a cancel leaves no trace that blocks a later ask.
    const other = { ...answer("update"), cancel: { checksum: FACTORY.checksum, reason: "" } };
    expect(planUpdate(other, FACTORY.checksum, state(), now)).toMatchObject({ kind: "update" });
    expect(planUpdate(answer("update"), FACTORY.checksum, state(), now)).toMatchObject({ kind: "update" });
    expect(planUpdate({ ...answer("rollback"), cancel: null }, FACTORY.checksum, state(), now)).toMatchObject({ kind: "rollback" });
  });

  it("waits before staging again a target whose staging failed", () => {
    const failed = (retryAt: string) =>
      state({ update: { ...idleUpdate, phase: "failed", target: NEXT, attempts: 1, retryAt } });
    expect(planUpdate(answer("update"), FACTORY.checksum, failed("2026-11-25T17:01:00Z"), now)).toBeNull();
    expect(planUpdate(answer("update"), FACTORY.checksum, failed("2026-11-25T16:59:00Z"), now)).not.toBeNull();
  });
});

describe("denylistAfter", () => {
  it("keeps a checksum while the console asks for it and forgets it once it asks for anything else", () => {
    expect(denylistAfter([NEXT.checksum], answer("update"))).toEqual([NEXT.checksum]);
    expect(denylistAfter([NEXT.checksum], answer("none", FACTORY))).toEqual([]);
    expect(denylistAfter([NEXT.checksum], { ...answer("none"), desired: null })).toEqual([]);
  });
});

describe("steerUpdate", () => {
  const cancel = { checksum: NEXT.checksum, reason: "rollout aborted" };
  const hold = { checksum: NEXT.checksum, reason: "rollout paused" };
  const under = (phase: UpdatePhase) => ({ ...idleUpdate, phase, kind: "update" as const, target: NEXT });
  const withCancel = { ...answer("none"), cancel };
  const withHold = { ...answer("update"), hold };

  it("takes a cancel for the target while downloading or staged, and in rebooting only before the reboot command", () => {
    expect(steerUpdate(withCancel, under("downloading"), false)).toEqual({ cancel, hold: null });
    expect(steerUpdate(withCancel, under("staged"), false)).toEqual({ cancel, hold: null });
    expect(steerUpdate(withCancel, under("rebooting"), true).cancel).toEqual(cancel);
    expect(steerUpdate(withCancel, under("rebooting"), false).cancel).toBeNull();
  });

  it("ignores a cancel for another checksum, or once the machine booted the target", () => {
    const other = { ...answer("none"), cancel: { checksum: FACTORY.checksum, reason: "" } };
    expect(steerUpdate(other, under("staged"), false).cancel).toBeNull();
    for (const phase of ["verifying", "reverting", "succeeded", "rolled-back", "failed", "idle"] as const) {
      expect(steerUpdate(withCancel, under(phase), true).cancel).toBeNull();
    }
  });

  it("takes a hold for the target only before the slot (downloading or staged)", () => {
    expect(steerUpdate(withHold, under("downloading"), false)).toEqual({ cancel: null, hold });
    expect(steerUpdate(withHold, under("staged"), false).hold).toEqual(hold);
    expect(steerUpdate(withHold, under("rebooting"), true).hold).toBeNull();
    expect(steerUpdate({ ...withHold, hold: { ...hold, checksum: FACTORY.checksum } }, under("staged"), false).hold).toBeNull();
    // A 1.0 console sends neither.
    expect(steerUpdate(answer("update"), under("staged"), false)).toEqual({ cancel: null, hold: null });
  });

  it("tells an answer that plainly asks for a checksum", () => {
    expect(asksFor(answer("update"), NEXT.checksum)).toBe(true);
    expect(asksFor(answer("rollback"), NEXT.checksum)).toBe(true);
    expect(asksFor(answer("none"), NEXT.checksum)).toBe(false);
    expect(asksFor(withHold, NEXT.checksum)).toBe(false);
    expect(asksFor({ ...answer("update"), cancel }, NEXT.checksum)).toBe(false);
    expect(asksFor(answer("update", FACTORY), NEXT.checksum)).toBe(false);
  });
});

it("reports a revert as rebooting", () => {
  expect(reportedState("reverting")).toBe("rebooting");
  expect(reportedState("verifying")).toBe("verifying");
});
