import { addRelease, listReleases } from "../../releases/releases";
import { addReleaseInput, listReleasesInput } from "../../releases/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

export const releasesRouter = router({
  list: viewerProcedure.input(listReleasesInput).query(({ ctx, input }) => listReleases(ctx.db.prisma, input)),
  add: operatorProcedure
    .input(addReleaseInput)
    .mutation(({ ctx, input }) => addRelease(ctx.db.prisma, ctx.actor, input)),
});
