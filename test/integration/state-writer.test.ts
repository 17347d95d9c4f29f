// The check-ins' group commit (server/agents/state-writer.ts) on real
// PostgreSQL: writes that arrive while one is under way go together in one
// statement and each keeps the single write's rules; of one machine's writes
// in a batch only the highest seq applies; a row locked elsewhere does not
// hold up the batch (it is written alone once free); a write the database
// refuses fails only its own caller, and a batch that cannot be written at
// all fails every caller, never a silent drop.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../server/db/client";
import { type StateWrite, StateWriter } from "../../server/agents/state-writer";
import { hex } from "../helpers/agent-http";
import { freshDatabaseUrl } from "../helpers/console";

let db: Database;
let databaseUrl: string;
const T0 = Date.parse("2026-11-30T10:00:00.000Z");

beforeAll(async () => {
  databaseUrl = await freshDatabaseUrl();
  db = await openDatabase({ databaseUrl, dataDir: "/tmp", migrate: false });
});

afterAll(async () => {
  await db?.close();
});

async function machines(prefix: string, n: number, data: Record<string, unknown> = {}) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = await db.prisma.machine.create({
      data: { machineId: `${prefix}-${i}`, hostname: `${prefix}-${i}`, backend: "sim", agentVersion: "1", lastSeq: 0, ...data },
      select: { id: true },
    });
    ids.push(m.id);
  }
  return ids;
}

function write(machineId: string, seq: number, over: Partial<StateWrite> = {}): StateWrite {
  return {
    machineId,
    seq,
    at: new Date(T0 + seq * 1000),
    stateHash: `hash-${seq}`,
    agentVersion: "1.2.0",
    bootId: "boot-1",
    deployments: JSON.stringify([{ checksum: hex("b"), ref: "os/stable", version: "2", booted: true, staged: false, pinned: false }]),
    bootedChecksum: hex("b"),
    bootedVersion: "2",
    bootedRef: "os/stable",
    updateState: "idle",
    updateTarget: null,
    updateProgress: null,
    updateError: null,
    healthStatus: seq % 2 === 0 ? "degraded" : "healthy",
    healthChecks: JSON.stringify([{ name: "sshd.service", status: seq % 2 === 0 ? "fail" : "pass" }]),
    healthDetail: seq % 2 === 0 ? "failing: sshd.service" : null,
    ...over,
  };
}

async function row(id: string) {
  return db.prisma.machine.findUniqueOrThrow({
    where: { id },
    select: {
      lastSeq: true,
      stateHash: true,
      stateVersion: true,
      healthStatus: true,
      healthStatusSince: true,
      updateState: true,
      updateStateSince: true,
      bootedChecksum: true,
      agentVersion: true,
      lastSeenAt: true,
      rollbackTo: true,
      slotRefusedTarget: true,
    },
  });
}

async function timeline(id: string) {
  return db.prisma.machineChange.findMany({
    where: { machineId: id },
    orderBy: [{ at: "asc" }, { id: "asc" }],
    select: { kind: true, before: true, after: true, detail: true, at: true },
  });
}

describe("the check-ins' state writer", () => {
  it("writes the machines that arrive together in one statement, each by the single write's rules", async () => {
    const ids = await machines("many", 40);
    // A rollback to the deployment it now boots (cleared), one held (kept); slots refused for a target (kept while it stays).
    await db.prisma.machine.update({ where: { id: ids[0] }, data: { rollbackTo: { checksum: hex("b"), ref: "os/stable", version: "2", hold: false }, slotRefusedTarget: hex("c") } });
    await db.prisma.machine.update({ where: { id: ids[1] }, data: { rollbackTo: { checksum: hex("b"), ref: "os/stable", version: "2", hold: true }, slotRefusedTarget: hex("c") } });
    const writer = new StateWriter(db.agent.pool, { concurrency: 1 });
    const results = await Promise.all(
      ids.map((id, i) =>
        writer.write(write(id, 2, i === 0 ? { updateState: "downloading", updateTarget: hex("c"), updateProgress: 0.5 } : {})),
      ),
    );
    expect(results).toEqual(ids.map(() => true));
    // The first went alone at once; the 39 that came meanwhile, together.
    expect(writer.stats).toEqual({ batches: 1, singles: 1 });

    const rows = await Promise.all(ids.map(row));
    for (const r of rows) {
      expect(r).toMatchObject({ lastSeq: 2n, stateHash: "hash-2", healthStatus: "degraded", bootedChecksum: hex("b"), agentVersion: "1.2.0" });
      expect(r.healthStatusSince).toEqual(new Date(T0 + 2000));
      expect(r.updateStateSince).toEqual(new Date(T0 + 2000));
      expect(r.lastSeenAt).toEqual(new Date(T0 + 2000));
    }
    expect(new Set(rows.map((r) => r.stateVersion)).size).toBe(ids.length);
    expect(rows[0]).toMatchObject({ updateState: "downloading", rollbackTo: null, slotRefusedTarget: hex("c") });
    expect(rows[1]).toMatchObject({ updateState: "idle", rollbackTo: { hold: true }, slotRefusedTarget: null });

    expect((await timeline(ids[0])).map(({ kind, before, after, detail }) => ({ kind, before, after, detail }))).toEqual([
      { kind: "deployment", before: "", after: `2 ${hex("b").slice(0, 12)}`, detail: null },
      { kind: "update", before: "idle", after: "downloading", detail: null },
      { kind: "health", before: "unknown", after: "degraded", detail: "failing: sshd.service" },
    ]);
    expect((await timeline(ids[5])).map((c) => c.kind)).toEqual(["deployment", "health"]);

    // The next writes: only what changed reaches the timeline; a seq the row holds already is refused.
    const again = await Promise.all([writer.write(write(ids[5], 2)), writer.write(write(ids[5], 1)), writer.write(write(ids[6], 3)), writer.write(write(ids[7], 3))]);
    expect(again).toEqual([false, false, true, true]);
    expect((await timeline(ids[6])).map(({ kind, before, after, detail }) => ({ kind, before, after, detail }))).toEqual([
      { kind: "deployment", before: "", after: `2 ${hex("b").slice(0, 12)}`, detail: null },
      { kind: "health", before: "unknown", after: "degraded", detail: "failing: sshd.service" },
      { kind: "health", before: "degraded", after: "healthy", detail: null },
    ]);
    expect(await row(ids[5])).toMatchObject({ lastSeq: 2n, healthStatus: "degraded" });
  });

  it("applies only the highest seq of one machine's writes in a batch; the older ones are refused after it committed", async () => {
    const [busy, id] = await machines("same", 2);
    const writer = new StateWriter(db.agent.pool, { concurrency: 1 });
    const first = writer.write(write(busy, 1));
    const [five, seven, six, busyAgain] = await Promise.all([
      writer.write(write(id, 5)),
      writer.write(write(id, 7)),
      writer.write(write(id, 6)),
      writer.write(write(busy, 3)),
      first,
    ]);
    expect([five, seven, six, busyAgain]).toEqual([false, true, false, true]);
    expect(writer.stats).toEqual({ batches: 1, singles: 1 });
    expect(await row(id)).toMatchObject({ lastSeq: 7n, stateHash: "hash-7", healthStatus: "healthy" });
    expect((await timeline(id)).map((c) => [c.kind, c.after, c.at.getTime()])).toEqual([
      ["deployment", `2 ${hex("b").slice(0, 12)}`, T0 + 7000],
      ["health", "healthy", T0 + 7000],
    ]);
  });

  it("does not wait for a row another transaction holds: the others commit, that one is written alone once it is free", async () => {
    const [held, free, other] = await machines("locked", 3);
    const writer = new StateWriter(db.agent.pool, { concurrency: 1 });
    const elsewhere = new pg.Client({ connectionString: databaseUrl });
    await elsewhere.connect();
    try {
      await elsewhere.query("BEGIN");
      await elsewhere.query("SELECT 1 FROM machines WHERE id = $1 FOR UPDATE", [held]);
      const first = writer.write(write(other, 1));
      const heldWrite = writer.write(write(held, 4));
      const freeWrite = writer.write(write(free, 4));
      expect(await first).toBe(true);
      // Committed while the held row is still locked elsewhere.
      expect(await freeWrite).toBe(true);
      expect(await row(free)).toMatchObject({ lastSeq: 4n });
      // The other transaction writes a newer seq: the held write is refused, nothing of it written.
      await elsewhere.query("UPDATE machines SET last_seq = 9 WHERE id = $1", [held]);
      await elsewhere.query("COMMIT");
      expect(await heldWrite).toBe(false);
      expect(await row(held)).toMatchObject({ lastSeq: 9n, stateHash: null });
      expect(await timeline(held)).toEqual([]);
    } finally {
      await elsewhere.end();
    }
  });

  it("fails only the caller whose write the database refuses; the rest of its batch commits", async () => {
    const [a, b, c, d] = await machines("bad", 4);
    const writer = new StateWriter(db.agent.pool, { concurrency: 1 });
    const outcomes = await Promise.allSettled([
      writer.write(write(a, 1)),
      writer.write(write(b, 2)),
      writer.write(write(c, 2, { updateState: "exploded" as StateWrite["updateState"] })),
      writer.write(write(d, 2)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect(String((outcomes[2] as PromiseRejectedResult).reason)).toMatch(/UpdateState/);
    expect(await row(b)).toMatchObject({ lastSeq: 2n });
    expect(await row(c)).toMatchObject({ lastSeq: 0n, stateHash: null });
    expect(await timeline(c)).toEqual([]);
    expect(await row(d)).toMatchObject({ lastSeq: 2n });
  });

  it("fails every caller of a batch that cannot be written", async () => {
    const ids = await machines("away", 5);
    const url = new URL(databaseUrl);
    url.pathname = "/orchard_no_such_database";
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    try {
      const writer = new StateWriter(pool, { concurrency: 1 });
      const outcomes = await Promise.allSettled(ids.map((id) => writer.write(write(id, 1))));
      expect(outcomes.map((o) => o.status)).toEqual(ids.map(() => "rejected"));
    } finally {
      await pool.end();
    }
    for (const id of ids) expect(await row(id)).toMatchObject({ lastSeq: 0n, stateHash: null });
  });
});
