// Webhook subscriptions as an admin manages them: subscribe a URL to event
// kinds (its signing secret shown once), change or remove it, give it a new
// secret, read its recent deliveries with the receiver's answers, and send it
// a test event. Every change writes its audit row in its transaction. The
// signing secret is stored sealed under the console's encryption key
// (server/secret-box.ts): the console must read it back to sign, but a copy of
// the database alone does not give it away.
import { type Actor, writeAudit } from "../audit/audit";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { Prisma, PrismaClient } from "../db/client";
import { AppError, invalid } from "../errors";
import { isSealed, type SecretBox } from "../secret-box";
import { WEBHOOK_TEST_KIND, type WebhookDeliveryState } from "../vocabulary";
import { resolveTarget } from "./addresses";
import { messageBody, newMessageId } from "./outbox";
import {
  type CreateWebhookInput,
  createWebhookInput,
  listWebhookDeliveriesInput,
  type UpdateWebhookInput,
  updateWebhookInput,
  webhookIdInput,
} from "./schemas";
import { newSigningSecret, SIGNING_SECRET_PURPOSE } from "./signing";

export interface WebhookPolicy {
  /** ORCHARD_WEBHOOKS_ALLOW_PRIVATE: loopback and private targets allowed. */
  allowPrivate: boolean;
}

/** What a read shows of a subscription: never its secret. */
const subscriptionSelect = {
  id: true,
  url: true,
  description: true,
  events: true,
  enabled: true,
  createdBy: true,
  createdAt: true,
  updatedAt: true,
} satisfies Prisma.WebhookSubscriptionSelect;

/** A subscription that is not there, naming the field that named it. */
const noSuchWebhook = (id: string) => new AppError("NOT_FOUND", `id: no webhook subscription ${id}`, { field: "id" });

/** A URL the console may POST to: http(s), no credentials in it, every address of its host allowed. */
async function checkUrl(url: string, policy: WebhookPolicy) {
  const parsed = new URL(url);
  if (parsed.username || parsed.password) {
    throw invalid("url", "must not carry a user name or password (the list of subscriptions shows it): the signature authenticates the console");
  }
  await resolveTarget(parsed, policy.allowPrivate);
}

export async function listWebhooks(db: PrismaClient) {
  const subscriptions = await db.webhookSubscription.findMany({ orderBy: { createdAt: "desc" }, select: subscriptionSelect, take: 200 });
  if (subscriptions.length === 0) return [];
  const ids = subscriptions.map((s) => s.id);
  const [pending, failed, last] = await Promise.all([
    db.webhookDelivery.groupBy({ by: ["subscriptionId"], where: { subscriptionId: { in: ids }, state: "pending" }, _count: { _all: true } }),
    db.webhookDelivery.groupBy({ by: ["subscriptionId"], where: { subscriptionId: { in: ids }, state: "failed" }, _count: { _all: true } }),
    // The newest delivery of each, through its (subscription_id, created_at) index.
    db.$queryRaw<{ subscription_id: string; state: WebhookDeliveryState; kind: string; created_at: Date; status: number | null }[]>`
      SELECT s.id AS subscription_id, d.state::text AS state, d.kind, d.created_at,
             (SELECT a.status FROM webhook_attempts a WHERE a.delivery_id = d.id ORDER BY a.at DESC LIMIT 1) AS status
        FROM unnest(${ids}::text[]) AS s(id)
        CROSS JOIN LATERAL (SELECT id, state, kind, created_at FROM webhook_deliveries
                             WHERE subscription_id = s.id ORDER BY created_at DESC LIMIT 1) d`,
  ]);
  const count = (rows: { subscriptionId: string; _count: { _all: number } }[], id: string) =>
    rows.find((r) => r.subscriptionId === id)?._count._all ?? 0;
  return subscriptions.map((s) => {
    const latest = last.find((l) => l.subscription_id === s.id);
    return {
      ...s,
      pending: count(pending, s.id),
      failed: count(failed, s.id),
      lastDelivery: latest ? { state: latest.state, kind: latest.kind, at: latest.created_at, status: latest.status } : null,
    };
  });
}

/** Subscribes a URL; the secret is returned here once and never again. */
export async function createWebhook(db: PrismaClient, actor: Actor, input: CreateWebhookInput, policy: WebhookPolicy, secrets: SecretBox) {
  const data = createWebhookInput.parse(input);
  await checkUrl(data.url, policy);
  const secret = newSigningSecret();
  const sealedSecret = secrets.seal(secret, SIGNING_SECRET_PURPOSE);
  const subscription = await db.$transaction(async (tx) => {
    const created = await tx.webhookSubscription.create({
      data: { url: data.url, description: data.description, events: data.events, sealedSecret, createdBy: actor.label },
      select: subscriptionSelect,
    });
    await writeAudit(tx, actor, {
      action: "webhook.create",
      targetType: "webhook",
      targetId: created.id,
      after: { url: created.url, description: created.description, events: created.events },
    });
    return created;
  });
  return { subscription, secret };
}

export async function updateWebhook(db: PrismaClient, actor: Actor, input: UpdateWebhookInput, policy: WebhookPolicy) {
  const data = updateWebhookInput.parse(input);
  if (data.url !== undefined) await checkUrl(data.url, policy);
  return db.$transaction(async (tx) => {
    const before = await tx.webhookSubscription.findUnique({ where: { id: data.id }, select: subscriptionSelect });
    if (!before) throw noSuchWebhook(data.id);
    const after = await tx.webhookSubscription.update({
      where: { id: data.id },
      data: { url: data.url, description: data.description, events: data.events, enabled: data.enabled },
      select: subscriptionSelect,
    });
    await writeAudit(tx, actor, {
      action: "webhook.update",
      targetType: "webhook",
      targetId: data.id,
      before: { url: before.url, description: before.description, events: before.events, enabled: before.enabled },
      after: { url: after.url, description: after.description, events: after.events, enabled: after.enabled },
    });
    return after;
  });
}

/**
 * Gives a subscription a new signing secret, returned here once: the old one
 * stops at once (what is pending is signed with the new one at its next
 * attempt). The way out when the console's encryption key was lost, or the
 * secret leaked.
 */
export async function rotateWebhookSecret(db: PrismaClient, actor: Actor, input: { id: string }, secrets: SecretBox) {
  const { id } = webhookIdInput.parse(input);
  const secret = newSigningSecret();
  const sealedSecret = secrets.seal(secret, SIGNING_SECRET_PURPOSE);
  const subscription = await db.$transaction(async (tx) => {
    const { count } = await tx.webhookSubscription.updateMany({ where: { id }, data: { sealedSecret } });
    if (count === 0) throw noSuchWebhook(id);
    await writeAudit(tx, actor, { action: "webhook.rotate-secret", targetType: "webhook", targetId: id, after: { keyId: secrets.keyId } });
    return tx.webhookSubscription.findUniqueOrThrow({ where: { id }, select: subscriptionSelect });
  });
  return { subscription, secret };
}

/**
 * Seals the signing secrets stored in clear (before secrets were sealed; the
 * migration could not: SQL has no key), and counts those sealed under another
 * key than this console's, whose deliveries will fail. Run at start.
 */
export async function sealClearSecrets(db: PrismaClient, secrets: SecretBox) {
  return db.$transaction(async (tx) => {
    const clear = await tx.$queryRaw<{ id: string; sealed_secret: string }[]>`
      SELECT id, sealed_secret FROM webhook_subscriptions WHERE sealed_secret NOT LIKE 'orchsec1.%' FOR UPDATE`;
    for (const row of clear) {
      if (isSealed(row.sealed_secret)) continue;
      const sealed = secrets.seal(row.sealed_secret, SIGNING_SECRET_PURPOSE);
      await tx.$executeRaw`UPDATE webhook_subscriptions SET sealed_secret = ${sealed} WHERE id = ${row.id}`;
    }
    const [other] = await tx.$queryRaw<{ ids: string[] }[]>`
      SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids FROM webhook_subscriptions
       WHERE sealed_secret NOT LIKE ${`orchsec1.${secrets.keyId}.%`}`;
    return { sealed: clear.length, underOtherKeys: other.ids };
  });
}

/** Removes a subscription with its queue: what was not delivered yet is dropped. */
export async function deleteWebhook(db: PrismaClient, actor: Actor, input: { id: string }) {
  const { id } = webhookIdInput.parse(input);
  return db.$transaction(async (tx) => {
    const before = await tx.webhookSubscription.findUnique({ where: { id }, select: subscriptionSelect });
    if (!before) throw noSuchWebhook(id);
    const dropped = await tx.webhookDelivery.count({ where: { subscriptionId: id, state: "pending" } });
    await tx.webhookSubscription.delete({ where: { id } });
    await writeAudit(tx, actor, {
      action: "webhook.delete",
      targetType: "webhook",
      targetId: id,
      before: { url: before.url, events: before.events, enabled: before.enabled },
      after: { deleted: true, pendingDropped: dropped },
    });
    return { id, deleted: true, pendingDropped: dropped };
  });
}

/** Queues a `webhook.test` message for this (enabled) subscription only, on an ordering key of its own. */
export async function sendTestEvent(db: PrismaClient, actor: Actor, input: { id: string }, clock: Clock = systemClock) {
  const { id } = webhookIdInput.parse(input);
  const now = clock.now();
  return db.$transaction(async (tx) => {
    const subscription = await tx.webhookSubscription.findUnique({ where: { id }, select: { id: true, url: true, enabled: true } });
    if (!subscription) throw noSuchWebhook(id);
    if (!subscription.enabled) throw invalid("id", "the subscription is disabled: enable it to send it a test event");
    const eventId = newMessageId();
    const delivery = await tx.webhookDelivery.create({
      data: {
        subscriptionId: id,
        eventId,
        kind: WEBHOOK_TEST_KIND,
        orderingKey: `test:${eventId}`,
        body: messageBody(WEBHOOK_TEST_KIND, now, { subscriptionId: id, sentBy: actor.label }),
      },
      select: { id: true, eventId: true },
    });
    await writeAudit(tx, actor, { action: "webhook.test", targetType: "webhook", targetId: id, after: { eventId } });
    return delivery;
  });
}

/** A subscription's newest deliveries, each with its attempts (newest first) and the receiver's answers. */
export async function listWebhookDeliveries(db: PrismaClient, input: { id: string; limit?: number }) {
  const data = listWebhookDeliveriesInput.parse(input);
  const subscription = await db.webhookSubscription.findUnique({ where: { id: data.id }, select: subscriptionSelect });
  if (!subscription) throw noSuchWebhook(data.id);
  const deliveries = await db.webhookDelivery.findMany({
    where: { subscriptionId: data.id },
    orderBy: [{ createdAt: "desc" }, { seq: "desc" }],
    take: data.limit,
    select: {
      id: true,
      eventId: true,
      kind: true,
      state: true,
      attempts: true,
      nextAttemptAt: true,
      finishedAt: true,
      createdAt: true,
      tries: {
        orderBy: { at: "desc" },
        take: 5,
        select: { at: true, status: true, durationMs: true, response: true, error: true },
      },
    },
  });
  return { subscription, deliveries };
}

/** Each subscription's queue as /metrics reads it at a scrape: whether it is enabled, how many deliveries wait, and since when the oldest. */
export async function webhookQueues(db: PrismaClient) {
  // One index-only scan per subscription (webhook_deliveries_pending_created_at_idx).
  return db.$queryRaw<{ id: string; enabled: boolean; pending: number; oldest: Date | null }[]>`
    SELECT s.id, s.enabled, q.pending, q.oldest
      FROM webhook_subscriptions s
      CROSS JOIN LATERAL (SELECT count(*)::int AS pending, min(d.created_at) AS oldest
                            FROM webhook_deliveries d
                           WHERE d.subscription_id = s.id AND d.state = 'pending') q
     ORDER BY s.id`;
}
