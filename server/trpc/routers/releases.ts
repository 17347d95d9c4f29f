import { addRelease, getRelease, listBranches, listReleases, listReleasesPage } from "../../releases/releases";
import { addReleaseInput, getReleaseInput, listReleasesInput, listReleasesPageInput } from "../../releases/schemas";
import { brakeRelease, liftQuarantine, previewBrake } from "../../rollouts/rollouts";
import { brakeInput, liftQuarantineInput } from "../../rollouts/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

export const releasesRouter = router({
  list: viewerProcedure
    .meta({ rings: "none" })
    .input(listReleasesInput)
    .query(({ ctx, input }) => listReleases(ctx.db.prisma, input)),
  /** A page of the releases table: server-side filter, sort and paging. */
  page: viewerProcedure
    .meta({ rings: "none" })
    .input(listReleasesPageInput)
    .query(({ ctx, input }) => listReleasesPage(ctx.db.prisma, input)),
  /** One release, the rings that run it and its rollouts. */
  get: viewerProcedure
    .meta({ rings: "none" })
    .input(getReleaseInput)
    .query(({ ctx, input }) => getRelease(ctx.db.prisma, input)),
  /** Every branch (ostree ref) that rings or releases use. */
  branches: viewerProcedure
    .meta({ rings: "none" })
    .query(({ ctx }) => listBranches(ctx.db.prisma)),
  add: operatorProcedure
    .meta({ rings: "none" })
    .input(addReleaseInput)
    .mutation(({ ctx, input }) => addRelease(ctx.db.prisma, ctx.actor, input)),
  /** The emergency brake: pause (or revert) every rollout of the release and quarantine it. */
  brake: operatorProcedure
    .meta({ rings: "fleet" })
    .input(brakeInput)
    .mutation(({ ctx, input }) => brakeRelease(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** What the brake would do now: rollouts that stop, machines that cancel, machines already on it. */
  brakePreview: viewerProcedure
    .meta({ rings: "none" })
    .input(brakeInput.pick({ version: true, ref: true }))
    .query(({ ctx, input }) => previewBrake(ctx.db.prisma, input)),
  /** Lifts a quarantine (audited, with a reason); nothing restarts by itself. */
  liftQuarantine: operatorProcedure
    .meta({ rings: "fleet" })
    .input(liftQuarantineInput)
    .mutation(({ ctx, input }) => liftQuarantine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
});
