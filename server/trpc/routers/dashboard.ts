import { z } from "zod";
import { fleetSummary, versionHistory } from "../../dashboard/dashboard";
import { livenessCounts } from "../../dashboard/liveness";
import { ringNameSchema } from "../../rings/schemas";
import { router, viewerProcedure } from "../init";
import { fleetSummaryOutput } from "../../dashboard/schemas";

export const dashboardRouter = router({
  summary: viewerProcedure
    .meta({ rings: "scoped" })
    .output(fleetSummaryOutput)
    .query(({ ctx }) => fleetSummary(ctx.db.prisma, ctx.clock, ctx.actor.rings, livenessCounts(ctx.db.prisma, ctx.clock))),
  versionHistory: viewerProcedure
    .meta({ rings: "scoped" })
    .input(z.object({ hours: z.number().int().min(1).max(24 * 90).default(24), ring: ringNameSchema.optional() }))
    .query(({ ctx, input }) => versionHistory(ctx.db.prisma, input, ctx.clock, ctx.actor.rings)),
});
