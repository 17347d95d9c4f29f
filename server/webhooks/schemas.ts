// The webhooks' input contract, shared by the tRPC router and the page's form.
import { z } from "zod";
import { WEBHOOK_EVENT_KINDS } from "../vocabulary";

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
