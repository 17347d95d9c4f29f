import { getMachine, listMachines, moveMachinesToRing, retireMachine } from "../../machines/machines";
import { listMachinesInput, machineRefInput, moveMachinesInput, retireMachineInput } from "../../machines/schemas";
import { z } from "zod";
import { machineTimeline } from "../../machines/timeline";
import { pinMachine, rollbackMachine, unpinMachine } from "../../rollouts/machine-actions";
import { machineActionInput, pinInput } from "../../rollouts/schemas";
import { operatorProcedure, router, viewerProcedure } from "../init";

export const machinesRouter = router({
  list: viewerProcedure
    .input(listMachinesInput)
    .query(({ ctx, input }) => listMachines(ctx.db.prisma, input, ctx.clock)),
  timeline: viewerProcedure
    .input(machineRefInput.extend({ limit: z.number().int().min(1).max(500).default(100) }))
    .query(({ ctx, input }) => machineTimeline(ctx.db.prisma, input)),
  get: viewerProcedure
    .input(machineRefInput)
    .query(({ ctx, input }) => getMachine(ctx.db.prisma, input.machineId, ctx.clock)),
  move: operatorProcedure
    .input(moveMachinesInput)
    .mutation(({ ctx, input }) => moveMachinesToRing(ctx.db.prisma, ctx.actor, input)),
  pin: operatorProcedure.input(pinInput).mutation(({ ctx, input }) => pinMachine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  unpin: operatorProcedure
    .input(machineActionInput)
    .mutation(({ ctx, input }) => unpinMachine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  rollback: operatorProcedure
    .input(machineActionInput)
    .mutation(({ ctx, input }) => rollbackMachine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
  retire: operatorProcedure
    .input(retireMachineInput)
    .mutation(({ ctx, input }) => retireMachine(ctx.db.prisma, ctx.actor, input, ctx.clock)),
});
