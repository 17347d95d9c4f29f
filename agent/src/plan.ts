// What the console's answer asks of this machine, decided without touching
// it: pure functions over the answer and the agent's state.
import type { CheckinResponse, UpdateState } from "../../server/protocol/v1.ts";
import type { AgentState, UpdatePhase, UpdateTarget } from "./store.ts";

export interface UpdatePlan {
  kind: "update" | "rollback";
  target: UpdateTarget;
  /** The target may be older than the booted deployment: a rollback, or an operator's roll-forward. */
  mayDowngrade: boolean;
}

/** Phases in which an update is under way (and must be resumed after a restart). */
const ACTIVE_PHASES: ReadonlySet<UpdatePhase> = new Set(["downloading", "staged", "rebooting", "reverting", "verifying"]);

export function isActive(phase: UpdatePhase): boolean {
  return ACTIVE_PHASES.has(phase);
}

/** The `update.state` a check-in reports for a phase. */
export function reportedState(phase: UpdatePhase): UpdateState {
  return phase === "reverting" ? "rebooting" : phase;
}

/** What the console's answer asks of this machine, or null when nothing is to be done now. */
export function planUpdate(
  answer: CheckinResponse,
  booted: string | null,
  state: Readonly<AgentState>,
  now: Date,
): UpdatePlan | null {
  const desired = answer.desired;
  if (answer.action === "none" || !desired || desired.checksum === booted) return null;
  if (state.denylist.includes(desired.checksum)) return null;
  const mayDowngrade = answer.action === "rollback" || desired.allowDowngrade === true;
  const last = state.update;
  const failedBefore = last.phase === "failed" && last.target?.checksum === desired.checksum;
  // A refused downgrade is not tried again until the console allows it.
  if (failedBefore && last.downgradeRefused && !mayDowngrade) return null;
  // A failed download is tried again after its backoff, not at every check-in.
  if (failedBefore && last.retryAt && Date.parse(last.retryAt) > now.getTime()) return null;
  return {
    kind: answer.action,
    target: { ref: desired.ref, checksum: desired.checksum, version: desired.version },
    mayDowngrade,
  };
}

/**
 * The denylist after an answer: a checksum stays on it while the console
 * keeps asking for it, and leaves it once the console asks for anything
 * else, so that asking for it again later is a new request.
 */
export function denylistAfter(denylist: readonly string[], answer: CheckinResponse): string[] {
  return denylist.filter((checksum) => checksum === answer.desired?.checksum);
}

export function describeTarget(target: UpdateTarget): string {
  return target.version ? `${target.version} (${target.checksum.slice(0, 12)})` : target.checksum.slice(0, 12);
}
