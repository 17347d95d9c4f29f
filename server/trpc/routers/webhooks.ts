// Webhook subscriptions (admins): subscribe, change, remove, read deliveries, send a test event.
import { createWebhookInput, listWebhookDeliveriesInput, updateWebhookInput, webhookIdInput } from "../../webhooks/schemas";
import {
  createWebhook,
  deleteWebhook,
  listWebhookDeliveries,
  listWebhooks,
  sendTestEvent,
  updateWebhook,
} from "../../webhooks/webhooks";
import { adminProcedure, type Context, router } from "../init";

const policyOf = (ctx: Context) => ctx.webhookPolicy ?? { allowPrivate: false };

export const webhooksRouter = router({
  list: adminProcedure
    .meta({ rings: "fleet" })
    .query(({ ctx }) => listWebhooks(ctx.db.prisma)),
  deliveries: adminProcedure
    .meta({ rings: "fleet" })
    .input(listWebhookDeliveriesInput)
    .query(({ ctx, input }) => listWebhookDeliveries(ctx.db.prisma, input)),
  /** The answer carries the signing secret, once. */
  create: adminProcedure
    .meta({ rings: "fleet" })
    .input(createWebhookInput)
    .mutation(({ ctx, input }) => createWebhook(ctx.db.prisma, ctx.actor, input, policyOf(ctx))),
  update: adminProcedure
    .meta({ rings: "fleet" })
    .input(updateWebhookInput)
    .mutation(({ ctx, input }) => updateWebhook(ctx.db.prisma, ctx.actor, input, policyOf(ctx))),
  remove: adminProcedure
    .meta({ rings: "fleet" })
    .input(webhookIdInput)
    .mutation(({ ctx, input }) => deleteWebhook(ctx.db.prisma, ctx.actor, input)),
  sendTest: adminProcedure
    .meta({ rings: "fleet" })
    .input(webhookIdInput)
    .mutation(({ ctx, input }) => sendTestEvent(ctx.db.prisma, ctx.actor, input, ctx.clock)),
});
