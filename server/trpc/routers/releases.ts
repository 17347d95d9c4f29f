import { addRelease, listBranches, listReleases, listReleasesPage } from "../../releases/releases";
import { addReleaseInput, listReleasesInput, listReleasesPageInput } from "../../releases/schemas";
import { brakeRelease } from "../../rollouts/rollouts";
import { brakeInput } from "../../rollouts/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

export const releasesRouter = router({
  list: viewerProcedure.input(listReleasesInput).query(({ ctx, input }) => listReleases(ctx.db.prisma, input)),
  /** A page of the releases table: server-side filter, sort and paging. */
  page: viewerProcedure
    .input(listReleasesPageInput)
    .query(({ ctx, input }) => listReleasesPage(ctx.db.prisma, input)),
  /** Every branch (ostree ref) that rings or releases use. */
  branches: viewerProcedure.query(({ ctx }) => listBranches(ctx.db.prisma)),
  add: operatorProcedure
    .input(addReleaseInput)
    .mutation(({ ctx, input }) => addRelease(ctx.db.prisma, ctx.actor, input)),
  /** The emergency brake: pause (or revert) every rollout of the release and quarantine it. */
  brake: operatorProcedure.input(brakeInput).mutation(({ ctx, input }) => brakeRelease(ctx.db.prisma, ctx.actor, input, ctx.clock)),
});
