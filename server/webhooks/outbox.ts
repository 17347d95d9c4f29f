// Queuing webhook messages: called inside the transaction of the change a
// message reports (beside its audit row), so that a message exists exactly
// when its change committed; a crash right after the commit loses nothing.
// One INSERT … SELECT writes a delivery per subscription that wants the
// kind (none when nobody subscribed), each with the exact body it signs.
//
// Order: deliveries are sent in `seq` order per (subscription, ordering key).
// `seq` comes from a sequence, which hands out numbers in the order rows are
// inserted, not in the order their transactions commit; so every writer of a
// key's messages holds a lock that orders its transactions: a rollout's
// messages are written under the rollout's advisory lock (the controller's
// step and every operator action take it: server/rollouts/), and a machine's
// under its row lock (enrolling and retiring update the row first).
import { randomUUID } from "node:crypto";
import type { Prisma } from "../db/client";
import type { WebhookEventKind } from "../vocabulary";

type Tx = Prisma.TransactionClient;

export interface WebhookEvent {
  kind: WebhookEventKind;
  /** What orders it: `rollout:<id>`, `machine:<machine id>`, `release:<id>`. */
  key: string;
  /** When it happened (the change's time). */
  at: Date;
  data: Record<string, unknown>;
}

/** A new message id: `msg_` and 24 random hex digits, the same for every subscription and attempt. */
export function newMessageId(): string {
  return `msg_${randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

/** The Standard Webhooks body: `{ type, timestamp, data }`. */
export function messageBody(kind: string, at: Date, data: Record<string, unknown>): string {
  return JSON.stringify({ type: kind, timestamp: at.toISOString(), data });
}

export const rolloutKey = (rolloutId: string) => `rollout:${rolloutId}`;
export const machineKey = (machineId: string) => `machine:${machineId}`;

/** Queues the messages, in this order, for every enabled subscription to their kind. Returns the deliveries written. */
export async function enqueueEvents(tx: Tx, events: readonly WebhookEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  return tx.$executeRaw`
    INSERT INTO webhook_deliveries (id, subscription_id, event_id, kind, ordering_key, body)
    SELECT gen_random_uuid()::text, s.id, e.event_id, e.kind, e.ordering_key, e.body
      FROM unnest(${events.map(() => newMessageId())}::text[], ${events.map((e) => e.kind)}::text[],
                  ${events.map((e) => e.key)}::text[], ${events.map((e) => messageBody(e.kind, e.at, e.data))}::text[])
           WITH ORDINALITY AS e(event_id, kind, ordering_key, body, n)
      JOIN webhook_subscriptions s ON s.enabled AND e.kind = ANY(s.events)
     ORDER BY e.n, s.id`;
}

/** A rollout's message: on the rollout's ordering key, naming the rollout and its release. */
export function rolloutEvent(
  kind: WebhookEventKind,
  rollout: { id: string; version: string; ref: string },
  at: Date,
  data: Record<string, unknown> = {},
): WebhookEvent {
  return { kind, key: rolloutKey(rollout.id), at, data: { rolloutId: rollout.id, release: { version: rollout.version, ref: rollout.ref }, ...data } };
}
