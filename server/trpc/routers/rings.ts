import { createRing, listRings, setRingRelease, updateRingPolicy } from "../../rings/rings";
import { createRingInput, setRingReleaseInput, updateRingPolicyInput } from "../../rings/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

export const ringsRouter = router({
  list: viewerProcedure.query(({ ctx }) => listRings(ctx.db.prisma)),
  create: operatorProcedure
    .input(createRingInput)
    .mutation(({ ctx, input }) => createRing(ctx.db.prisma, ctx.actor, input)),
  setRelease: operatorProcedure
    .input(setRingReleaseInput)
    .mutation(({ ctx, input }) => setRingRelease(ctx.db.prisma, ctx.actor, input)),
  updatePolicy: operatorProcedure
    .input(updateRingPolicyInput)
    .mutation(({ ctx, input }) => updateRingPolicy(ctx.db.prisma, ctx.actor, input)),
});
