// A machine's timeline read a page at a time, through the tRPC procedure, on
// real PostgreSQL: a machine with some 300 entries from all four sources, many
// of them at exactly one instant, walked with small pages — every entry once,
// in order, newest first, whatever the page size and wherever a page ends —
// and cursors that are not ones refused as bad input naming the field.
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { systemClock } from "../../server/clock";
import { type Database, openDatabase } from "../../server/db/client";
import { addRelease } from "../../server/releases/releases";
import { createRing } from "../../server/rings/rings";
import { createCaller } from "../../server/trpc/router";
import { hex } from "../helpers/agent-http";
import { freshDatabaseUrl, userPrincipal } from "../helpers/console";

const REF = "exampleos/x86_64/stable";
const MACHINE = "timeline-1";
const T0 = Date.parse("2026-11-20T10:00:00.000Z");
/** The instant most entries share, from every source. */
const CROWDED = new Date(T0 + 50_000);
/** Sources at one instant, in the timeline's order (see server/machines/timeline.ts). */
const RANK = { state: 0, event: 1, finished: 2, assigned: 3, operator: 4 } as const;

let db: Database;
let caller: ReturnType<typeof createCaller>;

type Expected = { key: string; at: number; rank: number; id: string | bigint };
let expected: Expected[];

/** Times with ties: `n` entries over a few seconds, some exactly on CROWDED. */
function timeOf(i: number, spread: number) {
  if (i % 3 === 0) return CROWDED;
  return new Date(T0 + Math.floor(i / 4) * spread);
}

const pad = (i: number) => String(i).padStart(4, "0");

beforeAll(async () => {
  db = await openDatabase({ databaseUrl: await freshDatabaseUrl(), dataDir: "/tmp", migrate: false });
  const prisma = db.prisma;
  const viewer = await prisma.user.create({
    data: { email: "viewer@example.com", role: "viewer", passwordHash: "x" },
    select: { id: true, email: true, role: true },
  });
  caller = createCaller({ db, clock: systemClock, principal: userPrincipal(viewer) });

  await createRing(prisma, cliActor, { name: "canary", branch: REF });
  await addRelease(prisma, cliActor, { ref: REF, checksum: hex("1"), version: "1" });
  const ring = await prisma.ring.findUniqueOrThrow({ where: { name: "canary" } });
  const release = await prisma.release.findFirstOrThrow({ where: { version: "1" } });
  const machine = await prisma.machine.create({
    data: { machineId: MACHINE, hostname: "timeline-1", backend: "sim", agentVersion: "1", ringId: ring.id, lastSeq: 42 },
  });
  // Another machine with entries at the same instants, which must not show.
  const other = await prisma.machine.create({ data: { machineId: "timeline-2", hostname: "timeline-2", backend: "sim", agentVersion: "1" } });

  const kinds = ["deployment", "update", "health"] as const;
  for (const machineId of [machine.id, other.id]) {
    await prisma.machineChange.createMany({
      data: Array.from({ length: 90 }, (_, i) => ({ machineId, at: timeOf(i, 1000), kind: kinds[i % 3], before: "a", after: `b${i}` })),
    });
    await prisma.agentEvent.createMany({
      data: Array.from({ length: 80 }, (_, i) => ({
        id: `${machineId === machine.id ? "e" : "x"}${pad(i)}`,
        machineId,
        eventId: `event-${i}`,
        type: "update_staged" as const,
        at: timeOf(i, 700),
        receivedAt: timeOf(i, 700),
      })),
    });
  }
  // Rollouts: one row each for the machine, assigned and (mostly) finished, some both on CROWDED.
  for (let i = 0; i < 30; i++) {
    const rollout = await prisma.rollout.create({ data: { releaseId: release.id, createdBy: "cli", state: "completed" } });
    const assignedAt = i % 4 === 0 ? CROWDED : new Date(T0 + i * 1300);
    const finishedAt = i % 5 === 4 ? null : i % 4 === 0 ? CROWDED : new Date(assignedAt.getTime() + (i % 2) * 3000);
    await prisma.rolloutMachine.create({
      data: {
        id: `r${pad(i)}`,
        rolloutId: rollout.id,
        machineId: machine.id,
        ringId: ring.id,
        wave: i % 3,
        step: finishedAt ? "succeeded" : "downloading",
        assignedAt,
        darkAt: new Date(assignedAt.getTime() + 1800_000),
        finishedAt,
      },
    });
  }
  await prisma.auditLog.createMany({
    data: [
      ...Array.from({ length: 50 }, (_, i) => ({
        id: `a${pad(i)}`,
        at: timeOf(i, 1100),
        actorLabel: "cli",
        action: "machine.pin",
        targetType: "machine",
        targetId: MACHINE,
        reason: `reason ${i}`,
      })),
      { id: "b0000", at: CROWDED, actorLabel: "cli", action: "machine.pin", targetType: "machine", targetId: "timeline-2" },
      { id: "b0001", at: CROWDED, actorLabel: "cli", action: "ring.create", targetType: "ring", targetId: MACHINE },
    ],
  });

  // What the timeline must be, from the rows themselves: newest first, then by source, then by id, descending.
  // (The ids chosen above are lowercase letters and digits of one length, which every collation orders as JavaScript does.)
  const key = (at: Date, source: string, id: string | bigint) => `${at.toISOString()}/${source}/${id}`;
  const rows = {
    changes: await prisma.machineChange.findMany({ where: { machineId: machine.id } }),
    events: await prisma.agentEvent.findMany({ where: { machineId: machine.id } }),
    rollouts: await prisma.rolloutMachine.findMany({ where: { machineId: machine.id } }),
    audit: await prisma.auditLog.findMany({ where: { targetType: "machine", targetId: MACHINE } }),
  };
  expected = [
    ...rows.changes.map((c) => ({ key: key(c.at, "state", c.id), at: c.at.getTime(), rank: RANK.state, id: c.id })),
    ...rows.events.map((e) => ({ key: key(e.receivedAt, "event", e.id), at: e.receivedAt.getTime(), rank: RANK.event, id: e.id })),
    ...rows.rollouts.flatMap((r) => [
      { key: key(r.assignedAt, "assigned", r.id), at: r.assignedAt.getTime(), rank: RANK.assigned, id: r.id },
      ...(r.finishedAt ? [{ key: key(r.finishedAt, "finished", r.id), at: r.finishedAt.getTime(), rank: RANK.finished, id: r.id }] : []),
    ]),
    ...rows.audit.map((a) => ({ key: key(a.at, "operator", a.id), at: a.at.getTime(), rank: RANK.operator, id: a.id })),
  ];
  expected.sort((x, y) => y.at - x.at || x.rank - y.rank || (x.id > y.id ? -1 : x.id < y.id ? 1 : 0));
}, 120_000);

afterAll(async () => {
  await db?.close();
});

async function walk(limit: number, between?: (page: number) => Promise<void>) {
  const pages: Awaited<ReturnType<typeof caller.machines.timeline>>[] = [];
  let cursor: string | null = null;
  do {
    const page = await caller.machines.timeline({ machineId: MACHINE, limit, cursor });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    expect(page.checkins.count).toBe(42);
    pages.push(page);
    cursor = page.nextCursor;
    if (cursor) expect(page.items).toHaveLength(limit);
    await between?.(pages.length);
  } while (cursor);
  return pages;
}

describe("machine timeline pages", () => {
  it("has the timestamps the cursor relies on: milliseconds, in every source", async () => {
    const { rows } = await db.pool.query<{ table_name: string; column_name: string; datetime_precision: number }>(
      `SELECT table_name, column_name, datetime_precision FROM information_schema.columns
        WHERE (table_name, column_name) IN (('machine_changes', 'at'), ('agent_events', 'received_at'),
              ('rollout_machines', 'assigned_at'), ('rollout_machines', 'finished_at'), ('audit_log', 'at'))`,
    );
    expect(rows).toHaveLength(5);
    for (const row of rows) expect(row.datetime_precision, `${row.table_name}.${row.column_name}`).toBe(3);
  });

  it("has more than 250 entries, many at one instant", () => {
    expect(expected.length).toBeGreaterThan(250);
    const crowded = expected.filter((e) => e.at === CROWDED.getTime());
    expect(crowded.length).toBeGreaterThan(60);
    expect(new Set(crowded.map((e) => e.rank)).size).toBe(5);
  });

  it("gives them all in one page when the page is large enough", async () => {
    const page = await caller.machines.timeline({ machineId: MACHINE, limit: 500 });
    expect(page.items.map((i) => i.key)).toEqual(expected.map((e) => e.key));
    expect(page.nextCursor).toBeNull();
  });

  for (const limit of [1, 7, 10, 33, 100]) {
    it(`walks pages of ${limit}: every entry exactly once, in order, newest first`, async () => {
      const pages = await walk(limit);
      const keys = pages.flatMap((p) => p.items.map((i) => i.key));
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys).toEqual(expected.map((e) => e.key));
      expect(pages).toHaveLength(Math.ceil(expected.length / limit));
      const times = pages.flatMap((p) => p.items.map((i) => i.at.getTime()));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      // Some page ends in the middle of entries that share one instant (the case the cursor is for).
      const split = pages.slice(1).filter((p, i) => p.items[0].at.getTime() === pages[i].items.at(-1)!.at.getTime());
      if (limit < 100) expect(split.length).toBeGreaterThan(0);
    });
  }

  it("keeps the older pages whole when newer entries arrive between pages", async () => {
    const machine = await db.prisma.machine.findUniqueOrThrow({ where: { machineId: MACHINE } });
    const pages = await walk(25, async (n) => {
      if (n > 3) return;
      const at = new Date(T0 + 86_400_000 + n);
      await db.prisma.machineChange.create({ data: { machineId: machine.id, at, kind: "health", before: "healthy", after: "unknown" } });
      await db.prisma.auditLog.create({ data: { at, actorLabel: "cli", action: "machine.unpin", targetType: "machine", targetId: MACHINE } });
    });
    expect(pages.flatMap((p) => p.items.map((i) => i.key))).toEqual(expected.map((e) => e.key));
    const newest = await caller.machines.timeline({ machineId: MACHINE, limit: 6 });
    expect(newest.items.map((i) => i.kind)).toEqual(["health", "machine.unpin", "health", "machine.unpin", "health", "machine.unpin"]);
  });

  it("gives an empty last page and no cursor past the oldest entry", async () => {
    const page = await caller.machines.timeline({ machineId: MACHINE, cursor: "2000-01-01T00:00:00.000Z/state/1" });
    expect(page.items).toEqual([]);
    expect(page.nextCursor).toBeNull();
    expect(page.checkins.count).toBe(42);
  });

  it("refuses what is not a cursor as bad input naming the field", async () => {
    const bad: unknown[] = [
      "nope",
      "",
      42,
      { at: CROWDED, id: "x" },
      "2026-02-30T10:00:00.000Z/state/1",
      "2026-11-20T10:00:00Z/state/1",
      "2026-11-20T10:00:00.000Z/rollout/r0001",
      "2026-11-20T10:00:00.000Z/state/e0001",
      "2026-11-20T10:00:00.000Z/state/99999999999999999999",
      "2026-11-20T10:00:00.000Z/state/9223372036854775808",
      "2026-11-20T10:00:00.000Z/event/a b",
      "0000-01-01T00:00:00.000Z/event/e0001",
      `2026-11-20T10:00:00.000Z/event/${"e".repeat(300)}`,
    ];
    for (const cursor of bad) {
      const outcome = await caller.machines.timeline({ machineId: MACHINE, limit: 5, cursor } as never).then(
        () => "ok",
        (error: unknown) => error,
      );
      expect(outcome, JSON.stringify(cursor)).toBeInstanceOf(TRPCError);
      expect((outcome as TRPCError).code, JSON.stringify(cursor)).toBe("BAD_REQUEST");
      expect((outcome as TRPCError).message, JSON.stringify(cursor)).toMatch(/^cursor: /);
    }
    // The largest machine_changes id is still a cursor.
    await expect(caller.machines.timeline({ machineId: MACHINE, cursor: "2026-11-20T10:00:00.000Z/state/9223372036854775807" })).resolves.toBeTruthy();
    await expect(caller.machines.timeline({ machineId: MACHINE, limit: 0 })).rejects.toThrow(/^limit: /);
    await expect(caller.machines.timeline({ machineId: "no-such-machine" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
