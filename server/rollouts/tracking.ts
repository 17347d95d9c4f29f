// What the controller reads and is told between its steps: which machines
// take part in rollouts (one SQL rule for the controller, the dry run's
// counts and the rollout pages), and "judge these machines again" after a
// change that moves no machine's reported state (a pause, a resume, an
// abort, a brake; a pin, move or rollback of one machine).
import { Prisma } from "../db/client";
import { ACTIVE_ROLLOUT_STATES, sqlList } from "../vocabulary";

type Tx = Prisma.TransactionClient;

/**
 * Machines that take part in rollouts (`m` is the machines table): not
 * retired, not pinned, not held back by an operator's rollback.
 */
export const ELIGIBLE_SQL = Prisma.sql`m.retired_at IS NULL AND m.pinned_release_id IS NULL
  AND NOT COALESCE((m.rollback_to ->> 'hold')::boolean, false)`;

export async function countEligible(tx: Tx, ringId: string) {
  const [row] = await tx.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM machines m WHERE m.ring_id = ${ringId} AND ${ELIGIBLE_SQL}`;
  return row?.n ?? 0;
}

/** The rollout's unfinished machines are judged again at the controller's next step (its disposition changed). */
export async function rejudgeRollout(tx: Tx, rolloutId: string) {
  await tx.$executeRaw`UPDATE rollout_machines SET seen_version = -1 WHERE rollout_id = ${rolloutId} AND finished_at IS NULL`;
}

/** These machines' rows in rollouts under way are judged again (pinned, unpinned, moved, rolled back, retired). */
export async function rejudgeMachines(tx: Tx, machineDbIds: string[]) {
  if (machineDbIds.length === 0) return;
  await tx.$executeRaw`
    UPDATE rollout_machines rm SET seen_version = -1
      FROM rollouts ro
     WHERE rm.machine_id = ANY(${machineDbIds}::text[]) AND ro.id = rm.rollout_id
       AND ro.state IN ${Prisma.raw(sqlList(ACTIVE_ROLLOUT_STATES))}`;
}
