import { forceReleaseInput, forceReleaseLease, listRebootLeases } from "../../rings/leases";
import { createRing, listRings, removeRing, renameRing, reorderRings, reshuffleRing, setRingRelease, updateRingPolicy } from "../../rings/rings";
import {
  createRingInput,
  removeRingInput,
  renameRingInput,
  reorderRingsInput,
  reshuffleRingInput,
  setRingReleaseInput,
  updateRingPolicyInput,
} from "../../rings/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

export const ringsRouter = router({
  list: viewerProcedure
    .meta({ rings: "scoped" })
    .query(({ ctx }) => listRings(ctx.db.prisma, ctx.actor.rings)),
  create: operatorProcedure
    .meta({ rings: "fleet" })
    .input(createRingInput)
    .mutation(({ ctx, input }) => createRing(ctx.db.prisma, ctx.actor, input)),
  setRelease: operatorProcedure
    .meta({ rings: "ring" })
    .input(setRingReleaseInput)
    .mutation(({ ctx, input }) => setRingRelease(ctx.db.prisma, ctx.actor, input)),
  updatePolicy: operatorProcedure
    .meta({ rings: "ring" })
    .input(updateRingPolicyInput)
    .mutation(({ ctx, input }) => updateRingPolicy(ctx.db.prisma, ctx.actor, input)),
  reshuffle: operatorProcedure
    .meta({ rings: "ring" })
    .input(reshuffleRingInput)
    .mutation(({ ctx, input }) => reshuffleRing(ctx.db.prisma, ctx.actor, input)),
  // Renaming, reordering and removing change the whole fleet (scopes and the rollout order): unscoped callers only.
  rename: operatorProcedure
    .meta({ rings: "fleet" })
    .input(renameRingInput)
    .mutation(({ ctx, input }) => renameRing(ctx.db.prisma, ctx.actor, input, { ssoRings: ctx.ssoRings })),
  reorder: operatorProcedure
    .meta({ rings: "fleet" })
    .input(reorderRingsInput)
    .mutation(({ ctx, input }) => reorderRings(ctx.db.prisma, ctx.actor, input)),
  remove: operatorProcedure
    .meta({ rings: "fleet" })
    .input(removeRingInput)
    .mutation(({ ctx, input }) => removeRing(ctx.db.prisma, ctx.actor, input, { ssoRings: ctx.ssoRings })),
  /** Who holds each reboot slot, since when. */
  leases: viewerProcedure
    .meta({ rings: "scoped" })
    .query(({ ctx }) => listRebootLeases(ctx.db.prisma, ctx.actor.rings)),
  forceReleaseLease: operatorProcedure
    .meta({ rings: "machine" })
    .input(forceReleaseInput)
    .mutation(({ ctx, input }) => forceReleaseLease(ctx.db.prisma, ctx.actor, input)),
});
