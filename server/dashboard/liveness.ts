// Per ring, the machines online (seen within three of their ring's check-in
// intervals) and stuck (mid-update for longer than STUCK_AFTER_SECONDS): the
// dashboard's and /metrics' only counts that depend on the time, so that no
// kept count (machine_counts) can answer them. They are counted by one scan
// of machines_counted, the narrow copy of the machines' counted columns: a
// millisecond at a thousand machines, 300 to 500 ms at a million on two
// shared cores (`BENCH_ONLY=pages BENCH_PAGE_MACHINES=1000000 npm run bench`).
//
// A console process answers the dashboard and /metrics from its last count
// while that count is young, and says when it was taken (`at`): how young
// depends on what the count costs: not at all when it took under
// COUNT_AGAIN_UNDER_MS (up to about a hundred thousand machines every answer
// is counted afresh), else 25 times the last scan's time, at most
// FRESH_AT_MOST_MS: at a million machines, 10 seconds, so that the scan takes at most about 4 % of a core however many
// operators watch. A count older than that is still answered while a new one
// is taken in the background (one at a time), up to STALE_AT_MOST_MS; older
// than that (nobody asked for a minute) the answer waits for a new count.
//
// Why an operator can take a figure up to a minute old here: "online" is
// itself a figure with minutes of slack (a machine is offline only after three
// check-in intervals, 15 minutes at the default 5-minute interval), "stuck"
// after 30 minutes in one step; every other count on the page (machines by
// ring, version, health and update state) is kept exactly and read live, and
// so are the lists of machines to look at. The alternatives cost every
// check-in: an index on last_seen_at makes every last-seen flush a non-HOT
// update of the copy, and buckets by last-seen time are one more delta per
// group in every flush.
import { DEFAULT_CHECK_IN_SECONDS } from "../agents/desired";
import type { Clock } from "../clock";
import { Prisma, type PrismaClient } from "../db/client";
import { OFFLINE_AFTER_INTERVALS } from "../machines/machines";
import { BUSY_UPDATE_STATES, sqlList } from "../vocabulary";

/** A machine mid-update for longer than this is stuck. */
export const STUCK_AFTER_SECONDS = 30 * 60;
/** The update steps a machine should not stay in for long. */
export const STUCK_STATES = Prisma.raw(sqlList(BUSY_UPDATE_STATES).slice(1, -1));

/** A count that took less than this is never answered again: every answer counts afresh. */
const COUNT_AGAIN_UNDER_MS = 50;
/** A count is answered without a new one for this many times the time it took to take… */
const FRESH_PER_SCAN = 25;
/** …and never longer than this. */
const FRESH_AT_MOST_MS = 10_000;
/** A count older than this is not answered: the answer waits for a new one. */
const STALE_AT_MOST_MS = 60_000;

export interface RingLiveness {
  ringId: string | null;
  online: number;
  stuck: number;
}

export interface Liveness {
  /** When the machines were counted (the clock's time). */
  at: Date;
  rows: RingLiveness[];
}

/**
 * Counts every ring's machines online and stuck now, in one scan of
 * machines_counted, liveness counted against each ring's own interval (a
 * CASE over the few rings), without parallel workers (on two cores, starting
 * them costs more than they save: `BENCH_ONLY=pages npm run bench` measures
 * both).
 */
export async function countLiveness(db: PrismaClient, clock: Clock): Promise<Liveness> {
  const now = clock.now();
  const rings = await db.ring.findMany({ select: { id: true, checkInIntervalSeconds: true } });
  const liveSince = (intervalSeconds: number) => new Date(now.getTime() - OFFLINE_AFTER_INTERVALS * intervalSeconds * 1000);
  const stuckBefore = new Date(now.getTime() - STUCK_AFTER_SECONDS * 1000);
  // A ring made since that read has the default interval.
  const otherwise = Prisma.sql`${liveSince(DEFAULT_CHECK_IN_SECONDS)}::timestamptz`;
  const since = rings.length
    ? Prisma.sql`CASE m.ring_id ${Prisma.join(
        rings.map((r) => Prisma.sql`WHEN ${r.id} THEN ${liveSince(r.checkInIntervalSeconds)}::timestamptz`),
        " ",
      )} ELSE ${otherwise} END`
    : otherwise;
  const [, rows] = await db.$transaction([
    db.$executeRawUnsafe("SET LOCAL max_parallel_workers_per_gather = 0"),
    db.$queryRaw<RingLiveness[]>`
      SELECT m.ring_id AS "ringId",
             count(*) FILTER (WHERE m.last_seen_at > ${since})::int AS online,
             count(*) FILTER (WHERE m.update_state IN (${STUCK_STATES}) AND m.update_state_since < ${stuckBefore})::int AS stuck
        FROM machines_counted m
       WHERE NOT m.retired
       GROUP BY m.ring_id`,
  ]);
  return { at: now, rows };
}

/** One console process's last count, answered while it is young (see the top of this file). */
export class LivenessCounts {
  private last: { liveness: Liveness; freshMs: number } | null = null;
  private counting: Promise<Liveness> | null = null;
  private readonly limits: { countAgainUnderMs: number; freshPerScan: number; freshAtMostMs: number; staleAtMostMs: number };

  constructor(
    private readonly db: PrismaClient,
    private readonly clock: Clock,
    /** The limits above (tests change them). */
    limits: Partial<LivenessCounts["limits"]> = {},
  ) {
    this.limits = {
      countAgainUnderMs: COUNT_AGAIN_UNDER_MS,
      freshPerScan: FRESH_PER_SCAN,
      freshAtMostMs: FRESH_AT_MOST_MS,
      staleAtMostMs: STALE_AT_MOST_MS,
      ...limits,
    };
  }

  /** The last count if young enough, else a new one; an older one (under a minute) while a new one is taken. */
  read(): Promise<Liveness> {
    const last = this.last;
    const age = last ? this.clock.now().getTime() - last.liveness.at.getTime() : Number.POSITIVE_INFINITY;
    // A clock set back (tests) makes a count from the future: count again.
    if (last && age >= 0 && age <= last.freshMs) return Promise.resolve(last.liveness);
    const counting = this.count();
    if (last && last.freshMs >= 0 && age >= 0 && age <= this.limits.staleAtMostMs) {
      counting.catch(() => {});
      return Promise.resolve(last.liveness);
    }
    return counting;
  }

  private count(): Promise<Liveness> {
    if (this.counting) return this.counting;
    const started = performance.now();
    const counting = countLiveness(this.db, this.clock)
      .then((liveness) => {
        const took = performance.now() - started;
        const { countAgainUnderMs, freshPerScan, freshAtMostMs } = this.limits;
        const freshMs = took < countAgainUnderMs ? -1 : Math.min(freshAtMostMs, freshPerScan * took);
        if (!this.last || liveness.at >= this.last.liveness.at) this.last = { liveness, freshMs };
        return liveness;
      })
      .finally(() => {
        this.counting = null;
      });
    this.counting = counting;
    return counting;
  }
}

const processCounts = new WeakMap<PrismaClient, LivenessCounts>();

/** This process's liveness counts of a database (one per client, so one per console process and database). */
export function livenessCounts(db: PrismaClient, clock: Clock): LivenessCounts {
  let counts = processCounts.get(db);
  if (!counts) {
    counts = new LivenessCounts(db, clock);
    processCounts.set(db, counts);
  }
  return counts;
}
