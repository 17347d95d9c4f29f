// Reboot slots: at most `reboot_slots` machines of a ring (or of one failure
// domain of it) hold a lease at once, across every console process.
//
// A wave that opens makes hundreds of machines ask within seconds. Each ask
// that may get a slot decides under a PostgreSQL advisory lock per ring and
// domain (so that two processes never grant the last slot twice), and the
// asks of one process wait for their turn here, in memory, not on a
// database connection: a wave's asks never hold the agents' pool while they
// queue, and a check-in behind them still finds a connection. Under the lock
// a grant is a handful of statements on one connection, and counts the held
// leases instead of reading them.
import type pg from "pg";
import type { Clock } from "../clock";
import { AppError } from "../errors";

/** `at`: when it was decided (an ask may wait its turn a while). */
export type SlotDecision =
  | { granted: true; expiresAt: Date; at: Date }
  /** Every slot is taken (or this holder has renewed its slot as long as it may): ask again after `soonest`. */
  | { granted: false; soonest: Date | null; overheld: boolean; at: Date };

export interface SlotAsk {
  machineId: string;
  ringId: string | null;
  /** The failure domain (the value of the ring's failure-domain label), or null when slots count per ring. */
  domain: string | null;
  slots: number;
  leaseMs: number;
  /** A slot is renewed at most until it was held this long in all. */
  maxHoldMs: number;
  clock: Clock;
}

const SAME_SLOTS = `(CASE WHEN $1::text IS NULL THEN ring_id IS NULL ELSE ring_id = $1 END) AND domain IS NOT DISTINCT FROM $2`;

const HELD = `
  WITH expired AS (DELETE FROM reboot_leases WHERE ${SAME_SLOTS} AND expires_at <= $3)
  SELECT count(*)::int AS held,
         min(expires_at) AS soonest,
         max(acquired_at) FILTER (WHERE machine_id = $4) AS mine_acquired,
         max(expires_at) FILTER (WHERE machine_id = $4) AS mine_expires
    FROM reboot_leases
   WHERE ${SAME_SLOTS} AND expires_at > $3`;

// Asking again while holding the slot renews it (idempotent). A lease of
// this machine elsewhere (it moved rings) becomes this one.
const TAKE = `
  INSERT INTO reboot_leases (id, machine_id, ring_id, domain, acquired_at, expires_at)
  VALUES (gen_random_uuid()::text, $1, $2, $3, $4, $5)
  ON CONFLICT (machine_id) DO UPDATE SET ring_id = EXCLUDED.ring_id, domain = EXCLUDED.domain, expires_at = EXCLUDED.expires_at`;

const LOCK_TIMEOUT_MS = 10_000;

export class RebootSlots {
  /** Per ring and domain, the tail of this process's asks: each starts when the one before it ended. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly pool: pg.Pool) {}

  ask(request: SlotAsk): Promise<SlotDecision> {
    const key = `orchard:reboot:${request.ringId ?? ""}:${request.domain ?? ""}`;
    const before = this.queues.get(key) ?? Promise.resolve();
    const decision = before.then(() => this.decide(key, request));
    const tail = decision.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return decision;
  }

  private async decide(key: string, ask: SlotAsk): Promise<SlotDecision> {
    const client = await this.pool.connect();
    try {
      // A lock held this long means another process is stuck mid-grant: answer 503 rather than queue behind it.
      await client.query(`BEGIN; SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [key]);
      const now = ask.clock.now();
      const { rows } = await client.query<{ held: number; soonest: Date | null; mine_acquired: Date | null; mine_expires: Date | null }>(HELD, [
        ask.ringId,
        ask.domain,
        now,
        ask.machineId,
      ]);
      const { held, soonest, mine_acquired: mineAcquired, mine_expires: mineExpires } = rows[0];
      let decision: SlotDecision;
      if (mineAcquired && now.getTime() - mineAcquired.getTime() >= ask.maxHoldMs) {
        decision = { granted: false, soonest: mineExpires, overheld: true, at: now };
      } else if (mineAcquired || held < ask.slots) {
        const expiresAt = new Date(now.getTime() + ask.leaseMs);
        await client.query(TAKE, [ask.machineId, ask.ringId, ask.domain, now, expiresAt]);
        decision = { granted: true, expiresAt, at: now };
      } else {
        decision = { granted: false, soonest, overheld: false, at: now };
      }
      await client.query("COMMIT");
      return decision;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      if ((error as { code?: string }).code === "55P03") {
        throw new AppError("UNAVAILABLE", "the ring's reboot slots are being granted by a process that does not finish; ask again later");
      }
      throw error;
    } finally {
      client.release();
    }
  }
}
