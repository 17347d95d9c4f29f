// Group commit for check-ins that change a machine's reported state. Each
// such check-in is answered only once its state is committed; written one
// statement (one commit, one WAL flush) each, they wait for each other on the
// pool. Here the writes that arrive while a batch is being written wait for
// it and go together in the next one: one multi-row statement, one commit,
// every caller answered after it. Nothing waits on a timer: an idle writer
// sends a lone write at once.
//
// Per row, the batch keeps every rule of a single check-in's write: it
// applies only over an older seq (the row locked, against writers in other
// console processes), raises state_version, writes a timeline entry for each
// of deployment, update state and health that changed, clears a rollback
// once its deployment is booted and a refused slot once the target changed.
//
// The batch takes its rows with SKIP LOCKED, so it never waits for a row
// while holding others: it cannot deadlock with another batch, the
// last-seen flush or an operator's bulk change. A row it could not take (or
// that holds this seq or a newer one) is written again alone, waiting for
// its lock as a single check-in always has, and that answer is the caller's.
// The lock is the one the UPDATE takes anyway (FOR NO KEY UPDATE): it shuts
// out every other writer of the row, not an insert that only references it
// (an agent's events, a timeline entry).
import type pg from "pg";
import type { HealthStatus, UpdateState } from "../protocol/v1";
import { isDatabaseUnavailable } from "../db/unavailable";

/** One check-in's reported state, for the machine row `machineId` (its database id). */
export interface StateWrite {
  machineId: string;
  seq: number;
  at: Date;
  stateHash: string;
  agentVersion: string;
  bootId: string | null;
  /** The reported deployments, as JSON. */
  deployments: string;
  bootedChecksum: string | null;
  bootedVersion: string | null;
  bootedRef: string | null;
  updateState: UpdateState;
  updateTarget: string | null;
  updateProgress: number | null;
  updateError: string | null;
  healthStatus: HealthStatus;
  /** The reported checks, as JSON. */
  healthChecks: string;
  /** The timeline's detail of a health change ("failing: …"), or null. */
  healthDetail: string | null;
}

export interface StateWriterOptions {
  /** Batches written at once (each on a connection of its own). */
  concurrency?: number;
  /** Most writes in one statement. */
  maxBatch?: number;
}

interface Waiting {
  write: StateWrite;
  resolve: (applied: boolean) => void;
  reject: (error: unknown) => void;
}

const STATE_WRITE = (skipLocked: boolean) => `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::float8[], $14::text[],
                         $15::text[], $16::text[], $17::text[])
      AS i(id, seq, at, state_hash, agent_version, boot_id, deployments,
           booted_checksum, booted_version, booted_ref, update_state, update_target, update_progress, update_error,
           health_status, health_checks, health_detail)
  ), prev AS (
    SELECT m.id, m.booted_checksum, m.booted_version, m.update_state::text AS update_state, m.health_status::text AS health_status
      FROM machines m JOIN input i ON i.id = m.id
     WHERE m.last_seq < i.seq
     ORDER BY m.id
       FOR NO KEY UPDATE OF m${skipLocked ? " SKIP LOCKED" : ""}
  ), applied AS (
    UPDATE machines AS m SET
      agent_version = i.agent_version, boot_id = i.boot_id, deployments = i.deployments::jsonb,
      booted_checksum = i.booted_checksum, booted_version = i.booted_version, booted_ref = i.booted_ref,
      update_state_since = CASE WHEN m.update_state <> i.update_state::"UpdateState" OR m.update_state_since IS NULL
                                THEN i.at ELSE m.update_state_since END,
      update_state = i.update_state::"UpdateState", update_target = i.update_target,
      update_progress = i.update_progress, update_error = i.update_error,
      health_status_since = CASE WHEN m.health_status <> i.health_status::"HealthStatus" OR m.health_status_since IS NULL
                                 THEN i.at ELSE m.health_status_since END,
      health_status = i.health_status::"HealthStatus", health_checks = i.health_checks::jsonb,
      state_hash = i.state_hash, last_seq = i.seq, state_version = nextval('machine_state_version'),
      rollback_to = CASE WHEN m.rollback_to->>'checksum' = i.booted_checksum AND NOT COALESCE((m.rollback_to->>'hold')::boolean, false)
                         THEN NULL ELSE m.rollback_to END,
      slot_refused_target = CASE WHEN m.slot_refused_target IS DISTINCT FROM i.update_target THEN NULL ELSE m.slot_refused_target END,
      last_seen_at = GREATEST(m.last_seen_at, i.at), updated_at = i.at
      FROM prev JOIN input i ON i.id = prev.id
     WHERE m.id = prev.id
    RETURNING m.id
  ), history AS (
    INSERT INTO machine_changes (machine_id, at, kind, before, after, detail)
    SELECT prev.id, i.at, c.kind::"MachineChangeKind", c.before, c.after, c.detail
      FROM prev JOIN applied ON applied.id = prev.id JOIN input i ON i.id = prev.id,
           LATERAL (VALUES
             ('deployment', concat_ws(' ', prev.booted_version, left(prev.booted_checksum, 12)),
                            concat_ws(' ', i.booted_version, left(i.booted_checksum, 12)), NULL::text,
              prev.booted_checksum IS DISTINCT FROM i.booted_checksum),
             ('update', prev.update_state, i.update_state, i.update_error, prev.update_state IS DISTINCT FROM i.update_state),
             ('health', prev.health_status, i.health_status, i.health_detail, prev.health_status IS DISTINCT FROM i.health_status)
           ) AS c(kind, before, after, detail, changed)
     WHERE c.changed
  )
  SELECT id FROM applied`;

const BATCH_WRITE = STATE_WRITE(true);
const SINGLE_WRITE = STATE_WRITE(false);

function parameters(writes: StateWrite[]) {
  const column = <K extends keyof StateWrite>(key: K) => writes.map((w) => w[key]);
  return [
    column("machineId"),
    column("seq"),
    column("at"),
    column("stateHash"),
    column("agentVersion"),
    column("bootId"),
    column("deployments"),
    column("bootedChecksum"),
    column("bootedVersion"),
    column("bootedRef"),
    column("updateState"),
    column("updateTarget"),
    column("updateProgress"),
    column("updateError"),
    column("healthStatus"),
    column("healthChecks"),
    column("healthDetail"),
  ];
}

export class StateWriter {
  private queue: Waiting[] = [];
  private inFlight = 0;
  private readonly concurrency: number;
  private readonly maxBatch: number;
  /** Statements written so far: batches, and writes written again alone. */
  readonly stats = { batches: 0, singles: 0 };

  constructor(
    private readonly pool: pg.Pool,
    options: StateWriterOptions = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.maxBatch = Math.max(1, options.maxBatch ?? 1000);
  }

  /**
   * Writes a check-in's reported state, with the writes of other check-ins
   * that arrive meanwhile; resolves once it is committed. False: the row
   * already held this seq or a newer one, and nothing was written.
   */
  write(write: StateWrite): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.pump();
    });
  }

  private pump() {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Waiting[]) {
    // One write per machine: its highest seq. The others are older than it
    // and would be refused after it; they share its outcome.
    const winners = new Map<string, Waiting>();
    const superseded = new Map<Waiting, Waiting[]>();
    for (const waiting of batch) {
      const other = winners.get(waiting.write.machineId);
      if (!other) {
        winners.set(waiting.write.machineId, waiting);
        continue;
      }
      const [winner, loser] = waiting.write.seq > other.write.seq ? [waiting, other] : [other, waiting];
      winners.set(waiting.write.machineId, winner);
      const losers = [...(superseded.get(other) ?? []), loser];
      superseded.delete(other);
      superseded.set(winner, losers);
    }
    const settle = (winner: Waiting, outcome: { applied: boolean } | { error: unknown }) => {
      for (const waiting of [winner, ...(superseded.get(winner) ?? [])]) {
        if ("error" in outcome) waiting.reject(outcome.error);
        else waiting.resolve(waiting === winner && outcome.applied);
      }
    };

    let leftover = [...winners.values()];
    if (leftover.length > 1) {
      try {
        this.stats.batches++;
        const { rows } = await this.pool.query<{ id: string }>(BATCH_WRITE, parameters(leftover.map((w) => w.write)));
        const applied = new Set(rows.map((r) => r.id));
        for (const waiting of leftover) if (applied.has(waiting.write.machineId)) settle(waiting, { applied: true });
        leftover = leftover.filter((w) => !applied.has(w.write.machineId));
      } catch (error) {
        // The database is away: every write fails alike (the agents retry).
        // Any other failure may be one write's: each is written alone.
        if (isDatabaseUnavailable(error)) {
          for (const waiting of leftover) settle(waiting, { error });
          return;
        }
      }
    }
    // Alone, each waits for its row's lock and gets its own answer.
    await Promise.all(
      leftover.map(async (waiting) => {
        try {
          this.stats.singles++;
          const { rows } = await this.pool.query<{ id: string }>(SINGLE_WRITE, parameters([waiting.write]));
          settle(waiting, { applied: rows.length === 1 });
        } catch (error) {
          settle(waiting, { error });
        }
      }),
    );
  }
}
