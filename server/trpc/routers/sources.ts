import { addSource, getSource, listSources, removeSource, sourcesWorkDir, syncSources, updateSource } from "../../release-sources/sources";
import { addSourceInput, listSourcesInput, sourceRefInput, syncSourcesInput, updateSourceInput } from "../../release-sources/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

/** Release sources: changing one takes an operator of every ring on its branch (or an unscoped one). */
export const sourcesRouter = router({
  list: viewerProcedure
    .meta({ rings: "none" })
    .input(listSourcesInput)
    .query(({ ctx, input }) => listSources(ctx.db.prisma, input)),
  get: viewerProcedure
    .meta({ rings: "none" })
    .input(sourceRefInput)
    .query(({ ctx, input }) => getSource(ctx.db.prisma, input)),
  add: operatorProcedure
    .meta({ rings: "branch" })
    .input(addSourceInput)
    .mutation(({ ctx, input }) => addSource(ctx.db.prisma, ctx.actor, input)),
  update: operatorProcedure
    .meta({ rings: "branch" })
    .input(updateSourceInput)
    .mutation(({ ctx, input }) => updateSource(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  remove: operatorProcedure
    .meta({ rings: "branch" })
    .input(sourceRefInput)
    .mutation(({ ctx, input }) => removeSource(ctx.db.prisma, ctx.actor, input, { workDir: ctx.sourcesDir ?? sourcesWorkDir() })),
  /** Syncs now: one source, or every enabled one; answers what each pass did. */
  sync: operatorProcedure
    .meta({ rings: "branch" })
    .input(syncSourcesInput)
    .mutation(({ ctx, input }) => syncSources(ctx.db.prisma, input, { workDir: ctx.sourcesDir ?? sourcesWorkDir(), clock: ctx.clock })),
});
