// The webhooks' input contract, shared by the tRPC router and the page's form.
import { z } from "zod";
import { WEBHOOK_DELIVERY_STATES, WEBHOOK_EVENT_KINDS } from "../vocabulary";

export const webhookUrlSchema = z
  .string()
  .trim()
  .max(2000, "at most 2000 characters")
  .pipe(z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }));

export const webhookEventsSchema = z
  .array(z.enum(WEBHOOK_EVENT_KINDS, { error: `expected one of ${WEBHOOK_EVENT_KINDS.join(", ")}` }))
  .min(1, "choose at least one event")
  .transform((events) => [...new Set(events)]);

export const createWebhookInput = z.object({
  url: webhookUrlSchema,
  description: z.string().trim().max(200, "at most 200 characters").default(""),
  events: webhookEventsSchema,
});
export type CreateWebhookInput = z.input<typeof createWebhookInput>;

export const updateWebhookInput = z.object({
  id: z.string().min(1),
  url: webhookUrlSchema.optional(),
  description: z.string().trim().max(200, "at most 200 characters").optional(),
  events: webhookEventsSchema.optional(),
  enabled: z.boolean().optional(),
});
export type UpdateWebhookInput = z.input<typeof updateWebhookInput>;

export const webhookIdInput = z.object({ id: z.string().min(1) });

export const listWebhookDeliveriesInput = z.object({
  id: z.string().min(1),
  limit: z.number().int().min(1).max(200).default(50),
});

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas.

/** A subscription (never its signing secret). */
export const webhookSubscriptionSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string(),
    /** The event kinds it receives. */
    events: z.array(z.string()),
    enabled: z.boolean(),
    createdBy: z.string(),
    createdAt: z.date(),
    updatedAt: z.date(),
  })
  .meta({ id: "WebhookSubscription" });

export const webhookListOutput = z.array(
  webhookSubscriptionSchema.extend({
    /** Deliveries queued or being retried. */
    pending: z.number().int(),
    /** Deliveries given up after 24 hours. */
    failed: z.number().int(),
    lastDelivery: z.object({ state: z.enum(WEBHOOK_DELIVERY_STATES), kind: z.string(), at: z.date(), status: z.number().int().nullable() }).nullable(),
  }),
);

export const createWebhookOutput = z.object({
  subscription: webhookSubscriptionSchema,
  /** The signing secret (whsec_…), shown this once. */
  secret: z.string(),
});

export const deleteWebhookOutput = z.object({ id: z.string(), deleted: z.boolean(), /** Queued deliveries dropped with it. */ pendingDropped: z.number().int() });

export const sendTestEventOutput = z.object({ id: z.string(), eventId: z.string() });

export const webhookDeliveriesOutput = z.object({
  subscription: webhookSubscriptionSchema,
  /** Newest first. */
  deliveries: z.array(
    z.object({
      id: z.string(),
      eventId: z.string(),
      kind: z.string(),
      state: z.enum(WEBHOOK_DELIVERY_STATES),
      attempts: z.number().int(),
      nextAttemptAt: z.date(),
      createdAt: z.date(),
      finishedAt: z.date().nullable(),
      /** Its attempts, newest first, with the receiver's answers. */
      tries: z.array(
        z.object({
          at: z.date(),
          status: z.number().int().nullable(),
          durationMs: z.number().int(),
          error: z.string().nullable(),
          response: z.string().nullable(),
        }),
      ),
    }),
  ),
});
