import {
  createEnrollmentToken,
  listEnrollmentTokens,
  revokeEnrollmentToken,
} from "../../enrollment/enrollment-tokens";
import { createEnrollmentTokenInput, revokeEnrollmentTokenInput } from "../../enrollment/schemas";
import { adminProcedure, router } from "../init";

export const enrollmentTokensRouter = router({
  list: adminProcedure.query(({ ctx }) => listEnrollmentTokens(ctx.db.prisma)),
  create: adminProcedure
    .input(createEnrollmentTokenInput)
    .mutation(({ ctx, input }) => createEnrollmentToken(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  revoke: adminProcedure
    .input(revokeEnrollmentTokenInput)
    .mutation(({ ctx, input }) => revokeEnrollmentToken(ctx.db.prisma, ctx.actor, input.id, ctx.clock)),
});
