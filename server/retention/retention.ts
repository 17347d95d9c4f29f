// Bounded data: what the console keeps, how long, and the pruning that
// removes the rest (a background job, server/jobs/periodic-job.ts). Agent
// events, machine changes (the timeline the check-ins write), version
// snapshots and finished rollouts' per-machine rows go after their own
// periods; retired machines are purged, with everything that hangs off them,
// after theirs. The audit log is never removed here (its triggers would refuse
// it anyway): it is exported by time range instead (server/audit/).
//
// Rows go in batches of PRUNE_BATCH, each batch one short transaction found
// through an index on the row's time, so that no lock is held for long and
// check-ins writing new rows meanwhile never wait (docs/retention.md has the
// measurements against monthly partitions). A pass is bounded too
// (PASS_BATCHES per kind); what is left goes at the next pass. An advisory
// lock keeps two console processes from pruning the same rows at once.
import type pg from "pg";
import { FINISHED_ROLLOUT_STATES, sqlList, TERMINAL_STEPS } from "../vocabulary";

/** Days each kind of row is kept; 0 keeps it for good. */
export interface RetentionPolicy {
  agentEventsDays: number;
  machineChangesDays: number;
  versionSnapshotsDays: number;
  /** The per-machine rows of rollouts finished this long ago (completed, aborted or reverted, every machine done). */
  rolloutMachinesDays: number;
  /** Machines retired this long ago, with their events, changes, tokens and rollout rows. */
  retiredMachinesDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  agentEventsDays: 90,
  machineChangesDays: 90,
  versionSnapshotsDays: 400,
  rolloutMachinesDays: 180,
  retiredMachinesDays: 30,
};

/** Rows removed per statement (machines: a fiftieth of it, each bringing its own rows). */
export const PRUNE_BATCH = 5000;
/** Batches per kind in one pass. */
const PASS_BATCHES = 200;

export type PruneKind = keyof RetentionPolicy;
export type PruneResult = Record<PruneKind, { removed: number; batches: number }>;

const DAY_MS = 86_400_000;
const FINISHED_SQL = sqlList(FINISHED_ROLLOUT_STATES);
const TERMINAL_SQL = sqlList(TERMINAL_STEPS);

/** Each kind's batch: deletes at most $2 rows older than $1 and says how many. */
const BATCH_SQL: Record<PruneKind, string> = {
  agentEventsDays: `DELETE FROM agent_events WHERE id IN (
      SELECT id FROM agent_events WHERE received_at < $1 ORDER BY received_at LIMIT $2)`,
  machineChangesDays: `DELETE FROM machine_changes WHERE id IN (
      SELECT id FROM machine_changes WHERE at < $1 ORDER BY at LIMIT $2)`,
  versionSnapshotsDays: `DELETE FROM version_snapshots WHERE id IN (
      SELECT id FROM version_snapshots WHERE at < $1 ORDER BY at LIMIT $2)`,
  rolloutMachinesDays: `DELETE FROM rollout_machines WHERE id IN (
      SELECT rm.id FROM rollouts ro JOIN rollout_machines rm ON rm.rollout_id = ro.id
       WHERE ro.state IN ${FINISHED_SQL} AND ro.finished_at < $1
         AND NOT EXISTS (SELECT 1 FROM rollout_machines u WHERE u.rollout_id = ro.id AND u.step NOT IN ${TERMINAL_SQL})
       LIMIT $2)`,
  // Cascades to the machine's tokens, events, changes, rollout rows, reboot slot and counted row.
  retiredMachinesDays: `DELETE FROM machines WHERE id IN (
      SELECT id FROM machines WHERE retired_at < $1 ORDER BY retired_at LIMIT $2)`,
};

/** Retired machines first: their rows then go with them rather than one kind at a time. */
const ORDER: PruneKind[] = ["retiredMachinesDays", "agentEventsDays", "machineChangesDays", "versionSnapshotsDays", "rolloutMachinesDays"];

/**
 * One pass: every kind's rows past its period, in batches of `batch`, each
 * batch its own transaction. Returns what went. Stops early (and says
 * nothing went) when another process holds the pruning lock.
 */
export async function prune(
  pool: pg.Pool,
  policy: RetentionPolicy,
  now: Date,
  options: { batch?: number; passBatches?: number } = {},
): Promise<PruneResult> {
  const batch = options.batch ?? PRUNE_BATCH;
  const passBatches = options.passBatches ?? PASS_BATCHES;
  const result = Object.fromEntries(ORDER.map((kind) => [kind, { removed: 0, batches: 0 }])) as PruneResult;
  for (const kind of ORDER) {
    const days = policy[kind];
    if (days <= 0) continue;
    const cutoff = new Date(now.getTime() - days * DAY_MS);
    const limit = kind === "retiredMachinesDays" ? Math.max(1, Math.floor(batch / 50)) : batch;
    while (result[kind].batches < passBatches) {
      const removed = await pruneBatch(pool, BATCH_SQL[kind], cutoff, limit);
      if (removed === null) return result;
      result[kind].batches++;
      result[kind].removed += removed;
      if (removed < limit) break;
    }
  }
  return result;
}

/** One batch in a transaction of its own under the pruning lock; null when another process holds it. */
async function pruneBatch(pool: pg.Pool, sql: string, cutoff: Date, batch: number): Promise<number | null> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext('orchard:prune')) AS locked");
    if (!rows[0]?.locked) {
      await client.query("ROLLBACK");
      return null;
    }
    const deleted = await client.query(sql, [cutoff, batch]);
    await client.query("COMMIT");
    return deleted.rowCount ?? 0;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The policy from the console's configuration (server/config.ts). */
export function retentionOf(config: {
  ORCHARD_KEEP_AGENT_EVENTS_DAYS: number;
  ORCHARD_KEEP_MACHINE_CHANGES_DAYS: number;
  ORCHARD_KEEP_VERSION_SNAPSHOTS_DAYS: number;
  ORCHARD_KEEP_ROLLOUT_MACHINES_DAYS: number;
  ORCHARD_KEEP_RETIRED_MACHINES_DAYS: number;
}): RetentionPolicy {
  return {
    agentEventsDays: config.ORCHARD_KEEP_AGENT_EVENTS_DAYS,
    machineChangesDays: config.ORCHARD_KEEP_MACHINE_CHANGES_DAYS,
    versionSnapshotsDays: config.ORCHARD_KEEP_VERSION_SNAPSHOTS_DAYS,
    rolloutMachinesDays: config.ORCHARD_KEEP_ROLLOUT_MACHINES_DAYS,
    retiredMachinesDays: config.ORCHARD_KEEP_RETIRED_MACHINES_DAYS,
  };
}
