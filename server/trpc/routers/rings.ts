import { forceReleaseInput, forceReleaseLease, listRebootLeases } from "../../rings/leases";
import { createRing, listRings, removeRing, renameRing, reorderRings, reshuffleRing, setRingRelease, updateRingPolicy } from "../../rings/rings";
import {
  createRingInput,
  forceReleaseLeaseOutput,
  rebootLeasesOutput,
  removeRingInput,
  removeRingOutput,
  renameRingInput,
  renameRingOutput,
  reorderRingsInput,
  reorderRingsOutput,
  reshuffleRingInput,
  reshuffleRingOutput,
  ringListOutput,
  ringSchema,
  setRingReleaseInput,
  updateRingPolicyInput,
} from "../../rings/schemas";
import { listRingApps, removeRingApp, setRingApp } from "../../apps/ring-apps";
import { listRingAppsInput, removeRingAppInput, removeRingAppOutput, ringAppSchema, ringAppsOutput, setRingAppInput } from "../../apps/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

export const ringsRouter = router({
  list: viewerProcedure
    .meta({ rings: "scoped" })
    .output(ringListOutput)
    .query(({ ctx }) => listRings(ctx.db.prisma, ctx.actor.rings)),
  create: operatorProcedure
    .meta({ rings: "fleet" })
    .input(createRingInput)
    .output(ringSchema)
    .mutation(({ ctx, input }) => createRing(ctx.db.prisma, ctx.actor, input)),
  setRelease: operatorProcedure
    .meta({ rings: "ring" })
    .input(setRingReleaseInput)
    .output(ringSchema)
    .mutation(({ ctx, input }) => setRingRelease(ctx.db.prisma, ctx.actor, input)),
  /** The ring's app set (protocol v1.2): Flatpak apps, their remotes and releases. */
  apps: viewerProcedure
    .meta({ rings: "ring" })
    .input(listRingAppsInput)
    .output(ringAppsOutput)
    .query(({ ctx, input }) => listRingApps(ctx.db.prisma, input)),
  setApp: operatorProcedure
    .meta({ rings: "ring" })
    .input(setRingAppInput)
    .output(ringAppSchema)
    .mutation(({ ctx, input }) => setRingApp(ctx.db.prisma, ctx.actor, input)),
  removeApp: operatorProcedure
    .meta({ rings: "ring" })
    .input(removeRingAppInput)
    .output(removeRingAppOutput)
    .mutation(({ ctx, input }) => removeRingApp(ctx.db.prisma, ctx.actor, input)),
  updatePolicy: operatorProcedure
    .meta({ rings: "ring" })
    .input(updateRingPolicyInput)
    .output(ringSchema)
    .mutation(({ ctx, input }) => updateRingPolicy(ctx.db.prisma, ctx.actor, input)),
  reshuffle: operatorProcedure
    .meta({ rings: "ring" })
    .input(reshuffleRingInput)
    .output(reshuffleRingOutput)
    .mutation(({ ctx, input }) => reshuffleRing(ctx.db.prisma, ctx.actor, input)),
  // Renaming, reordering and removing change the whole fleet (scopes and the rollout order): unscoped callers only.
  rename: operatorProcedure
    .meta({ rings: "fleet" })
    .input(renameRingInput)
    .output(renameRingOutput)
    .mutation(({ ctx, input }) => renameRing(ctx.db.prisma, ctx.actor, input, { ssoRings: ctx.ssoRings })),
  reorder: operatorProcedure
    .meta({ rings: "fleet" })
    .input(reorderRingsInput)
    .output(reorderRingsOutput)
    .mutation(({ ctx, input }) => reorderRings(ctx.db.prisma, ctx.actor, input)),
  remove: operatorProcedure
    .meta({ rings: "fleet" })
    .input(removeRingInput)
    .output(removeRingOutput)
    .mutation(({ ctx, input }) => removeRing(ctx.db.prisma, ctx.actor, input, { ssoRings: ctx.ssoRings })),
  /** Who holds each reboot slot, since when. */
  leases: viewerProcedure
    .meta({ rings: "scoped" })
    .output(rebootLeasesOutput)
    .query(({ ctx }) => listRebootLeases(ctx.db.prisma, ctx.actor.rings)),
  forceReleaseLease: operatorProcedure
    .meta({ rings: "machine" })
    .input(forceReleaseInput)
    .output(forceReleaseLeaseOutput)
    .mutation(({ ctx, input }) => forceReleaseLease(ctx.db.prisma, ctx.actor, input)),
});
