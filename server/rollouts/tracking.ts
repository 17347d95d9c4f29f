// What the controller reads and is told between its steps: which machines
// take part in rollouts (one SQL rule for the controller, the dry run's
// counts and the rollout pages), and "judge these machines again" after a
// change that moves no machine's reported state (a pause, a resume, an
// abort, a brake; a pin, move or rollback of one machine).
import { Prisma, type PrismaClient } from "../db/client";
import { ACTIVE_ROLLOUT_STATES, sqlList } from "../vocabulary";

type Tx = Prisma.TransactionClient;

/**
 * Held out of rollouts by an operator (`m` is the machines table): pinned, or
 * held on a rollback. A partial index (migration held_cancelled) holds
 * exactly these rows: keep the two expressions the same.
 */
const EXCLUDED_SQL = Prisma.sql`(m.pinned_release_id IS NOT NULL OR COALESCE((m.rollback_to ->> 'hold')::boolean, false))`;

/** Machines that take part in rollouts (`m` is the machines table): not retired, not held out by an operator. */
export const ELIGIBLE_SQL = Prisma.sql`m.retired_at IS NULL AND NOT ${EXCLUDED_SQL}`;

/**
 * Eligible machines per ring, counted without reading the machines rows: the
 * ring's machines (not retired) summed from the kept counts (machine_counts,
 * a few hundred rows at any fleet size, written in the same statements as
 * machines_counted, so the same figure a count of the copy gives), less the
 * few held out (through their partial index). The statement, to run in a
 * batch of one's own (the rows: a ring id and its count).
 */
export function eligibleByRingQuery(db: Tx | PrismaClient, ringIds: string[]) {
  // Counted first, then less the held out: a join before the count sorted every counted row.
  return db.$queryRaw<{ ring_id: string; n: number }[]>`
    SELECT c.ring_id, (c.n - COALESCE(x.n, 0))::int AS n
      FROM (SELECT ring_id, sum(n) AS n FROM machine_counts
             WHERE ring_id = ANY(${ringIds}::text[])
             GROUP BY ring_id) c
      LEFT JOIN (SELECT m.ring_id, count(*) AS n FROM machines m
                  WHERE m.ring_id = ANY(${ringIds}::text[]) AND m.retired_at IS NULL AND ${EXCLUDED_SQL}
                  GROUP BY m.ring_id) x ON x.ring_id = c.ring_id`;
}

/** One ring's eligible machines, as eligibleByRing counts them: two plain counts, no grouping to plan. */
export async function countEligible(tx: Tx, ringId: string) {
  const [row] = await tx.$queryRaw<{ n: number }[]>`
    SELECT ((SELECT count(*) FROM machines_counted c WHERE c.ring_id = ${ringId} AND NOT c.retired)
          - (SELECT count(*) FROM machines m WHERE m.ring_id = ${ringId} AND m.retired_at IS NULL AND ${EXCLUDED_SQL}))::int AS n`;
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
