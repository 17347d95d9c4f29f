import { createApiToken, listApiTokens, revokeApiToken } from "../../api-tokens/api-tokens";
import { apiTokenListOutput, apiTokenSchema, createApiTokenInput, createApiTokenOutput, revokeApiTokenInput } from "../../api-tokens/schemas";
import { adminProcedure, router } from "../init";

export const apiTokensRouter = router({
  list: adminProcedure
    .meta({ rings: "fleet" })
    .output(apiTokenListOutput)
    .query(({ ctx }) => listApiTokens(ctx.db.prisma, ctx.clock)),
  create: adminProcedure
    .meta({ rings: "fleet" })
    .input(createApiTokenInput)
    .output(createApiTokenOutput)
    .mutation(({ ctx, input }) => createApiToken(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  revoke: adminProcedure
    .meta({ rings: "fleet" })
    .input(revokeApiTokenInput)
    .output(apiTokenSchema)
    .mutation(({ ctx, input }) => revokeApiToken(ctx.db.prisma, ctx.actor, input.id, ctx.clock)),
});
