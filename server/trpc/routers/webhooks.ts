// Webhook subscriptions (admins): subscribe, change, remove, give a new secret, read deliveries, send a test event.
import {
  createWebhookInput,
  createWebhookOutput,
  deleteWebhookOutput,
  listWebhookDeliveriesInput,
  sendTestEventOutput,
  updateWebhookInput,
  webhookDeliveriesOutput,
  webhookIdInput,
  webhookListOutput,
  webhookSubscriptionSchema,
} from "../../webhooks/schemas";
import {
  createWebhook,
  deleteWebhook,
  listWebhookDeliveries,
  listWebhooks,
  rotateWebhookSecret,
  sendTestEvent,
  updateWebhook,
} from "../../webhooks/webhooks";
import { SecretBox } from "../../secret-box";
import { adminProcedure, type Context, router } from "../init";

const policyOf = (ctx: Context) => ctx.webhookPolicy ?? { allowPrivate: false };
const secretsOf = (ctx: Context) => ctx.secretBox ?? SecretBox.unavailable("this console has no encryption key to seal a signing secret with");

export const webhooksRouter = router({
  list: adminProcedure
    .meta({ rings: "fleet" })
    .output(webhookListOutput)
    .query(({ ctx }) => listWebhooks(ctx.db.prisma)),
  deliveries: adminProcedure
    .meta({ rings: "fleet" })
    .input(listWebhookDeliveriesInput)
    .output(webhookDeliveriesOutput)
    .query(({ ctx, input }) => listWebhookDeliveries(ctx.db.prisma, input)),
  /** The answer carries the signing secret, once. */
  create: adminProcedure
    .meta({ rings: "fleet" })
    .input(createWebhookInput)
    .output(createWebhookOutput)
    .mutation(({ ctx, input }) => createWebhook(ctx.db.prisma, ctx.actor, input, policyOf(ctx), secretsOf(ctx))),
  update: adminProcedure
    .meta({ rings: "fleet" })
    .input(updateWebhookInput)
    .output(webhookSubscriptionSchema)
    .mutation(({ ctx, input }) => updateWebhook(ctx.db.prisma, ctx.actor, input, policyOf(ctx))),
  /** A new signing secret, in the answer once; the old one stops at once. */
  rotateSecret: adminProcedure
    .meta({ rings: "fleet" })
    .input(webhookIdInput)
    .output(createWebhookOutput)
    .mutation(({ ctx, input }) => rotateWebhookSecret(ctx.db.prisma, ctx.actor, input, secretsOf(ctx))),
  remove: adminProcedure
    .meta({ rings: "fleet" })
    .input(webhookIdInput)
    .output(deleteWebhookOutput)
    .mutation(({ ctx, input }) => deleteWebhook(ctx.db.prisma, ctx.actor, input)),
  sendTest: adminProcedure
    .meta({ rings: "fleet" })
    .input(webhookIdInput)
    .output(sendTestEventOutput)
    .mutation(({ ctx, input }) => sendTestEvent(ctx.db.prisma, ctx.actor, input, ctx.clock)),
});
