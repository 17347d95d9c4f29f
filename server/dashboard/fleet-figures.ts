// The fleet as numbers for Prometheus (/metrics), read in the few statements
// the dashboard already uses: machines by ring, health and update state; per
// ring those offline, stuck, dark and rolled back; rollouts by state; every
// rollout under way with each ring's wave and machines per step. Labels are
// ring names, versions, ids of rollouts under way (at most one per ring) and
// states: never a machine's id.
import { type Clock, systemClock } from "../clock";
import type { PrismaClient } from "../db/client";
import { activeRolloutProgress, countRolloutsByState } from "../rollouts/rollouts";
import type { HealthStatus, UpdateState } from "../vocabulary";
import { fleetCounts } from "./dashboard";
import { countLiveness, type LivenessCounts } from "./liveness";

/** The `ring` label of machines in no ring (not a valid ring name, so never one). */
export const NO_RING = "(none)";

export interface RingFigures {
  ring: string;
  /** Not checked in for three of their ring's check-in intervals. */
  offline: number;
  /** Mid-update for longer than STUCK_AFTER_SECONDS. */
  stuck: number;
  /** Dark in a rollout under way. */
  dark: number;
  /** Reporting that they rolled back. */
  rolledBack: number;
}

/** The figures; offline and stuck counted now, or taken from `liveness`, a console process's recent count (server/dashboard/liveness.ts). */
export async function fleetFigures(db: PrismaClient, clock: Clock = systemClock, liveness: LivenessCounts | null = null) {
  const now = clock.now();
  const [counts, rings, rolloutsByState, activeRollouts] = await Promise.all([
    fleetCounts(db, null, liveness ? liveness.read() : countLiveness(db, clock)),
    db.ring.findMany({ orderBy: { position: "asc" }, select: { name: true } }),
    countRolloutsByState(db),
    activeRolloutProgress(db),
  ]);

  // Every ring has its figures, zeros included, so that an alert on one sees it from the start.
  const byRing = new Map<string, RingFigures>(rings.map((r) => [r.name, { ring: r.name, offline: 0, stuck: 0, dark: 0, rolledBack: 0 }]));
  const ringOf = (name: string) => {
    const entry = byRing.get(name) ?? { ring: name, offline: 0, stuck: 0, dark: 0, rolledBack: 0 };
    byRing.set(name, entry);
    return entry;
  };
  const machines = new Map<string, { ring: string; health: HealthStatus; updateState: UpdateState; n: number }>();
  for (const row of counts.groups) {
    const ring = row.ring.name ?? NO_RING;
    const key = `${ring}\0${row.health}\0${row.update}`;
    const entry = machines.get(key) ?? { ring, health: row.health, updateState: row.update, n: 0 };
    entry.n += row.n;
    machines.set(key, entry);
    const figures = ringOf(ring);
    figures.offline += row.n;
    if (row.update === "rolled_back") figures.rolledBack += row.n;
  }
  for (const row of counts.liveness) {
    const figures = ringOf(row.ring.name ?? NO_RING);
    // A count taken a little before the kept counts: never fewer than none offline.
    figures.offline = Math.max(0, figures.offline - row.online);
    figures.stuck += row.stuck;
  }
  for (const rollout of activeRollouts) for (const ring of rollout.rings) ringOf(ring.name).dark += ring.steps.dark;

  return { at: now, machines: [...machines.values()], rings: [...byRing.values()], rolloutsByState, activeRollouts };
}

export type FleetFigures = Awaited<ReturnType<typeof fleetFigures>>;
