import { describe, expect, it } from "vitest";
import type { CheckinResponse } from "../../server/protocol/v1.ts";
import { type AgentState, idleUpdate } from "./store.ts";
import { FACTORY, release } from "./testing/test-agent.ts";
import { denylistAfter, planUpdate, reportedState } from "./plan.ts";

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

it("reports a revert as rebooting", () => {
  expect(reportedState("reverting")).toBe("rebooting");
  expect(reportedState("verifying")).toBe("verifying");
});
