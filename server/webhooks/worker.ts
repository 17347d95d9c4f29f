// The webhook delivery worker, inside each console process.
//
// The queue is a PostgreSQL table (webhook_deliveries) claimed with
// `FOR UPDATE SKIP LOCKED`, not a queue library: a message must be queued in
// the transaction of the change it reports (server/webhooks/outbox.ts), in
// the console's own database, with an order per rollout that a generic job
// queue (graphile-worker, pg-boss) does not keep: their jobs are independent,
// where here a delivery waits while an older one of its ordering key is
// pending. That rule is one `DISTINCT ON` in the claim below; the rest of a
// queue (leases, retries, a history of attempts) is a few statements.
//
// A claim takes the oldest due deliveries that head their (subscription,
// ordering key) — the oldest pending one of each, read from a partial index
// of pending rows, so that a key with a long backlog behind a failing head
// costs one index entry per row, not a search per row — and leases each for twice the receiver's timeout by moving
// its next attempt that far ahead, in a short transaction of its own; the
// HTTP request runs with no transaction open. Several console processes share
// the work (SKIP LOCKED passes over rows another one is claiming; a leased
// row is not due), and a process killed in the middle of a delivery leaves a
// lease that runs out: the delivery is sent again then, by whichever process
// claims it first (at least once; receivers deduplicate by `webhook-id`).
// Failures are retried after 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h
// and then every 8 h, the last attempt exactly 24 hours after the first;
// then the delivery is failed and the next one of its key goes.
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { Database } from "../db/client";
import { PeriodicJob } from "../jobs/periodic-job";
import type { Logger } from "../logger";
import type { SecretBox } from "../secret-box";
import type { WebhookAttemptOutcome } from "../vocabulary";
import { type ResolvedTarget, resolveTarget } from "./addresses";
import { SIGNING_SECRET_PURPOSE, signatureHeaders } from "./signing";

/** Seconds to wait after the n-th failed attempt (n from 1); the last delay repeats. */
export const RETRY_DELAYS_SECONDS = [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800] as const;
/** A delivery is failed when an attempt fails this long after its first. */
export const GIVE_UP_AFTER_SECONDS = 24 * 3600;
/** How much of a receiver's answer is kept per attempt. */
export const RESPONSE_EXCERPT_CHARS = 500;
/** Finished deliveries (and their attempts) are kept this long. */
export const KEEP_FINISHED_DAYS = 14;

export function retryDelaySeconds(failedAttempts: number): number {
  return RETRY_DELAYS_SECONDS[Math.min(Math.max(failedAttempts, 1), RETRY_DELAYS_SECONDS.length) - 1];
}

interface Claimed {
  id: string;
  subscription_id: string;
  event_id: string;
  kind: string;
  body: string;
  attempts: number;
  url: string;
  /** Sealed (server/secret-box.ts): opened for each attempt. */
  sealed_secret: string;
}

export interface WebhookWorkerOptions {
  log: Logger;
  allowPrivate: boolean;
  /** The console's encryption key, which opens the signing secrets. */
  secrets: SecretBox;
  timeoutMs: number;
  pollMs: number;
  /** Deliveries in flight at once (each to a different subscription or ordering key). */
  lanes?: number;
  /** Told of each attempt's outcome (/metrics counts them). */
  onAttempt?: (subscriptionId: string, outcome: WebhookAttemptOutcome) => void;
}

export interface AttemptOutcome {
  status: number | null;
  response: string | null;
  error: string | null;
  durationMs: number;
}

export class WebhookWorker {
  private readonly job: PeriodicJob;
  private stopping = false;
  private lastPrune = 0;

  constructor(
    private readonly db: Database,
    private readonly options: WebhookWorkerOptions,
  ) {
    this.job = new PeriodicJob({ name: "webhook delivery pass", intervalMs: options.pollMs, runAtStart: false, log: options.log, step: () => this.drain() });
  }

  start() {
    this.stopping = false;
    this.job.start();
  }

  async stop() {
    this.stopping = true;
    await this.job.stop();
  }

  /**
   * Delivers everything due now and returns how many attempts were made: one
   * claim of up to `lanes` deliveries (a single query when nothing is due),
   * then each lane goes on claiming one at a time until nothing is left.
   */
  async drain(): Promise<number> {
    const first = await this.claim(this.options.lanes ?? 8);
    const counts = await Promise.all(first.map((due) => this.lane(due)));
    if (Date.now() - this.lastPrune > 600_000) {
      this.lastPrune = Date.now();
      await this.db.prisma.$executeRaw`
        DELETE FROM webhook_deliveries
         WHERE finished_at < now() - make_interval(days => ${KEEP_FINISHED_DAYS}::int)`;
    }
    return counts.reduce((a, b) => a + b, 0);
  }

  private async lane(first: Claimed): Promise<number> {
    let attempts = 0;
    for (let due: Claimed | undefined = first; due; due = this.stopping ? undefined : (await this.claim(1))[0]) {
      await this.deliver(due);
      attempts++;
    }
    return attempts;
  }

  /** Leases up to `n` due deliveries that head their ordering key, oldest first. */
  private claim(n: number): Promise<Claimed[]> {
    const leaseSeconds = (this.options.timeoutMs * 2) / 1000;
    return this.db.prisma.$queryRaw<Claimed[]>`
      UPDATE webhook_deliveries d
         SET next_attempt_at = now() + make_interval(secs => ${leaseSeconds}::float8),
             attempts = d.attempts + 1,
             first_attempt_at = COALESCE(d.first_attempt_at, now())
        FROM (SELECT c.id FROM webhook_deliveries c
               WHERE c.id IN (SELECT DISTINCT ON (h.subscription_id, h.ordering_key) h.id
                                FROM webhook_deliveries h WHERE h.state = 'pending'
                               ORDER BY h.subscription_id, h.ordering_key, h.seq)
                 AND c.state = 'pending' AND c.next_attempt_at <= now()
                 AND EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.id = c.subscription_id AND s.enabled)
               ORDER BY c.seq
               LIMIT ${n}
               FOR UPDATE OF c SKIP LOCKED) due,
             webhook_subscriptions s
       WHERE d.id = due.id AND s.id = d.subscription_id
      RETURNING d.id, d.subscription_id, d.event_id, d.kind, d.body, d.attempts, s.url, s.sealed_secret`;
  }

  private async deliver(due: Claimed) {
    const outcome = await this.attempt(due);
    const delivered = outcome.status !== null && outcome.status >= 200 && outcome.status < 300;
    const delay = retryDelaySeconds(due.attempts);
    const gaveUp = await this.db.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`
        INSERT INTO webhook_attempts (id, delivery_id, at, status, duration_ms, response, error)
        VALUES (gen_random_uuid()::text, ${due.id}, now() - make_interval(secs => ${outcome.durationMs / 1000}::float8),
                ${outcome.status}, ${outcome.durationMs}, ${outcome.response}, ${outcome.error})`;
      if (delivered) {
        await tx.$executeRaw`
          UPDATE webhook_deliveries SET state = 'delivered', finished_at = now(), next_attempt_at = now()
           WHERE id = ${due.id} AND state = 'pending'`;
        return false;
      }
      const [row] = await tx.$queryRaw<{ failed: boolean }[]>`
        UPDATE webhook_deliveries
           SET state = CASE WHEN now() >= first_attempt_at + make_interval(secs => ${GIVE_UP_AFTER_SECONDS}::int)
                            THEN 'failed' ELSE 'pending' END::"WebhookDeliveryState",
               finished_at = CASE WHEN now() >= first_attempt_at + make_interval(secs => ${GIVE_UP_AFTER_SECONDS}::int) THEN now() END,
               next_attempt_at = LEAST(now() + make_interval(secs => ${delay}::int),
                                       first_attempt_at + make_interval(secs => ${GIVE_UP_AFTER_SECONDS}::int))
         WHERE id = ${due.id} AND state = 'pending'
        RETURNING state = 'failed' AS failed`;
      return row?.failed ?? false;
    });
    this.options.onAttempt?.(due.subscription_id, delivered ? "delivered" : gaveUp ? "failed" : "retried");
    const fields = { subscriptionId: due.subscription_id, eventId: due.event_id, kind: due.kind, attempt: due.attempts, ...outcome };
    if (delivered) this.options.log.debug(fields, "webhook delivered");
    else if (gaveUp) this.options.log.warn(fields, "webhook delivery failed for 24 hours: given up");
    else this.options.log.info({ ...fields, retryInSeconds: delay }, "webhook delivery failed; will retry");
  }

  /** One signed POST; never throws (a refusal or a network error is the attempt's error). */
  private async attempt(due: Claimed): Promise<AttemptOutcome> {
    const started = Date.now();
    const done = (outcome: Omit<AttemptOutcome, "durationMs">): AttemptOutcome => ({ ...outcome, durationMs: Date.now() - started });
    try {
      const url = new URL(due.url);
      // Checked again at each delivery (the host's addresses may have changed), and connected to as checked.
      const target = await resolveTarget(url, this.options.allowPrivate);
      // A secret that does not open (another key sealed it) fails the attempt with the reason, as an unreachable receiver would.
      let secret: string;
      try {
        secret = this.options.secrets.open(due.sealed_secret, SIGNING_SECRET_PURPOSE);
      } catch (error) {
        return done({ status: null, response: null, error: `not sent: ${(error as Error).message}`.slice(0, RESPONSE_EXCERPT_CHARS) });
      }
      const headers = signatureHeaders(secret, due.event_id, due.body, new Date());
      const answer = await post(url, target, headers, due.body, this.options.timeoutMs);
      return done({ status: answer.status, response: answer.excerpt, error: null });
    } catch (error) {
      return done({ status: null, response: null, error: (error as Error).message.slice(0, RESPONSE_EXCERPT_CHARS) });
    }
  }
}

/** POSTs `body` to `url` at the checked address; follows no redirect; reads at most a few KiB of the answer. */
function post(url: URL, target: ResolvedTarget, signature: Record<string, string>, body: string, timeoutMs: number) {
  const lookup: LookupFunction = (_host, options, callback) => {
    if (options.all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [target]);
    else callback(null, target.address, target.family);
  };
  const client = url.protocol === "https:" ? https : http;
  return new Promise<{ status: number; excerpt: string }>((resolve, reject) => {
    let settled = false;
    const request = client.request(
      url,
      {
        method: "POST",
        agent: false,
        lookup,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "user-agent": "Orchard-Webhooks/1",
          ...signature,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const finish = () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, excerpt: Buffer.concat(chunks).toString("utf8").slice(0, RESPONSE_EXCERPT_CHARS) });
          response.destroy();
        };
        response.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= 4 * RESPONSE_EXCERPT_CHARS) finish();
        });
        response.on("end", finish);
        response.on("error", (error) => fail(error));
      },
    );
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    request.on("error", fail);
    request.end(body);
  });
}
