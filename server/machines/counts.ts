// Machines counted by ring, booted version, health and update state, read
// from machine_counts (signed deltas appended by triggers in the transaction
// of every change; see prisma/schema.prisma) instead of counting the rows:
// a few hundred rows to sum at any fleet size. The dashboard's counts and the
// machines page's exact totals come from here; the fold keeps the table at
// about one row per group.
import { Prisma, type PrismaClient } from "../db/client";
import type { HealthStatus, UpdateState } from "../vocabulary";

export interface MachineCountRow {
  ringId: string | null;
  version: string | null;
  health: HealthStatus;
  update: UpdateState;
  n: number;
}

/** What machine_counts can answer: rings (null: every ring, machines in none included), health, update state, booted version. */
export interface CountedFilter {
  ringIds: string[] | null;
  health?: HealthStatus;
  updateState?: UpdateState;
  version?: string;
}

function countedWhere(filter: CountedFilter) {
  const conditions = [Prisma.sql`TRUE`];
  if (filter.ringIds !== null) conditions.push(Prisma.sql`ring_id = ANY(${filter.ringIds}::text[])`);
  if (filter.health) conditions.push(Prisma.sql`health_status = ${filter.health}::"HealthStatus"`);
  if (filter.updateState) conditions.push(Prisma.sql`update_state = ${filter.updateState === "rolled_back" ? "rolled-back" : filter.updateState}::"UpdateState"`);
  if (filter.version !== undefined) conditions.push(Prisma.sql`booted_version = ${filter.version}`);
  return Prisma.join(conditions, " AND ");
}

/** Machines (not retired) per ring, version, health and update state; groups with none left out. */
export async function countMachineGroups(db: PrismaClient, filter: CountedFilter = { ringIds: null }): Promise<MachineCountRow[]> {
  return db.$queryRaw<MachineCountRow[]>`
    SELECT ring_id AS "ringId", booted_version AS version, health_status::text AS health,
           replace(update_state::text, '-', '_') AS update, sum(n)::int AS n
      FROM machine_counts WHERE ${countedWhere(filter)}
     GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0`;
}

/** How many machines (not retired) the filter matches, exactly. */
export async function countMachines(db: PrismaClient, filter: CountedFilter): Promise<number> {
  const [row] = await db.$queryRaw<{ n: number }[]>`SELECT COALESCE(sum(n), 0)::int AS n FROM machine_counts WHERE ${countedWhere(filter)}`;
  return row?.n ?? 0;
}

/** How often each console process folds machine_counts. */
export const MACHINE_COUNTS_FOLD_MS = 10_000;

/**
 * Folds machine_counts into one row per group (dropping groups at zero), in
 * one statement, touching only groups of several rows or none left: a table
 * already folded is not written. Deltas appended meanwhile by transactions
 * not yet committed are not seen and stay as they are; two folds at once are
 * safe too (the second skips the rows the first deleted). Returns the rows
 * written.
 */
export async function foldMachineCounts(db: PrismaClient): Promise<number> {
  // Without JIT: on statistics that lag a table this busy, the planner takes
  // the join below for millions of rows and compiles it, 330 ms of
  // compiling for 3 ms of work, every fold (seen at 20,000 machines mid-wave).
  const [, written] = await db.$transaction([db.$executeRaw`SET LOCAL jit = off`, fold(db)]);
  return written;
}

function fold(db: PrismaClient) {
  return db.$executeRaw`
    WITH loose AS (
      SELECT ring_id, booted_version, health_status, update_state FROM machine_counts
       GROUP BY 1, 2, 3, 4 HAVING count(*) > 1 OR sum(n) = 0
    ), gone AS (
      DELETE FROM machine_counts c USING loose l
       WHERE (c.ring_id, c.booted_version, c.health_status, c.update_state)
             IS NOT DISTINCT FROM (l.ring_id, l.booted_version, l.health_status, l.update_state)
      RETURNING c.ring_id, c.booted_version, c.health_status, c.update_state, c.n
    )
    INSERT INTO machine_counts (ring_id, booted_version, health_status, update_state, n)
    SELECT ring_id, booted_version, health_status, update_state, sum(n) FROM gone
     GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0`;
}
