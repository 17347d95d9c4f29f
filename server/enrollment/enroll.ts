// Enrolling machines (agent protocol v1, POST /enroll): an enrollment token
// traded for a machine token. A whole site booting one image enrolls at once
// with one token, so enrollments are written in batches: the ones waiting
// when a batch starts go into one read and one write statement, committed
// together. The write counts the token's uses under its row lock, so a
// token's max uses is never exceeded, and writes every machine, its new
// token, its audit row and its webhook messages in that one statement; one
// commit (one WAL flush) then carries the whole batch. A lone enrollment is
// a batch of one, written at once.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { Reply } from "../agents/agent-service";
import { DEFAULT_CHECK_IN_SECONDS } from "../agents/desired";
import { checkEnrollProof, parsePublicKey } from "../agents/identity";
import { bearerToken, generateToken, hashesEqual, hashToken, tokenKind } from "../auth/tokens";
import type { Clock } from "../clock";
import type { Database } from "../db/client";
import { isDatabaseUnavailable } from "../db/unavailable";
import { AppError, invalid } from "../errors";
import { domainEvents } from "../events";
import type { Logger } from "../logger";
import type { EnrollRequest, EnrollResponse } from "../protocol/v1";
import { agentSettableLabels } from "../rings/failure-domains";
import { cohortOf } from "../rollouts/cohort";
import { machineKey, messageBody, newMessageId } from "../webhooks/outbox";

/** Enrollments waiting for a turn before the console answers 503 at once. */
const MAX_QUEUED_ENROLLMENTS = 5000;
/** An enrollment that waited longer than this for its turn is answered 503 instead (agents wait 30 s by default). */
const MAX_ENROLLMENT_WAIT_MS = 20_000;
/** Most enrollments written by one statement. */
const MAX_BATCH = 200;
/** Batches written at once: one reads while another writes, and the check-ins keep the rest of the pool. */
const MAX_BATCHES_IN_FLIGHT = 2;
/** Times an enrollment is tried again after a concurrent change to its machine or token, before a 503. */
const MAX_ATTEMPTS = 5;

/** How long a token found usable answers the early check without a query. */
const TRUSTED_FOR_MS = 1000;
/** Most token hashes remembered as usable (only real, usable tokens get there). */
const MAX_TRUSTED_TOKENS = 1000;

const UNUSABLE = "unknown, expired, revoked or used-up enrollment token";

/**
 * What an enrollment carries: an agent's request, or one the console makes
 * for a machine whose own updater speaks to it (a Zincati node: backend
 * `zincati`; a DDI device: `swupdate`), and `updaterLabels`, such as its FleetLock reboot group, which
 * that updater's protocol lets the node choose: they may set a failure
 * domain; the token's labels still win).
 */
export type Enrollment = Omit<EnrollRequest, "backend"> & {
  backend: EnrollRequest["backend"] | "zincati" | "swupdate";
  updaterLabels?: Record<string, string>;
};

interface Pending {
  tokenHash: string;
  body: Enrollment;
  queuedAt: number;
  attempts: number;
  resolve: (reply: Reply<EnrollResponse>) => void;
  reject: (error: unknown) => void;
}

interface TokenRow {
  id: string;
  token_hash: string;
  prefix: string;
  ring_id: string | null;
  labels: Record<string, string> | null;
  revoked_at: string | null;
  expires_at: string | null;
  max_uses: number | null;
  uses: number;
}

export interface ExistingMachine {
  id: string;
  machine_id: string;
  ring_id: string | null;
  labels: Record<string, string> | null;
  retired_at: string | null;
  public_key: string | null;
  reenroll_allowed_until: string | null;
  /** The row version read (its xmin): the write happens only if the row is still this one. */
  version: string;
}

interface RingRow {
  id: string;
  name: string;
  cohort_seed: string;
  check_in_interval_seconds: number;
  failure_domain_label: string | null;
}

/** One enrollment, decided and ready to write. */
interface Prepared {
  item: Pending;
  tokenId: string;
  machineDbId: string;
  /** The existing row's version; null for a new machine. */
  version: string | null;
  labels: Record<string, string>;
  ringId: string | null;
  ring: RingRow | null;
  cohort: number;
  publicKey: string | null;
  machineToken: { token: string; hash: string; prefix: string; id: string };
  auditId: string;
  actorLabel: string;
  auditAfter: string;
  eventId: string;
  eventBody: string;
}

/**
 * How a machine that exists proves it is that machine when it enrolls again:
 * its key's proof, or an operator's re-image allowance; an enrollment token
 * alone never suffices (every machine of an image shares it). A retired
 * machine stays retired unless an operator allowed it back.
 */
export function provenIdentity(
  existing: { retiredAt: Date | null; publicKey: string | null; reenrollAllowedUntil: Date | null },
  body: Pick<EnrollRequest, "machineId" | "proof">,
  now: Date,
): "key" | "operator" {
  if (existing.reenrollAllowedUntil && existing.reenrollAllowedUntil > now) return "operator";
  if (existing.retiredAt) {
    throw new AppError("GONE", `machine ${body.machineId} was retired; an operator must allow it to enroll again (a re-image)`);
  }
  if (!existing.publicKey) {
    throw new AppError(
      "FORBIDDEN",
      `machine ${body.machineId} is enrolled and has no key to prove itself with; an operator must allow it to enroll again (a re-image)`,
    );
  }
  if (!body.proof) {
    throw new AppError(
      "FORBIDDEN",
      `machine ${body.machineId} is enrolled: enrolling again needs proof by its key (orchard-agent sends it), or an operator's re-image allowance`,
    );
  }
  const wrong = checkEnrollProof(existing.publicKey, body.machineId, body.proof, now);
  if (wrong) throw new AppError("FORBIDDEN", `machine ${body.machineId}: ${wrong}`);
  return "key";
}

const date = (value: string | null) => (value === null ? null : new Date(value));

/** Whether a token read now may still enroll a machine (the write checks again under the row's lock). */
function usable(token: TokenRow, now: Date) {
  return (
    token.revoked_at === null &&
    (token.expires_at === null || new Date(token.expires_at) > now) &&
    (token.max_uses === null || token.uses < token.max_uses)
  );
}

/**
 * Everything one batch needs to decide: its tokens, the machines that exist, the rings.
 * The machines are looked up one id at a time through the unique btree index
 * (machines_machine_id_key): given `machine_id = ANY($2)`, the planner picks the
 * trigram GIN index instead (pg_trgm answers equality too), whose scan reads
 * every pending entry of the GIN's fast-update list and every row sharing a
 * trigram — 3 ms for 3 ids and 117 ms for 50 on 8,000 machines, named alike
 * (`site-1`, `site-2`…), which held a burst of enrollments to ~450/s.
 */
const READ_BATCH = `
  SELECT
    (SELECT coalesce(json_agg(t), '[]') FROM (
       SELECT id, token_hash, prefix, ring_id, labels, revoked_at, expires_at, max_uses, uses
         FROM enrollment_tokens WHERE token_hash = ANY($1::text[])) t) AS tokens,
    (SELECT coalesce(json_agg(m), '[]') FROM unnest($2::text[]) AS wanted(machine_id) CROSS JOIN LATERAL (
       SELECT id, machine_id, ring_id, labels, retired_at, public_key, reenroll_allowed_until, xmin::text AS version
         FROM machines WHERE machine_id = wanted.machine_id ORDER BY machine_id LIMIT 1) m) AS machines,
    (SELECT coalesce(json_agg(r ORDER BY r.position, r.name), '[]') FROM (
       SELECT id, name, position, cohort_seed, check_in_interval_seconds, failure_domain_label FROM rings) r) AS rings`;

/**
 * The batch's one write. Its token rows are locked first (in id order, so
 * that two batches never wait on each other in a cycle) and read as last
 * committed: the uses left decide which enrollments are granted, in queue
 * order. A granted machine is created (unless another console created it
 * meanwhile) or updated (only if its row is still the version read, the one
 * its identity was proven against). Only machines written revoke their old
 * tokens, get their new one, an audit row and their webhook messages (after
 * the machine row, which orders a machine's messages), and count a use.
 * Every input row comes back with its outcome.
 */
const WRITE_BATCH = `
  WITH input AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                         $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::float8[], $15::text[],
                         $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
                         $24::text[])
      AS i(n, token_id, machine_db_id, version, machine_id, hostname, backend, agent_version,
           os_id, os_version_id, os_arch, labels, ring_id, cohort, public_key,
           token_row_id, token_hash, token_prefix, audit_id, actor_label, audit_after, event_id, event_key, event_body)
  ), tok AS (
    SELECT id, uses, max_uses FROM enrollment_tokens
     WHERE id IN (SELECT token_id FROM input) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $25::timestamptz)
     ORDER BY id
       FOR UPDATE
  ), granted AS (
    SELECT i.* FROM (SELECT input.*, row_number() OVER (PARTITION BY token_id ORDER BY n) AS k FROM input) i
      JOIN tok ON tok.id = i.token_id
     WHERE tok.max_uses IS NULL OR tok.uses + i.k <= tok.max_uses
  ), created AS (
    INSERT INTO machines (id, machine_id, hostname, backend, agent_version, os_id, os_version_id, os_arch,
                          labels, ring_id, cohort, public_key, last_seq, enrolled_at, updated_at)
    SELECT machine_db_id, machine_id, hostname, backend::"Backend", agent_version, os_id, os_version_id, os_arch,
           labels::jsonb, ring_id, cohort, public_key, -1, $25::timestamptz, $25::timestamptz
      FROM granted WHERE version IS NULL
        ON CONFLICT (machine_id) DO NOTHING
    RETURNING id
  ), updated AS (
    UPDATE machines AS m SET
      hostname = g.hostname, backend = g.backend::"Backend", agent_version = g.agent_version,
      os_id = g.os_id, os_version_id = g.os_version_id, os_arch = g.os_arch,
      labels = g.labels::jsonb, ring_id = g.ring_id, cohort = g.cohort, retired_at = NULL, enrolled_at = $25::timestamptz,
      public_key = g.public_key, reenroll_allowed_until = NULL, last_seq = -1, state_hash = NULL, updated_at = $25::timestamptz
      FROM granted g
     WHERE g.version IS NOT NULL AND m.id = g.machine_db_id AND m.xmin::text = g.version
    RETURNING m.id
  ), written AS (
    SELECT g.*, g.version IS NOT NULL AS existed FROM granted g
     WHERE g.machine_db_id IN (SELECT id FROM created UNION ALL SELECT id FROM updated)
  ), revoked AS (
    UPDATE machine_tokens AS t SET revoked_at = $25::timestamptz
      FROM written w WHERE w.existed AND t.machine_id = w.machine_db_id AND t.revoked_at IS NULL
  ), issued AS (
    INSERT INTO machine_tokens (id, machine_id, token_hash, prefix, created_at)
    SELECT token_row_id, machine_db_id, token_hash, token_prefix, $25::timestamptz FROM written
  ), audited AS (
    INSERT INTO audit_log (id, at, actor_label, action, target_type, target_id, after)
    SELECT audit_id, $25::timestamptz, actor_label, CASE WHEN existed THEN 'machine.re-enroll' ELSE 'machine.enroll' END,
           'machine', machine_id, audit_after::jsonb
      FROM written
  ), queued AS (
    INSERT INTO webhook_deliveries (id, subscription_id, event_id, kind, ordering_key, body)
    SELECT gen_random_uuid()::text, s.id, w.event_id, 'machine.enrolled', w.event_key, w.event_body
      FROM written w JOIN webhook_subscriptions s ON s.enabled AND 'machine.enrolled' = ANY(s.events)
     ORDER BY w.n, s.id
  ), counted AS (
    UPDATE enrollment_tokens AS t SET uses = t.uses + c.uses, last_used_at = GREATEST(t.last_used_at, $25::timestamptz)
      FROM (SELECT token_id, count(*)::int AS uses FROM written GROUP BY token_id) c
     WHERE t.id = c.token_id
    RETURNING t.id, t.uses, t.max_uses
  )
  SELECT i.n,
         CASE WHEN w.n IS NOT NULL THEN 'written'
              WHEN tok.id IS NULL THEN 'refused'
              WHEN g.n IS NULL AND coalesce(c.uses, tok.uses) >= tok.max_uses THEN 'refused'
              ELSE 'again' END AS outcome
    FROM input i
    LEFT JOIN tok ON tok.id = i.token_id
    LEFT JOIN granted g ON g.n = i.n
    LEFT JOIN written w ON w.n = i.n
    LEFT JOIN counted c ON c.id = i.token_id`;

/** Postgres: a deadlock or a serialization failure; the batch may simply run again. */
const TRANSIENT = new Set(["40P01", "40001"]);

export interface EnrollmentsOptions {
  clock: Clock;
  log: Logger;
}

/**
 * The enrollment queue of one console process. `enroll` resolves once the
 * machine, its token and its audit row are committed.
 */
export class Enrollments {
  private readonly queue: Pending[] = [];
  /** Machine ids in a batch being written: an id is in at most one batch at a time. */
  private readonly inFlight = new Set<string>();
  private batches = 0;
  /** Batches written and the most enrollments one of them carried, since start (how much a burst was grouped). */
  readonly written = { batches: 0, largest: 0 };
  /** Token checks under way, by token hash: concurrent checks of one token share one query. */
  private readonly checks = new Map<string, Promise<boolean>>();
  /**
   * Token hashes found usable, until when they are trusted for the early
   * check: only an early answer (a token revoked meanwhile has its body read
   * and then its 401 from the write, which checks it again), and it keeps a
   * query per request off a burst of enrollments.
   */
  private readonly usable = new Map<string, number>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: EnrollmentsOptions,
  ) {}

  static forDatabase(db: Database, options: EnrollmentsOptions) {
    return new Enrollments(db.agent.pool, options);
  }

  /**
   * Checks the token of an enroll request before its body is read: the
   * protocol's 401 (no usable enrollment token) or 403 (a machine token).
   * An early answer only; the write checks the token again.
   */
  async checkToken(authorization: string | undefined): Promise<void> {
    const token = bearerToken(authorization);
    if (!token) throw new AppError("UNAUTHORIZED", "missing bearer token");
    const hash = hashToken(token);
    if (await this.tokenUsable(hash)) return;
    if (tokenKind(token) === "machine") {
      const { rows } = await this.pool.query("SELECT 1 FROM machine_tokens WHERE token_hash = $1 AND revoked_at IS NULL", [hash]);
      if (rows.length > 0) throw new AppError("FORBIDDEN", "a machine token cannot enroll; use an enrollment token");
    }
    throw new AppError("UNAUTHORIZED", UNUSABLE);
  }

  private tokenUsable(hash: string): Promise<boolean> {
    const until = this.usable.get(hash);
    if (until !== undefined && until > Date.now()) return Promise.resolve(true);
    const running = this.checks.get(hash);
    if (running) return running;
    const check = this.pool
      .query(
        `SELECT 1 FROM enrollment_tokens
          WHERE token_hash = $1 AND revoked_at IS NULL
            AND (expires_at IS NULL OR expires_at > $2)
            AND (max_uses IS NULL OR uses < max_uses)`,
        [hash, this.options.clock.now()],
      )
      .then((result) => {
        if (result.rows.length > 0) this.remember(hash);
        return result.rows.length > 0;
      })
      .finally(() => this.checks.delete(hash));
    this.checks.set(hash, check);
    return check;
  }

  private remember(hash: string) {
    if (this.usable.size >= MAX_TRUSTED_TOKENS) this.usable.clear();
    this.usable.set(hash, Date.now() + TRUSTED_FOR_MS);
  }

  /** Enrolls a machine: 201 for a new one, 200 when it enrolled again (its old token retired). */
  enroll(authorization: string | undefined, body: Enrollment): Promise<Reply<EnrollResponse>> {
    const token = bearerToken(authorization);
    if (!token) return Promise.reject(new AppError("UNAUTHORIZED", "missing bearer token"));
    if (body.publicKey && !parsePublicKey(body.publicKey)) {
      return Promise.reject(invalid("publicKey", "expected an ed25519 public key (SubjectPublicKeyInfo DER, base64)"));
    }
    if (this.queue.length >= MAX_QUEUED_ENROLLMENTS) {
      return Promise.reject(new AppError("UNAVAILABLE", "too many enrollments at once; retry later"));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ tokenHash: hashToken(token), body, queuedAt: Date.now(), attempts: 0, resolve, reject });
      this.next();
    });
  }

  /** Starts batches while there is room: each takes what waits (one enrollment per machine id). */
  private next() {
    while (this.batches < MAX_BATCHES_IN_FLIGHT && this.queue.length > 0) {
      const batch: Pending[] = [];
      const ids = new Set<string>();
      const now = Date.now();
      for (let i = 0; i < this.queue.length && batch.length < MAX_BATCH; ) {
        const item = this.queue[i];
        // The agent gave up on this answer by now (its request timeout): tell
        // it to come back rather than do the work for nobody.
        if (now - item.queuedAt > MAX_ENROLLMENT_WAIT_MS) {
          this.queue.splice(i, 1);
          item.reject(new AppError("UNAVAILABLE", "too many enrollments at once; retry later"));
        } else if (this.inFlight.has(item.body.machineId) || ids.has(item.body.machineId)) {
          i++;
        } else {
          this.queue.splice(i, 1);
          ids.add(item.body.machineId);
          batch.push(item);
        }
      }
      if (batch.length === 0) return;
      for (const id of ids) this.inFlight.add(id);
      this.batches++;
      void this.run(batch).finally(() => {
        for (const id of ids) this.inFlight.delete(id);
        this.batches--;
        this.next();
      });
    }
  }

  /** Runs one batch; every item is answered, or queued again. */
  private async run(batch: Pending[]) {
    try {
      await this.write(batch);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && TRANSIENT.has(code)) {
        for (const item of batch) this.again(item);
      } else if (batch.length > 1 && !isDatabaseUnavailable(error)) {
        // One enrollment's failure (a ring deleted meanwhile…) is its own: the
        // others are written alone.
        for (const item of batch) {
          await this.run([item]);
        }
      } else {
        for (const item of batch) item.reject(error);
      }
    }
  }

  /** Queues an item again after a concurrent change, at the front; a 503 after MAX_ATTEMPTS. */
  private again(item: Pending) {
    item.attempts++;
    if (item.attempts >= MAX_ATTEMPTS) {
      item.reject(new AppError("UNAVAILABLE", "the machine or its token kept changing while it enrolled; retry later"));
      return;
    }
    this.queue.unshift(item);
  }

  private async write(batch: Pending[]) {
    const now = this.options.clock.now();
    const read = await this.pool.query<{ tokens: TokenRow[]; machines: ExistingMachine[]; rings: RingRow[] }>(READ_BATCH, [
      [...new Set(batch.map((i) => i.tokenHash))],
      batch.map((i) => i.body.machineId),
    ]);
    const { tokens, machines, rings } = read.rows[0];
    const tokenByHash = new Map(tokens.map((t) => [t.token_hash, t]));
    for (const t of tokens) {
      if (usable(t, now)) this.remember(t.token_hash);
      else this.usable.delete(t.token_hash);
    }
    const machineById = new Map(machines.map((m) => [m.machine_id, m]));
    const ringById = new Map(rings.map((r) => [r.id, r]));
    // A failure domain (the label a ring counts reboot slots by) is the operator's to give, through the
    // enrollment token or the console: an agent cannot pick the domain with a free slot.
    const domains = new Map<string, string[]>();
    for (const ring of rings) {
      if (ring.failure_domain_label) domains.set(ring.failure_domain_label, [...(domains.get(ring.failure_domain_label) ?? []), ring.name]);
    }

    const prepared: Prepared[] = [];
    for (const item of batch) {
      try {
        prepared.push(this.prepare(item, tokenByHash.get(item.tokenHash), machineById.get(item.body.machineId), ringById, rings[0] ?? null, domains, now));
      } catch (error) {
        item.reject(error);
      }
    }
    if (prepared.length === 0) return;

    const column = <T>(f: (p: Prepared, n: number) => T) => prepared.map((p, n) => f(p, n));
    const { rows } = await this.pool.query<{ n: number; outcome: "written" | "refused" | "again" }>(WRITE_BATCH, [
      column((_, n) => n),
      column((p) => p.tokenId),
      column((p) => p.machineDbId),
      column((p) => p.version),
      column((p) => p.item.body.machineId),
      column((p) => p.item.body.hostname),
      column((p) => (p.item.body.backend === "rpm-ostree" ? "rpm_ostree" : p.item.body.backend)),
      column((p) => p.item.body.agentVersion),
      column((p) => p.item.body.os?.id ?? null),
      column((p) => p.item.body.os?.versionId ?? null),
      column((p) => p.item.body.os?.arch ?? null),
      column((p) => JSON.stringify(p.labels)),
      column((p) => p.ringId),
      column((p) => p.cohort),
      column((p) => p.publicKey),
      column((p) => p.machineToken.id),
      column((p) => p.machineToken.hash),
      column((p) => p.machineToken.prefix),
      column((p) => p.auditId),
      column((p) => p.actorLabel),
      column((p) => p.auditAfter),
      column((p) => p.eventId),
      column((p) => machineKey(p.item.body.machineId)),
      column((p) => p.eventBody),
      now,
    ]);
    this.written.batches++;
    this.written.largest = Math.max(this.written.largest, prepared.length);
    const outcomes = new Map(rows.map((r) => [r.n, r.outcome]));
    prepared.forEach((p, n) => {
      const outcome = outcomes.get(n);
      if (outcome === "written") {
        domainEvents.emit("machineChanged", p.machineDbId);
        p.item.resolve({
          status: p.version === null ? 201 : 200,
          body: {
            machineId: p.item.body.machineId,
            token: p.machineToken.token,
            ring: p.ring?.name ?? null,
            checkInIntervalSeconds: p.ring?.check_in_interval_seconds ?? DEFAULT_CHECK_IN_SECONDS,
          },
        });
      } else if (outcome === "refused") {
        // Revoked, expired or used up (its last use taken by a concurrent enrollment) since it was checked.
        p.item.reject(new AppError("UNAUTHORIZED", UNUSABLE));
      } else {
        // Its machine changed (or was created by another console) since it was read: decide again.
        this.again(p.item);
      }
    });
  }

  /** Decides one enrollment from what its batch read: throws the protocol's refusal, or returns what to write. */
  private prepare(
    item: Pending,
    token: TokenRow | undefined,
    existing: ExistingMachine | undefined,
    ringById: Map<string, RingRow>,
    firstRing: RingRow | null,
    domains: Map<string, string[]>,
    now: Date,
  ): Prepared {
    const { body } = item;
    if (!token || !hashesEqual(token.token_hash, item.tokenHash) || !usable(token, now)) {
      throw new AppError("UNAUTHORIZED", UNUSABLE);
    }
    const proven = existing
      ? provenIdentity(
          { retiredAt: date(existing.retired_at), publicKey: existing.public_key, reenrollAllowedUntil: date(existing.reenroll_allowed_until) },
          body,
          now,
        )
      : "new";
    const ringId = token.ring_id ?? existing?.ring_id ?? firstRing?.id ?? null;
    const ring = ringId ? (ringById.get(ringId) ?? null) : null;
    const labels = { ...(existing?.labels ?? {}), ...agentSettableLabels(body.labels, domains), ...(body.updaterLabels ?? {}), ...(token.labels ?? {}) };
    const machineToken = { ...generateToken("machine"), id: randomUUID() };
    return {
      item,
      tokenId: token.id,
      machineDbId: existing?.id ?? randomUUID(),
      version: existing?.version ?? null,
      labels,
      ringId,
      ring,
      cohort: cohortOf(body.machineId, ring?.cohort_seed ?? ""),
      // A proven machine keeps its key (or registers its first); a re-imaged one takes its new key.
      publicKey: proven === "key" ? (existing?.public_key ?? null) : (body.publicKey ?? null),
      machineToken,
      auditId: randomUUID(),
      actorLabel: `enrollment token ${token.prefix}…`,
      auditAfter: JSON.stringify({ hostname: body.hostname, backend: body.backend, labels, proven }),
      eventId: newMessageId(),
      eventBody: messageBody("machine.enrolled", now, {
        machineId: body.machineId,
        hostname: body.hostname,
        backend: body.backend,
        ring: ring?.name ?? null,
        labels,
        reenrolled: Boolean(existing),
      }),
    };
  }
}
