import { z } from "zod";
import { labelKeySchema, refSchema } from "../protocol/v1";
import { blackoutDateSchema, maintenanceWindowSchema, timeZoneSchema } from "../rollouts/windows";
import { versionSchema } from "../releases/schemas";

export const ringNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "expected 1 to 40 characters of [a-z0-9-], such as canary");

export const ringPolicySchema = z.object({
  rebootSlots: z.number().int().min(1, "at least 1").max(10_000, "at most 10000"),
  rebootLeaseSeconds: z.number().int().min(30, "at least 30 seconds").max(86_400, "at most a day"),
  checkInIntervalSeconds: z.number().int().min(5, "at least 5 seconds").max(86_400, "at most a day"),
  timeZone: timeZoneSchema,
  maintenanceWindows: z.array(maintenanceWindowSchema).max(50, "at most 50 windows"),
  blackoutDates: z.array(blackoutDateSchema).max(366, "at most 366 dates"),
  /** Reboot slots count per value of this machine label (a failure domain such as site); null: per ring. */
  failureDomainLabel: labelKeySchema.nullable(),
});

export const createRingInput = z.object({
  name: ringNameSchema,
  branch: refSchema,
  /** Place the new ring right after this one; last when unset. */
  after: ringNameSchema.optional(),
  ...ringPolicySchema.partial().shape,
});
export type CreateRingInput = z.infer<typeof createRingInput>;

export const setRingReleaseInput = z.object({
  ring: ringNameSchema,
  version: versionSchema,
  reason: z.string().max(500).optional(),
});
export type SetRingReleaseInput = z.infer<typeof setRingReleaseInput>;

export const updateRingPolicyInput = z.object({
  ring: ringNameSchema,
  ...ringPolicySchema.partial().shape,
});
export type UpdateRingPolicyInput = z.infer<typeof updateRingPolicyInput>;

export const reshuffleRingInput = z.object({
  ring: ringNameSchema,
  reason: z.string().max(500).optional(),
});

export const renameRingInput = z.object({
  ring: ringNameSchema,
  /** The new name: the same rule as a new ring's. */
  name: ringNameSchema,
  reason: z.string().max(500).optional(),
});
export type RenameRingInput = z.infer<typeof renameRingInput>;

/** One ring moved right before or after another, or every ring in a new order. */
export const reorderRingsInput = z
  .object({
    ring: ringNameSchema.optional(),
    before: ringNameSchema.optional(),
    after: ringNameSchema.optional(),
    /** Every ring, each once, in the new rollout order. */
    order: z.array(ringNameSchema).min(1, "names every ring").max(1000).optional(),
    reason: z.string().max(500).optional(),
  })
  .superRefine((input, ctx) => {
    const moves = [input.before, input.after, input.order].filter((v) => v !== undefined).length;
    if (moves !== 1) {
      ctx.addIssue({ code: "custom", path: input.order ? ["order"] : ["before"], message: "give one of before, after or order" });
    } else if (!input.order && !input.ring) {
      ctx.addIssue({ code: "custom", path: ["ring"], message: "the ring to move, with before or after" });
    } else if (input.order && input.ring) {
      ctx.addIssue({ code: "custom", path: ["ring"], message: "an order names every ring: leave ring out" });
    }
  });
export type ReorderRingsInput = z.infer<typeof reorderRingsInput>;

export const removeRingInput = z.object({
  ring: ringNameSchema,
  reason: z.string().max(500).optional(),
});
export type RemoveRingInput = z.infer<typeof removeRingInput>;
