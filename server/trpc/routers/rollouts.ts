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
  previewRolloutAction,
  resumeRollout,
  revertRollout,
  startRollout,
} from "../../rollouts/rollouts";
import {
  healthComparisonOutput,
  listRolloutsInput,
  revertInput,
  revertOutput,
  rolloutActionInput,
  rolloutActionPreviewOutput,
  rolloutDetailSchema,
  rolloutListOutput,
  rolloutMachinesOutput,
  rolloutPlanInput,
  rolloutPreviewOutput,
  startRolloutInput,
} from "../../rollouts/schemas";
import { MACHINE_STEPS } from "../../vocabulary";
import { operatorProcedure, router, viewerProcedure } from "../init";


export const rolloutsRouter = router({
  list: viewerProcedure
    .meta({ rings: "scoped" })
    .input(listRolloutsInput)
    .output(rolloutListOutput)
    .query(({ ctx, input }) => listRollouts(ctx.db.prisma, input, ctx.actor.rings)),
  get: viewerProcedure
    .meta({ rings: "rollout" })
    .input(z.object({ rolloutId: z.string().min(1) }))
    .output(rolloutDetailSchema)
    .query(({ ctx, input }) => getRollout(ctx.db.prisma, input.rolloutId, ctx.clock, ctx.actor.rings)),
  machines: viewerProcedure
    .meta({ rings: "rollout" })
    .input(
      z.object({
        rolloutId: z.string().min(1),
        ring: z.string().optional(),
        step: z.enum(MACHINE_STEPS).optional(),
        page: z.number().int().min(0).default(0),
        pageSize: z.number().int().min(1).max(200).default(50),
      }),
    )
    .output(rolloutMachinesOutput)
    .query(({ ctx, input }) => listRolloutMachines(ctx.db.prisma, input)),
  /** Machines on the new release next to those on the old one, per ring. */
  comparison: viewerProcedure
    .meta({ rings: "rollout" })
    .input(z.object({ rolloutId: z.string().min(1) }))
    .output(healthComparisonOutput)
    .query(({ ctx, input }) => healthComparison(ctx.db.prisma, input.rolloutId)),
  /** What pause, abort or revert (of the rollout, or of one ring) would do to its machines now. */
  actionPreview: viewerProcedure
    .meta({ rings: "rollout" })
    .input(z.object({ rolloutId: z.string().min(1), ring: z.string().optional() }))
    .output(rolloutActionPreviewOutput)
    .query(({ ctx, input }) => previewRolloutAction(ctx.db.prisma, input)),
  /** The dry run: which machines land in which wave of which ring. */
  preview: viewerProcedure
    .meta({ rings: "rings" })
    .input(rolloutPlanInput)
    .output(rolloutPreviewOutput)
    .query(({ ctx, input }) => previewRollout(ctx.db.prisma, input, ctx.clock)),
  start: operatorProcedure
    .meta({ rings: "rings" })
    .input(startRolloutInput)
    .output(rolloutDetailSchema)
    .mutation(({ ctx, input }) => startRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  pause: operatorProcedure
    .meta({ rings: "rollout" })
    .input(rolloutActionInput)
    .output(rolloutDetailSchema)
    .mutation(({ ctx, input }) => pauseRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  resume: operatorProcedure
    .meta({ rings: "rollout" })
    .input(rolloutActionInput)
    .output(rolloutDetailSchema)
    .mutation(({ ctx, input }) => resumeRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  approve: operatorProcedure
    .meta({ rings: "rollout" })
    .input(rolloutActionInput)
    .output(rolloutDetailSchema)
    .mutation(({ ctx, input }) => approveRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  abort: operatorProcedure
    .meta({ rings: "rollout" })
    .input(rolloutActionInput)
    .output(rolloutDetailSchema)
    .mutation(({ ctx, input }) => abortRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  revert: operatorProcedure
    .meta({ rings: "rollout" })
    .input(revertInput)
    .output(revertOutput)
    .mutation(({ ctx, input }) => revertRollout(ctx.db.prisma, ctx.actor, input, ctx.clock)),
});
