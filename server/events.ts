// Notifications from the domain layer to the caches of the agent service
// (ring → release answers, token → machine lookups). The domain functions
// emit them in-process as soon as their change committed; changes made by
// any other process (another console, the `orchard` command, SQL by hand)
// arrive through PostgreSQL's NOTIFY (server/db/cache-channel.ts, fed by
// triggers) and are emitted here too.
import { EventEmitter } from "node:events";

interface DomainEvents {
  /** A ring's release, branch or policy changed. */
  ringChanged: [ringId: string];
  /** A machine's tokens, ring, pin, rollback or retirement changed. */
  machineChanged: [machineDbId: string];
  /** Many machines changed at once (a revert): forget every cached machine. */
  machinesChanged: [];
  /**
   * Anything may have changed (a release's quarantine, an update path; or
   * the notification channel was lost or came back, and notifications may
   * have been missed): forget every cached machine and ring.
   */
  everythingChanged: [];
  /** Whether changes by other processes are being heard now (false: the caches fall back to their TTL). */
  listening: [listening: boolean];
}

const holder = globalThis as unknown as { __orchardEvents?: EventEmitter<DomainEvents> };
export const domainEvents: EventEmitter<DomainEvents> = (holder.__orchardEvents ??=
  new EventEmitter<DomainEvents>());
domainEvents.setMaxListeners(50);
