import { describe, expect, it } from "vitest";
import {
  DEFAULT_GATE,
  emptyCounts,
  judge,
  machineStep,
  nextDecision,
  type Assignment,
  type RingProgress,
  type StepCounts,
  waveOfMachine,
  wavesOf,
} from "./plan";

const T = "a".repeat(64);
const OLD = "b".repeat(64);
const t0 = new Date("2026-11-25T12:00:00Z");
const later = (s: number) => new Date(t0.getTime() + s * 1000);
const counts = (c: Partial<StepCounts>): StepCounts => ({ ...emptyCounts(), ...c });

describe("waves", () => {
  it("puts a single machine first, then the percentages", () => {
    expect(wavesOf({ singleFirst: true, percents: [10, 50, 100] }).map((w) => w.label)).toEqual(["1 machine", "10 %", "50 %", "100 %"]);
    expect(wavesOf({ singleFirst: false, percents: [25, 100] }).map((w) => w.threshold)).toEqual([0.25, 1]);
  });

  it.each([
    [{ cohort: 0.05, first: false }, 1],
    [{ cohort: 0.3, first: false }, 2],
    [{ cohort: 0.99, first: false }, 3],
    [{ cohort: 0.99, first: true }, 0],
  ])("places %j in wave %i", (machine, wave) => {
    expect(waveOfMachine(machine, wavesOf({ singleFirst: true, percents: [10, 50, 100] }))).toBe(wave);
  });
});

const report = (r: Partial<Parameters<typeof machineStep>[0]>) => ({
  bootedChecksum: OLD,
  updateState: "idle",
  updateTarget: null,
  healthStatus: "healthy",
  lastSeenAt: t0,
  ...r,
});

describe("a machine's step", () => {
  it.each([
    ["not started yet", report({}), 60, "assigned"],
    ["downloading the target", report({ updateState: "downloading", updateTarget: T }), 60, "downloading"],
    ["booted the target, verifying", report({ bootedChecksum: T, updateState: "verifying", updateTarget: T }), 60, "verifying"],
    ["booted the target and healthy", report({ bootedChecksum: T, updateState: "succeeded", updateTarget: T }), 60, "succeeded"],
    ["booted the target, degraded: not healthy yet", report({ bootedChecksum: T, updateState: "succeeded", updateTarget: T, healthStatus: "degraded" }), 60, "verifying"],
    ["booted the target, degraded past the deadline: dark", report({ bootedChecksum: T, updateState: "succeeded", updateTarget: T, healthStatus: "degraded" }), 7200, "dark"],
    ["booted the target but unhealthy", report({ bootedChecksum: T, updateState: "succeeded", updateTarget: T, healthStatus: "unhealthy" }), 60, "failed"],
    ["rolled back on the machine", report({ updateState: "rolled-back", updateTarget: T }), 60, "rolled_back"],
    ["failed (boot loader fell back)", report({ updateState: "failed", updateTarget: T }), 60, "failed"],
    ["a failure about another target", report({ updateState: "failed", updateTarget: OLD }), 60, "assigned"],
    ["silent past the deadline", report({}), 7200, "dark"],
    ["stuck rebooting past the deadline", report({ updateState: "rebooting", updateTarget: T }), 7200, "dark"],
    ["already on the target when assigned", report({ bootedChecksum: T }), 60, "succeeded"],
  ])("%s", (_, r, seconds, step) => {
    expect(machineStep(r, T, later(1800), later(seconds))).toBe(step);
  });
});

describe("a machine's step: it really changed", () => {
  const assignment = (a: Partial<Assignment> = {}): Assignment => ({ previousChecksum: OLD, previousBootId: "boot-1", step: "assigned", ...a });
  const booted = (r: Partial<Parameters<typeof machineStep>[0]> = {}) => report({ bootedChecksum: T, updateState: "succeeded", updateTarget: T, ...r });
  it.each([
    ["a new boot, healthy: succeeded", booted({ bootId: "boot-2" }), assignment(), "succeeded"],
    ["the same boot as when assigned: not a change", booted({ bootId: "boot-1" }), assignment(), "verifying"],
    ["no boot id reported: the boot cannot be told, the checksum counts", booted({ bootId: null }), assignment(), "succeeded"],
    ["already on the target when assigned: nothing to change", booted({ bootId: "boot-1" }), assignment({ previousChecksum: T }), "succeeded"],
    ["a new boot, degraded: not yet", booted({ bootId: "boot-2", healthStatus: "degraded" }), assignment(), "verifying"],
    ["succeeded before, degraded now: stays succeeded", booted({ bootId: "boot-2", healthStatus: "degraded" }), assignment({ step: "succeeded" }), "succeeded"],
    ["succeeded before, unhealthy now: failed", booted({ bootId: "boot-2", healthStatus: "unhealthy" }), assignment({ step: "succeeded" }), "failed"],
  ] as const)("%s", (_, r, a, step) => {
    expect(machineStep(r, T, later(1800), later(60), "go", a)).toBe(step);
  });
});

describe("a machine's step when its updater reports no health (Zincati)", () => {
  const zincati = (r: Partial<Parameters<typeof machineStep>[0]> = {}) => report({ healthStatus: "unknown", healthReported: false, updateState: "idle", ...r });
  const assignment: Assignment = { previousChecksum: OLD, previousBootId: null, step: "assigned" };
  it.each([
    ["booted the target: succeeded (the boot is all it reports)", zincati({ bootedChecksum: T }), 60, "succeeded"],
    ["given the target, not booted it by the deadline: dark", zincati({ updateState: "downloading", updateTarget: T }), 7200, "dark"],
    ["staged, waiting for its reboot slot", zincati({ updateState: "staged", updateTarget: T }), 60, "staged"],
  ] as const)("%s", (_, r, seconds, step) => {
    expect(machineStep(r, T, later(1800), later(seconds), "go", assignment)).toBe(step);
  });

  it("never lets our agent's unknown health count as a success", () => {
    expect(machineStep(report({ bootedChecksum: T, healthStatus: "unknown" }), T, later(1800), later(60), "go", assignment)).toBe("verifying");
  });
});

describe("a machine's step while held or withdrawn", () => {
  it.each([
    ["staged while paused: held", report({ updateState: "staged", updateTarget: T }), 60, "hold", "held"],
    ["downloading while paused: still downloading", report({ updateState: "downloading", updateTarget: T }), 60, "hold", "downloading"],
    ["held past the dark deadline: never dark for the wait", report({ updateState: "staged", updateTarget: T }), 7200, "hold", "held"],
    ["not started, paused past the deadline: still assigned", report({}), 7200, "hold", "assigned"],
    ["rebooting while paused goes on", report({ updateState: "rebooting", updateTarget: T }), 60, "hold", "rebooting"],
    ["withdrawn, still staged: not yet cancelled", report({ updateState: "staged", updateTarget: T }), 60, "withdrawn", "staged"],
    ["withdrawn, back to idle: cancelled", report({ updateState: "idle", updateTarget: T }), 60, "withdrawn", "cancelled"],
    ["withdrawn before it started: cancelled", report({}), 60, "withdrawn", "cancelled"],
    ["withdrawn, never confirms past the deadline: dark", report({ updateState: "staged", updateTarget: T }), 7200, "withdrawn", "dark"],
    ["withdrawn after it booted the release: judged as usual", report({ bootedChecksum: T, updateState: "succeeded", updateTarget: T }), 60, "withdrawn", "succeeded"],
    ["withdrawn after a rollback on the machine: still rolled back", report({ updateState: "rolled-back", updateTarget: T }), 60, "withdrawn", "rolled_back"],
    ["excluded by an operator after it rolled back: out of the sample", report({ updateState: "rolled-back", updateTarget: T }), 60, "excluded", "cancelled"],
    ["excluded after a failure: out of the sample", report({ updateState: "failed", updateTarget: T }), 60, "excluded", "cancelled"],
    ["excluded while staged: not yet cancelled", report({ updateState: "staged", updateTarget: T }), 60, "excluded", "staged"],
    ["excluded, booted on the release: judged as usual", report({ bootedChecksum: T, updateState: "succeeded", updateTarget: T }), 60, "excluded", "succeeded"],
  ] as const)("%s", (_, r, seconds, disposition, step) => {
    expect(machineStep(r, T, later(1800), later(seconds), disposition)).toBe(step);
  });
});

describe("the health gate", () => {
  it.each([
    ["waits below the minimum sample", counts({ succeeded: 2, failed: 1, assigned: 10 }), "wait"],
    ["breaches once the sample is large enough", counts({ succeeded: 4, rolled_back: 1, assigned: 10 }), "breach"],
    ["counts dark machines as failures", counts({ succeeded: 10, dark: 1, downloading: 3 }), "breach"],
    ["passes a finished wave within the limit", counts({ succeeded: 40, failed: 1 }), "pass"],
    ["judges a finished wave below the minimum sample", counts({ rolled_back: 1 }), "breach"],
    ["passes a finished single-machine wave", counts({ succeeded: 1 }), "pass"],
    ["ignores pending machines", counts({ succeeded: 3, pending: 50 }), "pass"],
    ["ignores cancelled machines: a wave whose others finished passes", counts({ succeeded: 3, cancelled: 5 }), "pass"],
    ["waits for held machines", counts({ succeeded: 3, held: 2 }), "wait"],
  ])("%s", (_, c, verdict) => {
    expect(judge(c, DEFAULT_GATE).verdict).toBe(verdict);
  });
});

describe("the next decision", () => {
  const waves = wavesOf({ singleFirst: true, percents: [10, 50, 100] });
  const ring = (r: Partial<RingProgress>): RingProgress => ({
    name: "beta",
    phase: "active",
    openWave: 0,
    waves,
    counts: counts({ succeeded: 1 }),
    settledAt: t0,
    soakSeconds: 600,
    gate: DEFAULT_GATE,
    approvalRequired: false,
    approved: false,
    windowOpen: true,
    windowOpensAt: null,
    machines: 100,
    ...r,
  });
  const done = ring({ name: "canary", phase: "completed" });

  it.each([
    ["opens the first wave of a pending ring", [done, ring({ phase: "pending", openWave: -1, counts: counts({}), settledAt: null })], t0, { kind: "open-wave", ring: 1, wave: 0 }],
    ["asks for approval before a ring that needs it", [done, ring({ phase: "pending", approvalRequired: true })], t0, { kind: "await-approval", ring: 1 }],
    ["waits for approval", [done, ring({ phase: "awaiting_approval", approvalRequired: true })], t0, { kind: "wait" }],
    ["starts an approved ring", [done, ring({ phase: "awaiting_approval", approvalRequired: true, approved: true, openWave: -1 })], t0, { kind: "open-wave", ring: 1, wave: 0 }],
    ["waits outside the maintenance window", [ring({ phase: "pending", windowOpen: false })], t0, { kind: "wait" }],
    ["waits while machines are updating", [ring({ counts: counts({ downloading: 1 }), settledAt: null })], t0, { kind: "wait" }],
    ["soaks a finished wave", [ring({})], later(599), { kind: "wait" }],
    ["opens the next wave once soaked", [ring({})], later(600), { kind: "open-wave", ring: 0, wave: 1 }],
    ["does not open a wave outside the window", [ring({ windowOpen: false })], later(600), { kind: "wait" }],
    ["completes a ring after its last wave soaked", [ring({ openWave: 3, counts: counts({ succeeded: 100 }) })], later(600), { kind: "complete-ring", ring: 0 }],
    ["completes a ring with no machines", [ring({ phase: "pending", machines: 0 })], t0, { kind: "complete-ring", ring: 0 }],
    ["completes the rollout", [done, { ...done, name: "stable" }], t0, { kind: "complete" }],
  ] as [string, RingProgress[], Date, Record<string, unknown>][])("%s", (_, rings, now, expected) => {
    expect(nextDecision(rings, now)).toMatchObject(expected);
  });

  it("pauses on the first breach, naming the ring, the wave and the rate", () => {
    const decision = nextDecision([ring({ openWave: 2, counts: counts({ succeeded: 9, rolled_back: 1, downloading: 20 }), settledAt: null })], t0);
    expect(decision.kind).toBe("pause");
    expect(decision).toMatchObject({ reason: expect.stringMatching(/ring beta, wave 3 \(50 %\): 1 of 10 .* \(10 % > 5 %\)/) });
  });

  it("pauses even while the wave soaks", () => {
    const decision = nextDecision([ring({ counts: counts({ succeeded: 4, failed: 1 }) })], later(10));
    expect(decision.kind).toBe("pause");
  });
});

describe("a machine's step on its way through a floor", () => {
  const FLOOR = "c".repeat(64);
  const step = (r: Partial<Parameters<typeof machineStep>[0]>, via: string[]) =>
    machineStep(report(r), T, later(3600), later(60), "go", undefined, via);

  it("counts its work on the floor as work on the rollout: a failure fails, a download is under way", () => {
    expect(step({ updateState: "failed", updateTarget: FLOOR }, [FLOOR, T])).toBe("failed");
    expect(step({ updateState: "downloading", updateTarget: FLOOR }, [FLOOR, T])).toBe("downloading");
    expect(step({ updateState: "failed", updateTarget: FLOOR }, [])).toBe("assigned");
  });

  it("is not done on the floor: only the final release succeeds", () => {
    expect(step({ bootedChecksum: FLOOR, updateState: "succeeded", updateTarget: FLOOR }, [T])).toBe("assigned");
    expect(step({ bootedChecksum: T, updateState: "succeeded", updateTarget: T }, [])).toBe("succeeded");
  });
});
