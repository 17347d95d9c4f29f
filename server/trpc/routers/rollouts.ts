import { z } from "zod";
import { healthComparison } from "../../rollouts/comparison";
import {
  abortRollout,
  approveRollout,
  getRollout,
  listRollouts,
  listRolloutMachines,
  pauseRollout,
  previewRollout,
  resumeRollout,
  revertRollout,
  startRollout,
} from "../../rollouts/rollouts";
import { listRolloutsInput, revertInput, rolloutActionInput, rolloutPlanInput, startRolloutInput } from "../../rollouts/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

const steps = ["pending", "assigned", "downloading", "staged", "rebooting", "verifying", "succeeded", "failed", "rolled_back", "dark"] as const;

export const rolloutsRouter = router({
  list: viewerProcedure.input(listRolloutsInput).query(({ ctx, input }) => listRollouts(ctx.db.prisma, input)),
  get: viewerProcedure
    .input(z.object({ rolloutId: z.string().min(1) }))
    .query(({ ctx, input }) => getRollout(ctx.db.prisma, input.rolloutId, ctx.clock)),
  machines: viewerProcedure
    .input(
      z.object({
        rolloutId: z.string().min(1),
        ring: z.string().optional(),
        step: z.enum(steps).optional(),
        page: z.number().int().min(0).default(0),
        pageSize: z.number().int().min(1).max(200).default(50),
      }),
    )
    .query(({ ctx, input }) => listRolloutMachines(ctx.db.prisma, input)),
  /** Machines on the new release next to those on the old one, per ring. */
  comparison: viewerProcedure
    .input(z.object({ rolloutId: z.string().min(1) }))
    .query(({ ctx, input }) => healthComparison(ctx.db.prisma, input.rolloutId)),
  /** The dry run: which machines land in which wave of which ring. */
  preview: viewerProcedure.input(rolloutPlanInput).query(({ ctx, input }) => previewRollout(ctx.db.prisma, input, ctx.clock)),
  start: operatorProcedure.input(startRolloutInput).mutation(({ ctx, input }) => startRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  pause: operatorProcedure.input(rolloutActionInput).mutation(({ ctx, input }) => pauseRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  resume: operatorProcedure.input(rolloutActionInput).mutation(({ ctx, input }) => resumeRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  approve: operatorProcedure.input(rolloutActionInput).mutation(({ ctx, input }) => approveRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  abort: operatorProcedure.input(rolloutActionInput).mutation(({ ctx, input }) => abortRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  revert: operatorProcedure.input(revertInput).mutation(({ ctx, input }) => revertRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
});
