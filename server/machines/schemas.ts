import { z } from "zod";
import { machineIdSchema } from "../protocol/v1";
import { ringNameSchema } from "../rings/schemas";

export const healthFilterValues = ["healthy", "degraded", "unhealthy", "unknown"] as const;
export const updateStateFilterValues = [
  "idle",
  "downloading",
  "staged",
  "rebooting",
  "verifying",
  "succeeded",
  "failed",
  "rolled_back",
] as const;
export const machineSortFields = [
  "hostname",
  "machineId",
  "ring",
  "health",
  "updateState",
  "version",
  "lastSeenAt",
  "enrolledAt",
] as const;
export type MachineSortField = (typeof machineSortFields)[number];

export const listMachinesInput = z.object({
  ring: ringNameSchema.optional(),
  health: z.enum(healthFilterValues).optional(),
  updateState: z.enum(updateStateFilterValues).optional(),
  /** Text search on hostname and machine id. */
  q: z.string().trim().max(128, "at most 128 characters").optional(),
  sort: z.enum(machineSortFields).default("hostname"),
  dir: z.enum(["asc", "desc"]).default("asc"),
  page: z.number().int().min(0).max(100_000).default(0),
  pageSize: z.number().int().min(1).max(200).default(50),
});
export type ListMachinesInput = z.input<typeof listMachinesInput>;

export const machineRefInput = z.object({ machineId: machineIdSchema });

export const moveMachinesInput = z.object({
  machineIds: z.array(machineIdSchema).min(1, "at least one machine").max(10_000, "at most 10000 machines"),
  ring: ringNameSchema,
  reason: z.string().max(500).optional(),
});
export type MoveMachinesInput = z.infer<typeof moveMachinesInput>;

export const retireMachineInput = z.object({
  machineId: machineIdSchema,
  reason: z.string().max(500).optional(),
});
