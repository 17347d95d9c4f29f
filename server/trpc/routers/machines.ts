import { issueTargetToken } from "../../ddi/target-tokens";
import { allowReenroll, getMachine, listMachines, moveMachinesToRing, retireMachine, setMachineLabels } from "../../machines/machines";
import {
  listMachinesInput,
  machineActionOutputs,
  machineDetailSchema,
  machineListOutput,
  machineRefInput,
  machineTimelineOutput,
  moveMachinesInput,
  retireMachineInput,
  setLabelsInput,
  unpinPreviewOutput,
} from "../../machines/schemas";
import { z } from "zod";
import { pinMachines, rollbackMachines, unpinMachines } from "../../machines/bulk-actions";
import { bulkMachinesInput, bulkPinInput } from "../../machines/schemas";
import { machineTimeline, timelineCursorSchema } from "../../machines/timeline";
import { pinMachine, previewUnpin, rollbackMachine, unpinMachine } from "../../rollouts/machine-actions";
import { machineActionInput, pinInput, unpinInput } from "../../rollouts/schemas";
import { listMachineApps, pinMachineApp, unpinMachineApp } from "../../apps/machine-apps";
import { machineAppsOutput, pinMachineAppInput, unpinMachineAppInput } from "../../apps/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

export const machinesRouter = router({
  list: viewerProcedure
    .meta({ rings: "scoped" })
    .input(listMachinesInput)
    .output(machineListOutput)
    .query(({ ctx, input }) => listMachines(ctx.db.prisma, input, ctx.clock, ctx.actor.rings)),
  timeline: viewerProcedure
    .meta({ rings: "machine" })
    .input(
      machineRefInput.extend({
        limit: z.number().int().min(1).max(500).default(100),
        /** Entries older than this: the `nextCursor` of the page before; none for the newest page. */
        cursor: timelineCursorSchema.nullish(),
      }),
    )
    .output(machineTimelineOutput)
    .query(({ ctx, input }) => machineTimeline(ctx.db.prisma, input)),
  get: viewerProcedure
    .meta({ rings: "machine" })
    .input(machineRefInput)
    .output(machineDetailSchema)
    .query(({ ctx, input }) => getMachine(ctx.db.prisma, input.machineId, ctx.clock, ctx.actor)),
  move: operatorProcedure
    .meta({ rings: ["machines", "ring"] })
    .input(moveMachinesInput)
    .output(machineActionOutputs.move)
    .mutation(({ ctx, input }) => moveMachinesToRing(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** Its installed Flatpak apps and runtimes as last reported (protocol v1.2), with version, update state, health and pin. */
  apps: viewerProcedure
    .meta({ rings: "machine" })
    .input(machineRefInput)
    .output(machineAppsOutput)
    .query(({ ctx, input }) => listMachineApps(ctx.db.prisma, input)),
  pinApp: operatorProcedure
    .meta({ rings: "machine" })
    .input(pinMachineAppInput)
    .output(z.object({ machineId: z.string(), ref: z.string(), pinned: z.string() }))
    .mutation(({ ctx, input }) => pinMachineApp(ctx.db.prisma, ctx.actor, input)),
  unpinApp: operatorProcedure
    .meta({ rings: "machine" })
    .input(unpinMachineAppInput)
    .output(z.object({ machineId: z.string(), ref: z.string(), pinned: z.null() }))
    .mutation(({ ctx, input }) => unpinMachineApp(ctx.db.prisma, ctx.actor, input)),
  pin: operatorProcedure
    .meta({ rings: "machine" })
    .input(pinInput)
    .output(machineActionOutputs.pin)
    .mutation(({ ctx, input }) => pinMachine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** What unpinning (or releasing a rollback hold) would send the machine, and whether its agent would refuse it as a downgrade. */
  unpinPreview: viewerProcedure
    .meta({ rings: "machine" })
    .input(machineRefInput)
    .output(unpinPreviewOutput)
    .query(({ ctx, input }) => previewUnpin(ctx.db.prisma, input.machineId)),
  unpin: operatorProcedure
    .meta({ rings: "machine" })
    .input(unpinInput)
    .output(machineActionOutputs.unpin)
    .mutation(({ ctx, input }) => unpinMachine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  rollback: operatorProcedure
    .meta({ rings: "machine" })
    .input(machineActionInput)
    .output(machineActionOutputs.rollback)
    .mutation(({ ctx, input }) => rollbackMachine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** Bulk actions of the machines page: all the machines or none, one audit row each. */
  pinMany: operatorProcedure
    .meta({ rings: "machines" })
    .input(bulkPinInput)
    .output(machineActionOutputs.pinMany)
    .mutation(({ ctx, input }) => pinMachines(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  unpinMany: operatorProcedure
    .meta({ rings: "machines" })
    .input(bulkMachinesInput)
    .output(machineActionOutputs.many)
    .mutation(({ ctx, input }) => unpinMachines(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  rollbackMany: operatorProcedure
    .meta({ rings: "machines" })
    .input(bulkMachinesInput)
    .output(machineActionOutputs.many)
    .mutation(({ ctx, input }) => rollbackMachines(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** Set or remove a machine's labels. */
  setLabels: operatorProcedure
    .meta({ rings: "machine" })
    .input(setLabelsInput)
    .output(machineActionOutputs.setLabels)
    .mutation(({ ctx, input }) => setMachineLabels(ctx.db.prisma, ctx.actor, input)),
  retire: operatorProcedure
    .meta({ rings: "machine" })
    .input(retireMachineInput)
    .output(machineActionOutputs.retire)
    .mutation(({ ctx, input }) => retireMachine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** A re-image: the machine may enroll again without its key's proof (also when retired), for 24 hours. */
  allowReenroll: operatorProcedure
    .meta({ rings: "machine" })
    .input(retireMachineInput)
    .output(machineActionOutputs.allowReenroll)
    .mutation(({ ctx, input }) => allowReenroll(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  /** A DDI device's new target token (its previous ones revoked), shown once. */
  issueTargetToken: operatorProcedure
    .meta({ rings: "machine" })
    .input(retireMachineInput)
    .output(machineActionOutputs.targetToken)
    .mutation(({ ctx, input }) => issueTargetToken(ctx.db.prisma, ctx.actor, input, ctx.clock)),
});
