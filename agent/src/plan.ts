// What the console's answer asks of this machine, decided without touching
// it: pure functions over the answer and the agent's state.
import type { CheckinResponse, InFlightDirective, UpdateState } from "../../server/protocol/v1.ts";
import type { AgentState, UpdatePhase, UpdateRecord, UpdateTarget } from "./store.ts";

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
  // A cancelled target starts again only from an answer that asks for it and does not cancel it in the same breath.
  if (answer.cancel?.checksum === desired.checksum) return null;
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

/** What an answer says of the update under way (v1.1): stop it, hold it, or neither. */
export interface Steering {
  cancel: InFlightDirective | null;
  hold: InFlightDirective | null;
}

/** Phases before the reboot into the target: a hold keeps the update here, a cancel undoes it. */
const BEFORE_REBOOT: ReadonlySet<UpdatePhase> = new Set(["downloading", "staged"]);

/**
 * Reads the answer's `cancel` and `hold` against the update under way. Both
 * count only when they name its target. A cancel counts before the reboot:
 * while downloading or staged (waiting for a slot included), and while
 * `rebooting` until the reboot command is issued (`rebootNotIssued`: the
 * agent reported `rebooting` and has not rebooted yet, or it restarted and
 * the boot id shows the reboot never happened). A hold counts only before
 * the slot is granted (downloading or staged). Once the machine booted the
 * target (verifying), neither changes anything.
 */
export function steerUpdate(answer: CheckinResponse, update: UpdateRecord, rebootNotIssued: boolean): Steering {
  const checksum = update.target?.checksum;
  if (!checksum) return { cancel: null, hold: null };
  const beforeReboot = BEFORE_REBOOT.has(update.phase);
  const cancellable = beforeReboot || (update.phase === "rebooting" && rebootNotIssued);
  return {
    cancel: cancellable && answer.cancel?.checksum === checksum ? answer.cancel : null,
    hold: beforeReboot && answer.hold?.checksum === checksum ? answer.hold : null,
  };
}

/** The phase in which a cancel (once taken) still undoes the update: it stopped on its own otherwise. */
export function isCancellable(phase: UpdatePhase): boolean {
  return BEFORE_REBOOT.has(phase) || phase === "rebooting";
}

/** True when an answer plainly asks for `checksum`: `update` or `rollback` to it, neither held nor cancelled. */
export function asksFor(answer: CheckinResponse, checksum: string): boolean {
  return (
    answer.action !== "none" &&
    answer.desired?.checksum === checksum &&
    answer.hold?.checksum !== checksum &&
    answer.cancel?.checksum !== checksum
  );
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
