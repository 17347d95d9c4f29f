// Coalesces the last-seen time and seq of check-ins that changed nothing (and
// the last use of each machine token), and writes them in multi-row
// statements every few seconds, on the console's connections (a background
// job: server/jobs/periodic-job.ts), not the agent protocol's. A crash loses
// at most one interval of last-seen times; never a state change (those are
// written before the answer) and never an event. A flush that fails keeps its
// entries for the next.
import type pg from "pg";
import { PeriodicJob } from "../jobs/periodic-job";
import type { Logger } from "../logger";

interface Pending {
  seenAt: Date;
  seq: number;
  tokenId: string;
}

const BATCH = 5000;

export class LastSeenBuffer {
  private pending = new Map<string, Pending>();
  private flushing: Promise<void> | null = null;
  private readonly job: PeriodicJob;

  constructor(
    private readonly pool: pg.Pool,
    log: Logger,
    intervalMs: number,
  ) {
    this.job = new PeriodicJob({ name: "last-seen flush", intervalMs, runAtStart: false, maxRetryMs: Math.max(intervalMs, 10_000), log, step: () => this.flush() });
  }

  start() {
    this.job.start();
  }

  touch(machineDbId: string, seenAt: Date, seq: number, tokenId: string) {
    const prev = this.pending.get(machineDbId);
    if (!prev || prev.seq < seq) this.pending.set(machineDbId, { seenAt, seq, tokenId });
  }

  get size() {
    return this.pending.size;
  }

  /** Writes everything pending; entries that fail are kept for the next try. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.write().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async write() {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const entries = [...batch.entries()];
    try {
      for (let i = 0; i < entries.length; i += BATCH) {
        const slice = entries.slice(i, i + BATCH);
        // Rows are locked in id order, as the state writer locks them: two
        // replicas' flushes (HAProxy spreads one machine's check-ins over
        // them) and the state writer then never wait for each other in a
        // circle. Locked in the plan's order, they deadlocked (seen twice in
        // one 100,000-machine run, docs/scaling.md).
        await this.pool.query(
          `WITH locked AS (
             SELECT m.id FROM machines m WHERE m.id = ANY($1::text[]) ORDER BY m.id FOR NO KEY UPDATE
           )
           UPDATE machines AS m
              SET last_seen_at = GREATEST(m.last_seen_at, v.seen),
                  last_seq = GREATEST(m.last_seq, v.seq)
             FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS v(id, seen, seq), locked l
            WHERE m.id = v.id AND l.id = v.id`,
          [slice.map(([id]) => id), slice.map(([, p]) => p.seenAt), slice.map(([, p]) => p.seq)],
        );
        await this.pool.query(
          `WITH locked AS (
             SELECT t.id FROM machine_tokens t WHERE t.id = ANY($1::text[]) ORDER BY t.id FOR NO KEY UPDATE
           )
           UPDATE machine_tokens AS t SET last_used_at = GREATEST(t.last_used_at, v.seen)
             FROM unnest($1::text[], $2::timestamptz[]) AS v(id, seen), locked l
            WHERE t.id = v.id AND l.id = v.id`,
          [slice.map(([, p]) => p.tokenId), slice.map(([, p]) => p.seenAt)],
        );
        for (const [id] of slice) batch.delete(id);
      }
    } finally {
      // Put back what was not written, unless a newer check-in replaced it.
      for (const [id, p] of batch) {
        const now = this.pending.get(id);
        if (!now || now.seq < p.seq) this.pending.set(id, p);
      }
    }
  }

  async stop() {
    await this.job.stop();
    await this.flush();
  }
}
