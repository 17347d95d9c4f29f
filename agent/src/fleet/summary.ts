// The fleet's one-line live summary.
import type { FleetStats, MemberStatus } from "./fleet.ts";

const STATUS_WORDS: Record<MemberStatus, string> = {
  starting: "starting",
  running: "running",
  stopped: "stopped",
  retired: "retired",
  refused: "refused",
  halted: "dark",
  failed: "failed",
};

/** e.g. `fleet: 50 agents (48 running, 2 dark) · 2.4 check-ins/s · 0 errors · idle 40 downloading 3 succeeded 5` */
export function formatSummary(now: FleetStats, before: FleetStats | null, seconds: number): string {
  const statuses = Object.entries(now.byStatus)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${STATUS_WORDS[status as MemberStatus]}`)
    .join(", ");
  const rate = (now.checkins - (before?.checkins ?? 0)) / seconds;
  const errors = now.errors - (before?.errors ?? 0);
  const states = Object.entries(now.byUpdateState)
    .filter(([, count]) => count > 0)
    .map(([state, count]) => `${state} ${count}`)
    .join(" ");
  return `fleet: ${now.agents} agents (${statuses}) · ${rate.toFixed(1)} check-ins/s · ${errors} errors · ${states || "no state yet"}`;
}
