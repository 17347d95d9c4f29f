import { forceReleaseInput, forceReleaseLease, listRebootLeases } from "../../rings/leases";
import { createRing, listRings, reshuffleRing, setRingRelease, updateRingPolicy } from "../../rings/rings";
import { createRingInput, reshuffleRingInput, setRingReleaseInput, updateRingPolicyInput } from "../../rings/schemas";
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
  reshuffle: operatorProcedure
    .input(reshuffleRingInput)
    .mutation(({ ctx, input }) => reshuffleRing(ctx.db.prisma, ctx.actor, input)),
  /** Who holds each reboot slot, since when. */
  leases: viewerProcedure.query(({ ctx }) => listRebootLeases(ctx.db.prisma)),
  forceReleaseLease: operatorProcedure
    .input(forceReleaseInput)
    .mutation(({ ctx, input }) => forceReleaseLease(ctx.db.prisma, ctx.actor, input)),
});
