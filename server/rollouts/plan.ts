// The rollout planner: pure functions of stored state and time. Given a
// rollout's rings, their waves and what their machines reported, it says what
// the controller must do next. No database, no clock of its own.
import {
  emptyStepCounts,
  FAILURE_STEPS,
  isBusyUpdate,
  MACHINE_STEPS,
  type MachineStep,
  type RingPhase as RingPhaseName,
  type StepCounts,
  sumOf,
  UNJUDGED_STEPS,
  updateStateOf,
} from "../vocabulary";

export interface WavePlan {
  /** A first wave of a single machine (plus forced ones) before the percentages. */
  singleFirst: boolean;
  /** Ascending percentages of the ring, ending at 100. */
  percents: number[];
}

export const DEFAULT_WAVE_PLAN: WavePlan = { singleFirst: true, percents: [10, 50, 100] };

export interface Wave {
  index: number;
  /** Share of the ring's cohort space the wave reaches; 0 for the single first wave. */
  threshold: number;
  label: string;
}

export function wavesOf(plan: WavePlan): Wave[] {
  const waves: Wave[] = [];
  if (plan.singleFirst) waves.push({ index: 0, threshold: 0, label: "1 machine" });
  for (const percent of plan.percents) {
    waves.push({ index: waves.length, threshold: percent / 100, label: `${percent} %` });
  }
  return waves;
}

export interface Membership {
  cohort: number;
  /** Forced into the first wave (by id or label), or picked as the single first machine. */
  first: boolean;
}

/** The wave a machine belongs to: the first whose threshold lies above its cohort. */
export function waveOfMachine(machine: Membership, waves: Wave[]): number {
  if (machine.first) return 0;
  for (const wave of waves) if (machine.cohort < wave.threshold) return wave.index;
  return waves.length - 1;
}

export type { MachineStep, StepCounts } from "../vocabulary";

export interface MachineReport {
  bootedChecksum: string | null;
  /** The kernel's boot id, where the agent reports one. */
  bootId?: string | null;
  updateState: string;
  updateTarget: string | null;
  healthStatus: string;
  lastSeenAt: Date | null;
  /**
   * False for an updater that reports no health (Zincati): booting the
   * target is all it can tell, so that is its success; the dark deadline
   * still applies. Absent: it reports health (our agent).
   */
  healthReported?: boolean;
}

/** What the machine was when the rollout took it, and its step so far. */
export interface Assignment {
  /** The booted deployment then: a machine already on the target has nothing to change. */
  previousChecksum: string | null;
  /** Its boot id then: succeeding takes a boot after it. */
  previousBootId: string | null;
  /** Its step as last judged. */
  step: MachineStep;
}

/**
 * What the console wants of a machine's update in a rollout now: `go` (a
 * running rollout), `hold` (paused or awaiting approval: machines stay where
 * they are, and nobody goes dark for the wait), `withdrawn` (aborted, or the
 * release braked: it cancels unless it already booted the release),
 * `excluded` (an operator took this machine out since: pinned, moved, held
 * on a rollback or retired; it cancels too, and whatever it did before no
 * longer counts against the rollout's gate).
 */
export type Disposition = "go" | "hold" | "withdrawn" | "excluded";

/**
 * A machine's step towards `target`, from what it reported. A machine counts
 * as succeeded only once it really changed: it booted the target in a new
 * boot (a boot id other than the one it had when assigned, where the agent
 * reports one) and reports itself healthy (an updater that reports no health,
 * Zincati, only the boot), never on "installed"; a machine
 * already on the target when assigned has nothing to change. Once succeeded,
 * a degraded report keeps it succeeded (an unhealthy one fails it: the soak
 * catches late failures). It goes dark when it has not done so
 * by `darkAt` (its assignment plus the ring's dark-after, moved on by the
 * time the rollout spent paused), and never while held. A withdrawn or
 * excluded machine that has not booted the target is cancelled once it no
 * longer works on it (an excluded one even after failing).
 */
export function machineStep(
  report: MachineReport,
  target: string,
  darkAt: Date,
  now: Date,
  disposition: Disposition = "go",
  assignment: Assignment = { previousChecksum: null, previousBootId: null, step: "assigned" },
  /** The releases the machine boots on its way to the target (floors, or around a blocked path): its work on them counts. */
  via: readonly string[] = [],
): MachineStep {
  const aboutTarget = report.updateTarget === target || (report.updateTarget !== null && via.includes(report.updateTarget));
  const overdue = disposition !== "hold" && now.getTime() > darkAt.getTime();
  const state = updateStateOf(report.updateState);
  if (report.bootedChecksum === target) {
    if (isBusyUpdate(state) && aboutTarget) return state;
    if (report.healthStatus === "unhealthy") return "failed";
    const wasThere = assignment.previousChecksum === target;
    const sameBoot = !wasThere && report.bootId != null && report.bootId === assignment.previousBootId;
    const healthy =
      report.healthStatus === "healthy" ||
      (report.healthStatus === "degraded" && assignment.step === "succeeded") ||
      (report.healthReported === false && report.healthStatus === "unknown");
    if (healthy && !sameBoot) return "succeeded";
    // Booted it but not (yet) healthy, or reporting the target without a new boot: not done.
    return overdue ? "dark" : "verifying";
  } else if (aboutTarget) {
    if (state === "rolled_back" && disposition !== "excluded") return "rolled_back";
    if (state === "failed" && disposition !== "excluded") return "failed";
    if (isBusyUpdate(state)) {
      if (overdue) return "dark";
      return disposition === "hold" && state === "staged" ? "held" : state;
    }
  }
  if (disposition === "withdrawn" || disposition === "excluded") return "cancelled";
  return overdue ? "dark" : "assigned";
}

export interface Gate {
  /** Highest acceptable share of failures (failed, rolled back, dark) among finished machines. */
  maxFailureRate: number;
  /** Finished machines needed before the rate is trusted (unless the wave has finished). */
  minSample: number;
}

export const DEFAULT_GATE: Gate = { maxFailureRate: 0.05, minSample: 5 };

export const emptyCounts = emptyStepCounts;

export interface Verdict {
  verdict: "pass" | "breach" | "wait";
  finished: number;
  failures: number;
  total: number;
  failureRate: number;
}

/**
 * Judges machines against a gate. Breach: the failure rate is over the limit
 * once the sample is large enough, or once every machine has finished (a
 * wave that has finished is judged on what it has, even below the minimum
 * sample). Pass: every machine finished within the limit. Otherwise wait.
 * Cancelled machines (withdrawn before doing anything) are not judged.
 */
export function judge(counts: StepCounts, gate: Gate): Verdict {
  const failures = sumOf(counts, FAILURE_STEPS);
  const finished = failures + counts.succeeded;
  const total = sumOf(counts, MACHINE_STEPS) - sumOf(counts, UNJUDGED_STEPS);
  const failureRate = finished === 0 ? 0 : failures / finished;
  const over = failureRate > gate.maxFailureRate;
  const allFinished = finished === total;
  let verdict: Verdict["verdict"] = "wait";
  if (over && (finished >= gate.minSample || allFinished) && failures > 0) verdict = "breach";
  else if (allFinished) verdict = "pass";
  return { verdict, finished, failures, total, failureRate };
}

export function describeBreach(ring: string, wave: Wave, verdict: Verdict, gate: Gate): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).replace(/\.0$/, "")} %`;
  return `health gate: ring ${ring}, wave ${wave.index + 1} (${wave.label}): ${verdict.failures} of ${verdict.finished} finished machines failed, rolled back or went dark (${pct(verdict.failureRate)} > ${pct(gate.maxFailureRate)})`;
}

// ---------------------------------------------------------------- the controller's next decision

/** A ring's phase as the planner sees it: a reverted ring is done with. */
export type RingPhase = Exclude<RingPhaseName, "reverted">;

export interface RingProgress {
  name: string;
  phase: RingPhase;
  /** Index of the newest open wave; -1 before the first opens. */
  openWave: number;
  waves: Wave[];
  /** Steps of the machines in open waves. */
  counts: StepCounts;
  /** When every machine of the open waves reached a terminal step (null while some have not). */
  settledAt: Date | null;
  soakSeconds: number;
  gate: Gate;
  /** An operator must approve before this ring starts. */
  approvalRequired: boolean;
  approved: boolean;
  windowOpen: boolean;
  /** When the ring's maintenance window next opens, while it is shut (null: open, or shut for a year). */
  windowOpensAt: Date | null;
  /** Machines in the ring (eligible for the rollout); read only when the ring is about to start, and counted only then. */
  machines: number;
}

export type Decision =
  | { kind: "pause"; ring: number; reason: string }
  | { kind: "open-wave"; ring: number; wave: number }
  | { kind: "await-approval"; ring: number }
  | { kind: "complete-ring"; ring: number }
  | { kind: "complete" }
  | { kind: "wait"; why: string };

function outsideWindow(ring: RingProgress) {
  const until = ring.windowOpensAt ? `; it next opens ${ring.windowOpensAt.toISOString()}` : "; it does not open within a year (blackout dates)";
  return `ring ${ring.name} is outside its maintenance window${until}`;
}

/** The next thing to do for a running rollout whose rings are given in order. */
export function nextDecision(rings: RingProgress[], now: Date): Decision {
  const index = rings.findIndex((r) => r.phase !== "completed");
  if (index < 0) return { kind: "complete" };
  const ring = rings[index];

  if (ring.phase === "pending" || ring.phase === "awaiting_approval") {
    if (ring.approvalRequired && !ring.approved) {
      return ring.phase === "pending" ? { kind: "await-approval", ring: index } : { kind: "wait", why: `ring ${ring.name} awaits approval` };
    }
    if (ring.machines === 0) return { kind: "complete-ring", ring: index };
    if (!ring.windowOpen) return { kind: "wait", why: outsideWindow(ring) };
    return { kind: "open-wave", ring: index, wave: 0 };
  }

  // Active: the gate first, within one step of the breach.
  const wave = ring.waves[Math.max(0, ring.openWave)];
  const verdict = judge(ring.counts, ring.gate);
  if (verdict.verdict === "breach") return { kind: "pause", ring: index, reason: describeBreach(ring.name, wave, verdict, ring.gate) };
  if (verdict.verdict === "wait" || !ring.settledAt) {
    return { kind: "wait", why: `ring ${ring.name}, wave ${wave.index + 1}: ${verdict.finished} of ${verdict.total} finished` };
  }
  const soakedAt = ring.settledAt.getTime() + ring.soakSeconds * 1000;
  if (now.getTime() < soakedAt) {
    return { kind: "wait", why: `ring ${ring.name}, wave ${wave.index + 1} soaking until ${new Date(soakedAt).toISOString()}` };
  }
  if (ring.openWave + 1 < ring.waves.length) {
    if (!ring.windowOpen) return { kind: "wait", why: outsideWindow(ring) };
    return { kind: "open-wave", ring: index, wave: ring.openWave + 1 };
  }
  return { kind: "complete-ring", ring: index };
}
