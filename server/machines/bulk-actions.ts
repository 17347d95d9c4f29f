// Operator actions on many machines at once (the machines page's bulk
// select): pin, unpin and roll back. All or nothing: one transaction, one
// audit row per machine, and an error that names the machine it is about.
import type { Actor } from "../audit/audit";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { Prisma, PrismaClient } from "../db/client";
import { AppError } from "../errors";
import { domainEvents } from "../events";
import { pinInTransaction, rollbackInTransaction, unpinInTransaction } from "../rollouts/machine-actions";
import { assertSendable } from "../releases/sendable";
import { findRelease } from "../rollouts/rollouts";
import { machinesMatching } from "./machines";
import { type BulkMachinesInput, bulkMachinesInput, type BulkPinInput, bulkPinInput, type MachineFilter, MAX_MATCHING } from "./schemas";

/** Room for 200 machines' reads and writes on a busy database, and more for every machine a filter matches. */
const TRANSACTION_TIMEOUT_MS = 60_000;
const PER_MACHINE_MS = 50;

/**
 * Applies `apply` to the named machines, or to every machine the filter
 * matches within the actor's rings (read in the same transaction), all or
 * none.
 */
async function eachMachine(
  db: PrismaClient,
  actor: Actor,
  target: { machineIds?: string[]; matching?: MachineFilter },
  clock: Clock,
  apply: (tx: Prisma.TransactionClient, machineId: string) => Promise<string>,
) {
  const count = target.machineIds?.length ?? MAX_MATCHING;
  const ids = await db.$transaction(
    async (tx) => {
      const out: string[] = [];
      const machineIds = target.machineIds ?? (await machinesMatching(tx, target.matching!, clock, actor.rings));
      for (const machineId of machineIds) {
        try {
          out.push(await apply(tx, machineId));
        } catch (error) {
          // "machineIds: kiosk-7: the machine reports no previous deployment…"
          if (error instanceof AppError) throw new AppError(error.code, `machineIds: ${machineId}: ${error.message}`, { field: "machineIds", cause: error });
          throw error;
        }
      }
      return out;
    },
    { timeout: TRANSACTION_TIMEOUT_MS + count * PER_MACHINE_MS },
  );
  for (const id of ids) domainEvents.emit("machineChanged", id);
  return ids.length;
}

export async function pinMachines(db: PrismaClient, actor: Actor, input: BulkPinInput, clock: Clock = systemClock) {
  const data = bulkPinInput.parse(input);
  const now = clock.now();
  // The release first, so that an error about it names the release, not a machine.
  assertSendable(await findRelease(db, data.version, data.ref), "version");
  const count = await eachMachine(db, actor, data, clock, (tx, machineId) =>
    pinInTransaction(tx, actor, { machineId, version: data.version, ref: data.ref, allowDowngrade: data.allowDowngrade, reason: data.reason }, now),
  );
  return { count, pinned: data.version };
}

export async function unpinMachines(db: PrismaClient, actor: Actor, input: BulkMachinesInput, clock: Clock = systemClock) {
  const data = bulkMachinesInput.parse(input);
  const now = clock.now();
  const count = await eachMachine(db, actor, data, clock, (tx, machineId) => unpinInTransaction(tx, actor, { machineId, reason: data.reason }, now));
  return { count };
}

export async function rollbackMachines(db: PrismaClient, actor: Actor, input: BulkMachinesInput, clock: Clock = systemClock) {
  const data = bulkMachinesInput.parse(input);
  const now = clock.now();
  const count = await eachMachine(db, actor, data, clock, async (tx, machineId) =>
    (await rollbackInTransaction(tx, actor, { machineId, reason: data.reason }, now)).id,
  );
  return { count };
}
