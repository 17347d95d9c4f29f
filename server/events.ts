// In-process notifications from the domain layer to the caches of the agent
// service (ring → release answers, token → machine lookups). Another process
// on the same database is not told: those caches also expire on their own.
import { EventEmitter } from "node:events";

interface DomainEvents {
  /** A ring's release, branch or policy changed. */
  ringChanged: [ringId: string];
  /** A machine's tokens, ring, pin, rollback or retirement changed. */
  machineChanged: [machineDbId: string];
  /** Many machines changed at once (a revert): forget every cached machine. */
  machinesChanged: [];
}

const holder = globalThis as unknown as { __orchardEvents?: EventEmitter<DomainEvents> };
export const domainEvents: EventEmitter<DomainEvents> = (holder.__orchardEvents ??=
  new EventEmitter<DomainEvents>());
domainEvents.setMaxListeners(50);
