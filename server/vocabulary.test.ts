import { describe, expect, it } from "vitest";
import { Backend, HealthStatus, MachineStep, ReleaseSourceKind, Role, RolloutRingPhase, RolloutState, SignatureState, UpdateState, WebhookDeliveryState } from "./db/generated/enums";
import { eventTypes, updateStates } from "./protocol/v1";
import { AgentEventType } from "./db/generated/enums";
import {
  ACTIVE_ROLLOUT_STATES,
  FAILURE_STEPS,
  HEALTH_STATUSES,
  MACHINE_BACKENDS,
  MACHINE_STEPS,
  RELEASE_SOURCE_KINDS,
  SENDABLE_SIGNATURE_STATES,
  SIGNATURE_STATES,
  RING_PHASES,
  ROLES,
  roleAtLeast,
  ROLLOUT_STATES,
  sqlList,
  TERMINAL_STEPS,
  UNDER_WAY_STEPS,
  UPDATE_STATES,
  updateStateOf,
  WAITING_STEPS,
  WEBHOOK_DELIVERY_STATES,
} from "./vocabulary";

const sorted = (values: readonly string[]) => [...values].sort();

describe("one vocabulary", () => {
  it("holds exactly the values of the database's enums", () => {
    expect(sorted(ROLES)).toEqual(sorted(Object.values(Role)));
    expect(sorted(ROLLOUT_STATES)).toEqual(sorted(Object.values(RolloutState)));
    expect(sorted(RING_PHASES)).toEqual(sorted(Object.values(RolloutRingPhase)));
    expect(sorted(MACHINE_STEPS)).toEqual(sorted(Object.values(MachineStep)));
    expect(sorted(UPDATE_STATES)).toEqual(sorted(Object.values(UpdateState)));
    expect(sorted(HEALTH_STATUSES)).toEqual(sorted(Object.values(HealthStatus)));
    expect(sorted(MACHINE_BACKENDS)).toEqual(sorted(Object.values(Backend)));
    expect(sorted(WEBHOOK_DELIVERY_STATES)).toEqual(sorted(Object.values(WebhookDeliveryState)));
    expect(sorted(RELEASE_SOURCE_KINDS)).toEqual(sorted(Object.values(ReleaseSourceKind)));
    expect(sorted(SIGNATURE_STATES)).toEqual(sorted(Object.values(SignatureState)));
    for (const state of SENDABLE_SIGNATURE_STATES) expect(SIGNATURE_STATES).toContain(state);
    // The protocol's spellings map onto the console's one to one.
    expect(sorted(updateStates.map(updateStateOf))).toEqual(sorted(UPDATE_STATES));
    expect(sorted(eventTypes.map((t) => t.replace(".", "_").replace("-", "_")))).toEqual(sorted(Object.values(AgentEventType)));
  });

  it("sorts every step into exactly one of waiting, under way or finished", () => {
    const groups = [...WAITING_STEPS, ...UNDER_WAY_STEPS, ...TERMINAL_STEPS];
    expect(sorted(groups)).toEqual(sorted(MACHINE_STEPS));
    for (const step of FAILURE_STEPS) expect(TERMINAL_STEPS).toContain(step);
    for (const state of ACTIVE_ROLLOUT_STATES) expect(ROLLOUT_STATES).toContain(state);
  });

  it("ranks roles", () => {
    expect(roleAtLeast("admin", "operator")).toBe(true);
    expect(roleAtLeast("operator", "admin")).toBe(false);
    expect(roleAtLeast("viewer", "viewer")).toBe(true);
  });

  it("writes SQL lists of its own values only", () => {
    expect(sqlList(["running", "paused"])).toBe("('running', 'paused')");
    expect(() => sqlList(["x'); DROP TABLE machines; --"])).toThrow(/not a vocabulary value/);
  });
});
