// One machine's timeline: everything that happened to it, newest first —
// changes of its reported state, its agent's events, rollout steps and
// operator actions — plus a summary of its check-ins. Read a page at a time:
// each page ends with a cursor for the next, older one.
//
// The order and the cursor. Entries are in one total order: by time, newest
// first; at one time by source, in the order of RANKS; within one source by
// the row's id, descending (as PostgreSQL orders the column). Every entry has
// one place in it — (time, source, row id) — because each row gives at most
// one entry of each source (a rollout_machines row gives an `assigned` and a
// `finished` entry, two sources). A page's cursor is the place of its last
// (oldest) entry, and the next page is the entries strictly after that place.
// For each source that is a condition on its own rows, in SQL, using its
// (machine, time) index:
//   - a source ranked before the cursor's: time < cursor time (at the cursor's
//     time its entries came before the cursor, so were on earlier pages);
//   - a source ranked after it: time <= cursor time;
//   - the cursor's own source: time < cursor time, or the same time and id <
//     cursor id (and ORDER BY time DESC, id DESC agrees with that `<`: both
//     are PostgreSQL's, with the column's own collation).
// Each source returns its first `limit + 1` rows after the cursor; those
// hold the first `limit + 1` entries of the merged order, so the page is
// exact, and there is something older exactly when more than `limit` came
// back. The merge compares times and ranks only, and keeps the order SQL
// gave within a source (a stable sort), so ids are never compared in
// JavaScript. So entries that share one time are neither lost nor repeated
// at a page boundary. The times are all timestamptz(3): milliseconds, which
// a JavaScript Date (and the cursor) holds exactly.
import { z } from "zod";
import type { Prisma, PrismaClient } from "../db/client";
import { notFound } from "../errors";
import type { TimelineItem } from "./schemas";

/** Sources of entries, in their order at one time. */
const RANKS = ["state", "event", "finished", "assigned", "operator"] as const;
type RankName = (typeof RANKS)[number];
const RANK = Object.fromEntries(RANKS.map((name, i) => [name, i])) as Record<RankName, number>;

export interface TimelineCursor {
  at: Date;
  rank: number;
  id: string;
}

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\/(state|event|finished|assigned|operator)\/([A-Za-z0-9_-]{1,64})$/;
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const MAX_BIGINT = 2n ** 63n - 1n;

function cursorOf(at: Date, source: RankName, id: string | bigint) {
  return `${at.toISOString()}/${source}/${id}`;
}

/** A cursor as `nextCursor` and the items' `key` give it, or null when it is not one. */
export function parseTimelineCursor(value: string): TimelineCursor | null {
  const match = CURSOR.exec(value);
  if (!match) return null;
  const [, time, source, id] = match as unknown as [string, string, RankName, string];
  const at = new Date(time);
  // Round trip: no 30 February, and a year PostgreSQL can store.
  if (Number.isNaN(at.getTime()) || at.toISOString() !== time || at.getTime() < 0 || at.getTime() > MAX_TIME) return null;
  // machine_changes ids are bigints.
  if (source === "state" && !(/^\d{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT)) return null;
  return { at, rank: RANK[source], id };
}

/** The `cursor` input of `machines.timeline`: an item's `key` or a page's `nextCursor`. */
export const timelineCursorSchema = z
  .string()
  .max(200, "at most 200 characters")
  .transform((value, ctx) => {
    const cursor = parseTimelineCursor(value);
    if (!cursor) {
      ctx.addIssue({ code: "custom", message: "expected the nextCursor of an earlier page" });
      return z.NEVER;
    }
    return cursor;
  });

/**
 * The conditions (for `AND`) on one source's rows that keep the entries after
 * the cursor; see the comment at the top. `column` is the source's time
 * column; its rows at the cursor's time are kept when their id is below the
 * cursor's (`id` turns the cursor's id into the column's type).
 */
function afterCursor<Where>(
  cursor: TimelineCursor | null | undefined,
  rank: number,
  column: Extract<keyof Where, string>,
  id: (value: string) => string | bigint = (value) => value,
): Where[] {
  if (!cursor) return [];
  const time = (filter: { lt: Date } | { lte: Date }) => ({ [column]: filter }) as Where;
  if (rank < cursor.rank) return [time({ lt: cursor.at })];
  if (rank > cursor.rank) return [time({ lte: cursor.at })];
  const tie = { [column]: cursor.at, id: { lt: id(cursor.id) } } as Where;
  // The first condition is implied by the second; it lets the (machine, time) index bound the scan.
  return [time({ lte: cursor.at }), { OR: [time({ lt: cursor.at }), tie] } as Where];
}

export async function machineTimeline(
  db: PrismaClient,
  input: { machineId: string; limit?: number; cursor?: TimelineCursor | null },
) {
  const limit = Math.max(1, Math.min(input.limit ?? 100, 500));
  const take = limit + 1;
  const machine = await db.machine.findUnique({
    where: { machineId: input.machineId },
    select: { id: true, enrolledAt: true, lastSeenAt: true, lastSeq: true },
  });
  if (!machine) throw notFound(`machine ${input.machineId}`);
  const cursor = input.cursor;
  const rolloutSelect = {
    id: true,
    rolloutId: true,
    wave: true,
    step: true,
    assignedAt: true,
    finishedAt: true,
    detail: true,
    rollout: { select: { release: { select: { version: true } } } },
  } as const;
  const [changes, events, finished, assigned, audit] = await Promise.all([
    db.machineChange.findMany({
      where: {
        machineId: machine.id,
        AND: afterCursor<Prisma.MachineChangeWhereInput>(cursor, RANK.state, "at", BigInt),
      },
      orderBy: [{ at: "desc" }, { id: "desc" }],
      take,
      select: { id: true, at: true, kind: true, before: true, after: true, detail: true },
    }),
    db.agentEvent.findMany({
      where: {
        machineId: machine.id,
        AND: afterCursor<Prisma.AgentEventWhereInput>(cursor, RANK.event, "receivedAt"),
      },
      orderBy: [{ receivedAt: "desc" }, { id: "desc" }],
      take,
      select: { id: true, receivedAt: true, at: true, type: true, detail: true, checksum: true, ref: true },
    }),
    db.rolloutMachine.findMany({
      where: {
        machineId: machine.id,
        finishedAt: { not: null },
        AND: afterCursor<Prisma.RolloutMachineWhereInput>(cursor, RANK.finished, "finishedAt"),
      },
      orderBy: [{ finishedAt: "desc" }, { id: "desc" }],
      take,
      select: rolloutSelect,
    }),
    db.rolloutMachine.findMany({
      where: {
        machineId: machine.id,
        AND: afterCursor<Prisma.RolloutMachineWhereInput>(cursor, RANK.assigned, "assignedAt"),
      },
      orderBy: [{ assignedAt: "desc" }, { id: "desc" }],
      take,
      select: rolloutSelect,
    }),
    db.auditLog.findMany({
      where: {
        targetType: "machine",
        targetId: input.machineId,
        AND: afterCursor<Prisma.AuditLogWhereInput>(cursor, RANK.operator, "at"),
      },
      orderBy: [{ at: "desc" }, { id: "desc" }],
      take,
      select: { id: true, at: true, action: true, actorLabel: true, reason: true, before: true, after: true },
    }),
  ]);
  const rollout = (r: (typeof assigned)[number]) => ({
    source: "rollout" as const,
    rolloutId: r.rolloutId,
    release: r.rollout.release.version,
    wave: r.wave + 1,
  });
  // In rank order, each in the order SQL gave it.
  const ranked: { rank: number; item: TimelineItem }[] = [
    ...changes.map((c) => ({
      rank: RANK.state,
      item: {
        key: cursorOf(c.at, "state", c.id),
        at: c.at,
        source: "state" as const,
        kind: c.kind,
        before: c.before,
        after: c.after,
        detail: c.detail,
      },
    })),
    ...events.map((e) => ({
      rank: RANK.event,
      item: {
        key: cursorOf(e.receivedAt, "event", e.id),
        at: e.receivedAt,
        source: "event" as const,
        // The protocol's spelling: app_rolled_back is app.rolled-back.
        kind: e.type.replace("_", ".").replace(/_/g, "-"),
        detail: e.detail,
        checksum: e.checksum,
        ref: e.ref,
        agentTime: e.at,
      },
    })),
    ...finished.map((r) => ({
      rank: RANK.finished,
      item: { ...rollout(r), key: cursorOf(r.finishedAt!, "finished", r.id), at: r.finishedAt!, kind: r.step, detail: r.detail },
    })),
    ...assigned.map((r) => ({
      rank: RANK.assigned,
      item: { ...rollout(r), key: cursorOf(r.assignedAt, "assigned", r.id), at: r.assignedAt, kind: "assigned", detail: null },
    })),
    ...audit.map((a) => ({
      rank: RANK.operator,
      item: {
        key: cursorOf(a.at, "operator", a.id),
        at: a.at,
        source: "operator" as const,
        kind: a.action,
        actor: a.actorLabel,
        reason: a.reason,
        before: a.before,
        after: a.after,
      },
    })),
  ];
  // Stable: entries of one source at one time stay in SQL's id order.
  ranked.sort((x, y) => y.item.at.getTime() - x.item.at.getTime() || x.rank - y.rank);
  const items = ranked.slice(0, limit).map((r) => r.item);
  return {
    checkins: {
      enrolledAt: machine.enrolledAt,
      lastSeenAt: machine.lastSeenAt,
      /** Check-ins since the machine last enrolled (its agent's seq). */
      count: Math.max(0, Number(machine.lastSeq)),
    },
    items,
    /** The cursor of the next, older page; null when nothing is older. */
    nextCursor: ranked.length > limit ? items[items.length - 1].key : null,
  };
}
