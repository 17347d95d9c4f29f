// One update under way, as the console may still steer it (protocol v1.1):
// its own abort signal for a cancel (distinct from the agent's stop), and
// the moment the reboot command is issued, after which no cancel counts.
import type { InFlightDirective } from "../../server/protocol/v1.ts";

/** The reason the update's signal aborts with when the console cancels it. */
export class UpdateCancelled extends Error {
  constructor(readonly directive: InFlightDirective) {
    super(`cancelled by the console${directive.reason ? `: ${directive.reason}` : ""}`);
    this.name = "UpdateCancelled";
  }
}

export class InFlight {
  private readonly controller = new AbortController();
  private cancelledBy: InFlightDirective | null = null;
  private rebootIssued = false;

  /** Aborts when the console cancels this update: a download, a wait for a slot or for the console stop. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The console's cancel, once taken. */
  get cancellation(): InFlightDirective | null {
    return this.cancelledBy;
  }

  /** True once the reboot command was issued: the reboot goes ahead, whatever the console says. */
  get rebooting(): boolean {
    return this.rebootIssued;
  }

  /** Takes the console's cancel; false (nothing changes) once the reboot command was issued. */
  cancel(directive: InFlightDirective): boolean {
    if (this.rebootIssued) return false;
    if (!this.cancelledBy) {
      this.cancelledBy = directive;
      this.controller.abort(new UpdateCancelled(directive));
    }
    return true;
  }

  /** Called right before the reboot command: throws when a cancel came first. */
  issueReboot(): void {
    this.controller.signal.throwIfAborted();
    this.rebootIssued = true;
  }
}
