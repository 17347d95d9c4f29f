import {
  createEnrollmentToken,
  listEnrollmentTokens,
  revokeEnrollmentToken,
} from "../../enrollment/enrollment-tokens";
import {
  createEnrollmentTokenInput,
  createEnrollmentTokenOutput,
  enrollmentTokenListOutput,
  enrollmentTokenSchema,
  revokeEnrollmentTokenInput,
} from "../../enrollment/schemas";
import { adminProcedure, router } from "../init";

export const enrollmentTokensRouter = router({
  list: adminProcedure
    .meta({ rings: "fleet" })
    .output(enrollmentTokenListOutput)
    .query(({ ctx }) => listEnrollmentTokens(ctx.db.prisma)),
  create: adminProcedure
    .meta({ rings: "fleet" })
    .input(createEnrollmentTokenInput)
    .output(createEnrollmentTokenOutput)
    .mutation(({ ctx, input }) => createEnrollmentToken(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  revoke: adminProcedure
    .meta({ rings: "fleet" })
    .input(revokeEnrollmentTokenInput)
    .output(enrollmentTokenSchema)
    .mutation(({ ctx, input }) => revokeEnrollmentToken(ctx.db.prisma, ctx.actor, input.id, ctx.clock)),
});
