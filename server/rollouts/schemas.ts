import { z } from "zod";
import { labelsSchema, machineIdSchema } from "../protocol/v1";
import { versionSchema } from "../releases/schemas";
import { ringNameSchema } from "../rings/schemas";
import { ROLLOUT_STATES } from "../vocabulary";

export const selectorSchema = z.object({
  machineIds: z.array(machineIdSchema).max(10_000, "at most 10000 machines").default([]),
  /** Machines whose labels include every one of these. */
  labels: labelsSchema.default({}),
});
export type Selector = z.infer<typeof selectorSchema>;

export const rolloutPlanInput = z
  .object({
    /** The release's version; `ref` disambiguates when several branches have it. */
    version: versionSchema,
    ref: z.string().optional(),
    rings: z.array(ringNameSchema).min(1, "at least one ring").max(20, "at most 20 rings"),
    /** Percentages of each ring, ascending, ending at 100. */
    waves: z
      .array(z.number().int("whole percentages").min(1, "at least 1 %").max(100, "at most 100 %"))
      .min(1, "at least one wave")
      .max(10, "at most 10 waves")
      .default([10, 50, 100])
      .refine((w) => w.every((p, i) => i === 0 || p > w[i - 1]), "waves must grow")
      .refine((w) => w.at(-1) === 100, "the last wave must be 100"),
    singleFirst: z.boolean().default(true),
    soakSeconds: z.number().int().min(0).max(30 * 86_400, "at most 30 days").default(1800),
    maxFailureRate: z.number().min(0, "between 0 and 1").max(1, "between 0 and 1").default(0.05),
    minSample: z.number().int().min(1, "at least 1").max(100_000).default(5),
    darkAfterSeconds: z.number().int().min(60, "at least a minute").max(7 * 86_400, "at most a week").default(1800),
    /** An operator approves before each ring after the first. */
    approveBetween: z.boolean().default(false),
    forceFirst: selectorSchema.default({ machineIds: [], labels: {} }),
    exclude: selectorSchema.default({ machineIds: [], labels: {} }),
    /** The release is older than what a ring runs: roll forward to known-good. */
    allowDowngrade: z.boolean().default(false),
  })
  .refine((p) => new Set(p.rings).size === p.rings.length, { message: "a ring appears twice", path: ["rings"] });
export type RolloutPlanInput = z.input<typeof rolloutPlanInput>;
export type RolloutPlan = z.output<typeof rolloutPlanInput>;

export const startRolloutInput = rolloutPlanInput.and(z.object({ reason: z.string().max(500).optional() }));
export type StartRolloutInput = z.input<typeof startRolloutInput>;

export const rolloutActionInput = z.object({
  rolloutId: z.string().min(1),
  reason: z.string().max(500).optional(),
});
export type RolloutActionInput = z.infer<typeof rolloutActionInput>;

export const revertInput = rolloutActionInput.extend({
  /** Only this ring of the rollout; the whole rollout when unset. */
  ring: ringNameSchema.optional(),
});
export type RevertInput = z.infer<typeof revertInput>;

export const listRolloutsInput = z.object({
  state: z.enum(ROLLOUT_STATES).optional(),
  page: z.number().int().min(0).default(0),
  pageSize: z.number().int().min(1).max(200).default(50),
});

export const pinInput = z.object({
  machineId: machineIdSchema,
  version: versionSchema,
  /** The release's branch, when several branches have this version. */
  ref: z.string().optional(),
  /** Pinning to an older release than the machine runs is a roll-forward to known-good. */
  allowDowngrade: z.boolean().default(false),
  reason: z.string().max(500).optional(),
});
export type PinInput = z.input<typeof pinInput>;

export const machineActionInput = z.object({
  machineId: machineIdSchema,
  reason: z.string().max(500).optional(),
});

export const unpinInput = machineActionInput.extend({
  /** The machine runs a newer release than its ring: let it go down to the ring's release. */
  allowDowngrade: z.boolean().default(false),
});

export const brakeInput = z.object({
  version: versionSchema,
  ref: z.string().optional(),
  /** Also revert every machine the release's rollouts touched. */
  revert: z.boolean().default(false),
  reason: z.string().max(500).optional(),
});
export type BrakeInput = z.input<typeof brakeInput>;

export const liftQuarantineInput = z.object({
  version: versionSchema,
  ref: z.string().optional(),
  /** Why the release is safe again: the audit log keeps it. */
  reason: z.string().trim().min(1, "say why the release is safe again").max(500),
});
export type LiftQuarantineInput = z.input<typeof liftQuarantineInput>;
