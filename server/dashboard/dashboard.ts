// The dashboard's answers, computed in SQL so that they stay fast at 100,000
// machines: machines by health, update state and liveness, versions per
// ring, active rollouts, and what needs attention.
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import { Prisma, type PrismaClient } from "../db/client";
import { listRollouts } from "../rollouts/rollouts";
import { scopeRingIds } from "../auth/scope";
import { ACTIVE_ROLLOUT_STATES } from "../vocabulary";
import { countMachineGroups } from "../machines/counts";
import { countLiveness, type Liveness, type LivenessCounts, STUCK_AFTER_SECONDS, STUCK_STATES } from "./liveness";

const ATTENTION_LIMIT = 25;

/** A SQL condition on `m.ring_id`: within the scope's rings (true for an unscoped caller). */
function inScope(ringIds: string[] | null) {
  return ringIds === null ? Prisma.sql`TRUE` : Prisma.sql`m.ring_id = ANY(${ringIds}::text[])`;
}

/**
 * The dashboard: the whole fleet, or the rings of `scope` only. Online and
 * stuck are counted now, or taken from `liveness`, a console process's
 * recent count (server/dashboard/liveness.ts), as `livenessAt` says.
 */
export async function fleetSummary(
  db: PrismaClient,
  clock: Clock = systemClock,
  scope: readonly string[] | null = null,
  liveness: LivenessCounts | null = null,
) {
  const now = clock.now();
  const stuckBefore = new Date(now.getTime() - STUCK_AFTER_SECONDS * 1000);
  const ringIds = await scopeRingIds(db, scope);
  const [counts, rollouts, attention] = await Promise.all([
    fleetCounts(db, ringIds, liveness ? liveness.read() : countLiveness(db, clock)),
    listRollouts(db, { states: [...ACTIVE_ROLLOUT_STATES], pageSize: 20 }, scope).then((r) => r.rows),
    needsAttention(db, stuckBefore, ringIds),
  ]);

  const byHealth: Record<string, number> = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
  const byUpdateState: Record<string, number> = {};
  const rings = new Map<string, { ring: string | null; position: number; versions: Record<string, number>; total: number; online: number }>();
  const ringOf = (ring: { name: string | null; position: number | null }) => {
    const key = ring.name ?? "";
    const entry = rings.get(key) ?? { ring: ring.name, position: ring.position ?? Number.MAX_SAFE_INTEGER, versions: {}, total: 0, online: 0 };
    rings.set(key, entry);
    return entry;
  };
  let total = 0;
  for (const row of counts.groups) {
    byHealth[row.health] = (byHealth[row.health] ?? 0) + row.n;
    byUpdateState[row.update] = (byUpdateState[row.update] ?? 0) + row.n;
    total += row.n;
    const entry = ringOf(row.ring);
    const version = row.version ?? "not reported";
    entry.versions[version] = (entry.versions[version] ?? 0) + row.n;
    entry.total += row.n;
  }
  let online = 0;
  let stuck = 0;
  for (const row of counts.liveness) {
    // A count taken a little before the kept counts: never more online than there are machines.
    const entry = ringOf(row.ring);
    const ringOnline = Math.min(row.online, Math.max(0, entry.total - entry.online));
    online += ringOnline;
    stuck += row.stuck;
    entry.online += ringOnline;
  }
  const versionsByRing = [...rings.values()]
    .sort((a, b) => a.position - b.position)
    .map(({ position: _position, ...ring }) => ring);
  return {
    serverTime: now,
    livenessAt: counts.livenessAt,
    total,
    online,
    offline: total - online,
    byHealth,
    byUpdateState,
    versionsByRing,
    activeRollouts: rollouts,
    attention: { ...attention, stuckCount: stuck },
  };
}

/**
 * The page's counts: machines per ring, version, health and update state
 * summed from machine_counts (server/machines/counts.ts: a few hundred rows
 * at any fleet size), and per ring those online and those stuck, which
 * depend on the time and so are counted from the machines' last-seen and
 * update times (`liveness`, taken at `livenessAt`), for the rings in scope.
 */
export async function fleetCounts(db: PrismaClient, ringIds: string[] | null, liveness: Promise<Liveness>) {
  const [rings, groups, live] = await Promise.all([
    db.ring.findMany({ select: { id: true, name: true, position: true } }),
    countMachineGroups(db, { ringIds }),
    liveness,
  ]);
  const byId = new Map(rings.map((r) => [r.id, r]));
  // A ring deleted since its machines were counted: counted with no ring, as its machines now are.
  const ringOf = (id: string | null) => {
    const ring = id === null ? undefined : byId.get(id);
    return { name: ring?.name ?? null, position: ring?.position ?? null };
  };
  const wanted = ringIds === null ? () => true : (id: string | null) => id !== null && ringIds.includes(id);
  return {
    groups: groups.map(({ ringId, ...row }) => ({ ...row, ring: ringOf(ringId) })),
    liveness: live.rows.filter((row) => wanted(row.ringId)).map(({ ringId, ...row }) => ({ ...row, ring: ringOf(ringId) })),
    livenessAt: live.at,
  };
}

type AttentionRow = { machineId: string; hostname: string; ring: string | null; since: Date | null; detail: string | null };
type DarkRow = AttentionRow & { total: number };

/**
 * The machines an operator should look at, newest first, at most 25 of each
 * kind, every list read through an index (a few milliseconds at 100,000
 * machines). The page's counts say how many there are of each; dark
 * machines are counted with their list.
 */
async function needsAttention(db: PrismaClient, stuckBefore: Date, ringIds: string[] | null) {
  const scoped = inScope(ringIds);
  const byUpdateState = (state: "rolled-back" | "failed") => db.$queryRaw<AttentionRow[]>`
      SELECT m.machine_id AS "machineId", m.hostname, r.name AS ring, m.update_state_since AS since, m.update_error AS detail
        FROM machines m LEFT JOIN rings r ON r.id = m.ring_id
       WHERE m.update_state = ${state}::"UpdateState" AND m.retired_at IS NULL AND ${scoped}
       ORDER BY m.update_state_since DESC LIMIT ${ATTENTION_LIMIT}`;
  const [dark, rolledBack, failed, failing, stuck] = await Promise.all([
    // All of them counted (few: the rows of one partial index) before the newest are kept.
    db.$queryRaw<DarkRow[]>`
      SELECT m.machine_id AS "machineId", m.hostname, r.name AS ring, rm.finished_at AS since, rm.detail,
             count(*) OVER ()::int AS total
        FROM rollout_machines rm
        JOIN rollouts ro ON ro.id = rm.rollout_id AND ro.state = ANY(${[...ACTIVE_ROLLOUT_STATES]}::"RolloutState"[])
        JOIN machines m ON m.id = rm.machine_id AND m.retired_at IS NULL
        LEFT JOIN rings r ON r.id = m.ring_id
       WHERE rm.step = 'dark' AND ${scoped}
       ORDER BY rm.finished_at DESC NULLS LAST LIMIT ${ATTENTION_LIMIT}`,
    byUpdateState("rolled-back"),
    byUpdateState("failed"),
    // The failing checks' names are read only for the machines listed.
    db.$queryRaw<AttentionRow[]>`
      SELECT m.machine_id AS "machineId", m.hostname, r.name AS ring, m.health_status_since AS since,
             (SELECT string_agg(c->>'name', ', ') FROM jsonb_array_elements(m.health_checks) c WHERE c->>'status' = 'fail') AS detail
        FROM machines m LEFT JOIN rings r ON r.id = m.ring_id
       WHERE m.health_status = 'unhealthy' AND m.retired_at IS NULL AND ${scoped}
       ORDER BY m.health_status_since DESC LIMIT ${ATTENTION_LIMIT}`,
    // Each step's oldest through its own index range, then the oldest of those.
    db.$queryRaw<AttentionRow[]>`
      SELECT m.machine_id AS "machineId", m.hostname, r.name AS ring, m.update_state_since AS since,
             m.update_state::text AS detail
        FROM unnest(ARRAY[${STUCK_STATES}]::"UpdateState"[]) AS s(state)
        CROSS JOIN LATERAL (
          SELECT id FROM machines m
           WHERE update_state = s.state AND update_state_since < ${stuckBefore} AND retired_at IS NULL AND ${scoped}
           ORDER BY update_state_since ASC LIMIT ${ATTENTION_LIMIT}) AS pick
        JOIN machines m ON m.id = pick.id LEFT JOIN rings r ON r.id = m.ring_id
       ORDER BY m.update_state_since ASC LIMIT ${ATTENTION_LIMIT}`,
  ]);
  return {
    dark: dark.map(({ total: _total, ...row }) => row),
    darkCount: dark[0]?.total ?? 0,
    rolledBack,
    failed,
    failing,
    stuck,
    stuckAfterSeconds: STUCK_AFTER_SECONDS,
  };
}

/** Versions over time: one point per snapshot, machines per version (all rings, or one). */
export async function versionHistory(
  db: PrismaClient,
  input: { hours: number; ring?: string },
  clock: Clock = systemClock,
  scope: readonly string[] | null = null,
) {
  const since = new Date(clock.now().getTime() - input.hours * 3600 * 1000);
  const ringIds = await scopeRingIds(db, scope);
  if (input.ring && scope && !scope.includes(input.ring)) return { versions: [], points: [] };
  const rows = input.ring
    ? await db.$queryRaw<{ at: Date; version: string | null; n: number }[]>`
        SELECT s.at, s.version, sum(s.machines)::int AS n FROM version_snapshots s JOIN rings r ON r.id = s.ring_id
         WHERE s.at >= ${since} AND r.name = ${input.ring} GROUP BY 1, 2 ORDER BY 1`
    : await db.$queryRaw<{ at: Date; version: string | null; n: number }[]>`
        SELECT at, version, sum(machines)::int AS n FROM version_snapshots
         WHERE at >= ${since} AND (${ringIds}::text[] IS NULL OR ring_id = ANY(${ringIds}::text[])) GROUP BY 1, 2 ORDER BY 1`;
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
