// Webhook subscriptions as an admin manages them: subscribe a URL to event
// kinds (its signing secret shown once), change or remove it, read its
// recent deliveries with the receiver's answers, and send it a test event.
// Every change writes its audit row in its transaction.
import { type Actor, writeAudit } from "../audit/audit";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { Prisma, PrismaClient } from "../db/client";
import { invalid, notFound } from "../errors";
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
import { newSigningSecret } from "./signing";

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
export async function createWebhook(db: PrismaClient, actor: Actor, input: CreateWebhookInput, policy: WebhookPolicy) {
  const data = createWebhookInput.parse(input);
  await checkUrl(data.url, policy);
  const secret = newSigningSecret();
  const subscription = await db.$transaction(async (tx) => {
    const created = await tx.webhookSubscription.create({
      data: { url: data.url, description: data.description, events: data.events, secret, createdBy: actor.label },
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
    if (!before) throw notFound(`webhook ${data.id}`);
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

/** Removes a subscription with its queue: what was not delivered yet is dropped. */
export async function deleteWebhook(db: PrismaClient, actor: Actor, input: { id: string }) {
  const { id } = webhookIdInput.parse(input);
  return db.$transaction(async (tx) => {
    const before = await tx.webhookSubscription.findUnique({ where: { id }, select: subscriptionSelect });
    if (!before) throw notFound(`webhook ${id}`);
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
    if (!subscription) throw notFound(`webhook ${id}`);
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
  if (!subscription) throw notFound(`webhook ${data.id}`);
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
