import { addSource, getSource, listSources, removeSource, sourcesWorkDir, syncSources, updateSource } from "../../release-sources/sources";
import {
  addSourceInput,
  listSourcesInput,
  releaseSourceSchema,
  removeSourceOutput,
  sourceListOutput,
  sourceRefInput,
  syncSourcesInput,
  syncSourcesOutput,
  updateSourceInput,
} from "../../release-sources/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

/** Release sources: changing one takes an operator of every ring on its branch (or an unscoped one). */
export const sourcesRouter = router({
  list: viewerProcedure
    .meta({ rings: "none" })
    .input(listSourcesInput)
    .output(sourceListOutput)
    .query(({ ctx, input }) => listSources(ctx.db.prisma, input)),
  get: viewerProcedure
    .meta({ rings: "none" })
    .input(sourceRefInput)
    .output(releaseSourceSchema)
    .query(({ ctx, input }) => getSource(ctx.db.prisma, input)),
  add: operatorProcedure
    .meta({ rings: "branch" })
    .input(addSourceInput)
    .output(releaseSourceSchema)
    .mutation(({ ctx, input }) => addSource(ctx.db.prisma, ctx.actor, input, { secrets: ctx.secretBox })),
  update: operatorProcedure
    .meta({ rings: "branch" })
    .input(updateSourceInput)
    .output(releaseSourceSchema)
    .mutation(({ ctx, input }) => updateSource(ctx.db.prisma, ctx.actor, input, { clock: ctx.clock, secrets: ctx.secretBox })),
  remove: operatorProcedure
    .meta({ rings: "branch" })
    .input(sourceRefInput)
    .output(removeSourceOutput)
    .mutation(({ ctx, input }) => removeSource(ctx.db.prisma, ctx.actor, input, { workDir: ctx.sourcesDir ?? sourcesWorkDir() })),
  /** Syncs now: one source, or every enabled one; answers what each pass did. */
  sync: operatorProcedure
    .meta({ rings: "branch" })
    .input(syncSourcesInput)
    .output(syncSourcesOutput)
    .mutation(({ ctx, input }) => syncSources(ctx.db.prisma, input, { workDir: ctx.sourcesDir ?? sourcesWorkDir(), clock: ctx.clock, secrets: ctx.secretBox })),
});
