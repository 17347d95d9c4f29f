// The dashboard's answers, computed in SQL so that they stay fast at 100,000
// machines: machines by health, update state and liveness, versions per
// ring, active rollouts, and what needs attention.
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { PrismaClient } from "../db/client";
import { DEFAULT_CHECK_IN_SECONDS } from "../agents/desired";
import { OFFLINE_AFTER_INTERVALS } from "../machines/machines";
import { listRollouts } from "../rollouts/rollouts";

/** A machine mid-update for longer than this is stuck. */
export const STUCK_AFTER_SECONDS = 30 * 60;
const ATTENTION_LIMIT = 25;

interface CountRow {
  ring: string | null;
  position: number | null;
  version: string | null;
  health: string;
  update: string;
  online: boolean;
  n: number;
}

export async function fleetSummary(db: PrismaClient, clock: Clock = systemClock) {
  const now = clock.now();
  // One scan of the machines for every count of the page.
  const [counts, rollouts, attention] = await Promise.all([
    // Grouped on the raw columns (a hash aggregate over few groups), named after.
    db.$queryRaw<CountRow[]>`
      SELECT r.name AS ring, r.position, g.version, g.health::text AS health, g.update::text AS update, g.online, g.n
        FROM (SELECT m.ring_id, m.booted_version AS version, m.health_status AS health, m.update_state AS update,
                     COALESCE(m.last_seen_at > ${now}::timestamptz - make_interval(secs => ${OFFLINE_AFTER_INTERVALS} * COALESCE(ri.check_in_interval_seconds, ${DEFAULT_CHECK_IN_SECONDS})), false) AS online,
                     count(*)::int AS n
                FROM machines m LEFT JOIN rings ri ON ri.id = m.ring_id
               WHERE m.retired_at IS NULL
               GROUP BY m.ring_id, m.booted_version, m.health_status, m.update_state, 5) AS g
        LEFT JOIN rings r ON r.id = g.ring_id`,
    listRollouts(db, { pageSize: 20 }).then((r) => r.rows.filter((x) => ["running", "paused", "awaiting_approval"].includes(x.state))),
    needsAttention(db, now),
  ]);

  const byHealth: Record<string, number> = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
  const byUpdateState: Record<string, number> = {};
  const rings = new Map<string, { ring: string | null; position: number; versions: Record<string, number>; total: number }>();
  let online = 0;
  let total = 0;
  for (const row of counts) {
    byHealth[row.health] = (byHealth[row.health] ?? 0) + row.n;
    // The database spells it rolled-back (the protocol's word); the console's enums say rolled_back.
    const update = row.update.replace("-", "_");
    byUpdateState[update] = (byUpdateState[update] ?? 0) + row.n;
    if (row.online) online += row.n;
    total += row.n;
    const key = row.ring ?? "";
    const entry = rings.get(key) ?? { ring: row.ring, position: row.position ?? Number.MAX_SAFE_INTEGER, versions: {}, total: 0 };
    const version = row.version ?? "not reported";
    entry.versions[version] = (entry.versions[version] ?? 0) + row.n;
    entry.total += row.n;
    rings.set(key, entry);
  }
  const versionsByRing = [...rings.values()]
    .sort((a, b) => a.position - b.position)
    .map(({ position: _position, ...ring }) => ring);
  return {
    serverTime: now,
    total,
    online,
    offline: total - online,
    byHealth,
    byUpdateState,
    versionsByRing,
    activeRollouts: rollouts,
    attention,
  };
}

type AttentionRow = { machineId: string; hostname: string; ring: string | null; since: Date | null; detail: string | null };

async function needsAttention(db: PrismaClient, now: Date) {
  const stuckBefore = new Date(now.getTime() - STUCK_AFTER_SECONDS * 1000);
  const [dark, rolledBack, failing, stuck] = await Promise.all([
    db.$queryRaw<AttentionRow[]>`
      SELECT m.machine_id AS "machineId", m.hostname, r.name AS ring, rm.finished_at AS since, rm.detail
        FROM rollout_machines rm
        JOIN rollouts ro ON ro.id = rm.rollout_id AND ro.state IN ('running', 'paused', 'awaiting_approval')
        JOIN machines m ON m.id = rm.machine_id AND m.retired_at IS NULL
        LEFT JOIN rings r ON r.id = m.ring_id
       WHERE rm.step = 'dark'
       ORDER BY rm.finished_at DESC NULLS LAST LIMIT ${ATTENTION_LIMIT}`,
    db.$queryRaw<AttentionRow[]>`
      SELECT m.machine_id AS "machineId", m.hostname, r.name AS ring, m.update_state_since AS since, m.update_error AS detail
        FROM machines m LEFT JOIN rings r ON r.id = m.ring_id
       WHERE m.update_state = 'rolled-back' AND m.retired_at IS NULL
       ORDER BY m.update_state_since DESC NULLS LAST LIMIT ${ATTENTION_LIMIT}`,
    // The failing checks' names are read only for the machines listed.
    db.$queryRaw<AttentionRow[]>`
      SELECT m.machine_id AS "machineId", m.hostname, r.name AS ring, m.updated_at AS since,
             (SELECT string_agg(c->>'name', ', ') FROM jsonb_array_elements(m.health_checks) c WHERE c->>'status' = 'fail') AS detail
        FROM (SELECT id FROM machines WHERE health_status = 'unhealthy' AND retired_at IS NULL
               ORDER BY updated_at DESC LIMIT ${ATTENTION_LIMIT}) AS pick
        JOIN machines m ON m.id = pick.id LEFT JOIN rings r ON r.id = m.ring_id
       ORDER BY m.updated_at DESC`,
    db.$queryRaw<AttentionRow[]>`
      SELECT m.machine_id AS "machineId", m.hostname, r.name AS ring, m.update_state_since AS since,
             m.update_state::text AS detail
        FROM machines m LEFT JOIN rings r ON r.id = m.ring_id
       WHERE m.update_state IN ('downloading', 'staged', 'rebooting', 'verifying')
         AND m.update_state_since < ${stuckBefore} AND m.retired_at IS NULL
       ORDER BY m.update_state_since ASC LIMIT ${ATTENTION_LIMIT}`,
  ]);
  return { dark, rolledBack, failing, stuck, stuckAfterSeconds: STUCK_AFTER_SECONDS };
}

/** Versions over time: one point per snapshot, machines per version (all rings, or one). */
export async function versionHistory(db: PrismaClient, input: { hours: number; ring?: string }, clock: Clock = systemClock) {
  const since = new Date(clock.now().getTime() - input.hours * 3600 * 1000);
  const rows = input.ring
    ? await db.$queryRaw<{ at: Date; version: string | null; n: number }[]>`
        SELECT s.at, s.version, sum(s.machines)::int AS n FROM version_snapshots s JOIN rings r ON r.id = s.ring_id
         WHERE s.at >= ${since} AND r.name = ${input.ring} GROUP BY 1, 2 ORDER BY 1`
    : await db.$queryRaw<{ at: Date; version: string | null; n: number }[]>`
        SELECT at, version, sum(machines)::int AS n FROM version_snapshots
         WHERE at >= ${since} GROUP BY 1, 2 ORDER BY 1`;
  const versions = [...new Set(rows.map((r) => r.version ?? "not reported"))];
  const points = new Map<number, Record<string, number>>();
  for (const row of rows) {
    const point = points.get(row.at.getTime()) ?? {};
    point[row.version ?? "not reported"] = row.n;
    points.set(row.at.getTime(), point);
  }
  return {
    versions,
    points: [...points.entries()].map(([at, counts]) => ({ at: new Date(at), ...counts })),
  };
}
