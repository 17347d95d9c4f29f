// Reboot slots: at most `reboot_slots` machines of a ring (or of one failure
// domain of it) hold a lease at once, across every console process.
//
// A wave that opens makes hundreds of machines ask within seconds. The asks
// are decided under a PostgreSQL advisory lock per ring and domain, so that
// two processes never grant the last slot twice. In one process, the asks
// for one ring and domain are decided together: those that arrive while a
// decision is under way wait in memory (not on a database connection) and
// are decided next, all at once, in one transaction: one lock, one count of
// the held leases, one write of every slot granted or renewed. A wave's
// burst costs a few transactions, and the check-ins keep the pool.
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

interface Waiting {
  ask: SlotAsk;
  resolve: (decision: SlotDecision) => void;
  reject: (error: unknown) => void;
}

/** Most asks decided by one transaction. */
const MAX_BATCH = 1000;
/** A lock held this long means another process is stuck mid-grant: answer 503 rather than queue behind it. */
const LOCK_TIMEOUT_MS = 10_000;

const SAME_SLOTS = `(CASE WHEN $1::text IS NULL THEN ring_id IS NULL ELSE ring_id = $1 END) AND domain IS NOT DISTINCT FROM $2`;

// The held leases counted, and the asking machines' own (a renewal).
const HELD = `
  WITH expired AS (DELETE FROM reboot_leases WHERE ${SAME_SLOTS} AND expires_at <= $3),
       live AS (SELECT machine_id, acquired_at, expires_at FROM reboot_leases WHERE ${SAME_SLOTS} AND expires_at > $3)
  SELECT (SELECT count(*)::int FROM live) AS held,
         (SELECT min(expires_at) FROM live) AS soonest,
         (SELECT coalesce(json_agg(json_build_object('machine', machine_id, 'acquired', acquired_at, 'expires', expires_at)), '[]')
            FROM live WHERE machine_id = ANY($4::text[])) AS mine`;

// Asking again while holding the slot renews it (idempotent). A lease of
// this machine elsewhere (it moved rings) becomes this one.
const TAKE = `
  INSERT INTO reboot_leases (id, machine_id, ring_id, domain, acquired_at, expires_at)
  SELECT gen_random_uuid()::text, machine, $2, $3, $4, expires
    FROM unnest($1::text[], $5::timestamptz[]) AS t(machine, expires)
  ON CONFLICT (machine_id) DO UPDATE SET ring_id = EXCLUDED.ring_id, domain = EXCLUDED.domain, expires_at = EXCLUDED.expires_at`;

export class RebootSlots {
  /** Per ring and domain, the asks waiting for the decision under way to end. */
  private readonly waiting = new Map<string, Waiting[]>();

  constructor(private readonly pool: pg.Pool) {}

  ask(ask: SlotAsk): Promise<SlotDecision> {
    const key = `orchard:reboot:${ask.ringId ?? ""}:${ask.domain ?? ""}`;
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(key);
      if (queue) {
        queue.push({ ask, resolve, reject });
        return;
      }
      this.waiting.set(key, [{ ask, resolve, reject }]);
      void this.drain(key);
    });
  }

  /** Decides what waits for `key`, batch after batch, until nothing does. */
  private async drain(key: string) {
    for (;;) {
      const queue = this.waiting.get(key)!;
      if (queue.length === 0) {
        this.waiting.delete(key);
        return;
      }
      const batch = queue.splice(0, MAX_BATCH);
      try {
        const decisions = await this.decide(key, batch.map((w) => w.ask));
        batch.forEach((w, i) => w.resolve(decisions[i]));
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
  }

  /** One transaction for asks of one ring and domain, decided in the order they came. */
  private async decide(key: string, asks: SlotAsk[]): Promise<SlotDecision[]> {
    const { ringId, domain } = asks[0];
    const client = await this.pool.connect();
    try {
      await client.query(`BEGIN; SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [key]);
      const now = asks[0].clock.now();
      const { rows } = await client.query<{ held: number; soonest: Date | null; mine: { machine: string; acquired: string; expires: string }[] }>(HELD, [
        ringId,
        domain,
        now,
        [...new Set(asks.map((a) => a.machineId))],
      ]);
      let { held } = rows[0];
      const { soonest } = rows[0];
      const mine = new Map(rows[0].mine.map((l) => [l.machine, { acquired: new Date(l.acquired), expires: new Date(l.expires) }]));
      const taken = new Map<string, Date>();
      const decisions = asks.map((ask): SlotDecision => {
        const lease = mine.get(ask.machineId);
        if (lease && now.getTime() - lease.acquired.getTime() >= ask.maxHoldMs) {
          return { granted: false, soonest: lease.expires, overheld: true, at: now };
        }
        if (lease || held < ask.slots) {
          const expiresAt = new Date(now.getTime() + ask.leaseMs);
          if (!lease) {
            held++;
            mine.set(ask.machineId, { acquired: now, expires: expiresAt });
          }
          taken.set(ask.machineId, expiresAt);
          return { granted: true, expiresAt, at: now };
        }
        return { granted: false, soonest, overheld: false, at: now };
      });
      if (taken.size > 0) await client.query(TAKE, [[...taken.keys()], ringId, domain, now, [...taken.values()]]);
      await client.query("COMMIT");
      return decisions;
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
