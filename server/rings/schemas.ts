import { z } from "zod";
import { labelKeySchema, refSchema } from "../protocol/v1";
import { blackoutDateSchema, maintenanceWindowSchema, timeZoneSchema } from "../rollouts/windows";
import { versionSchema } from "../releases/schemas";
import { rolloutPolicyChange, rolloutPolicySchema } from "../rollouts/policy";
import { UPDATE_STATES } from "../vocabulary";

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

/** Follow mode and the ring's default rollout policy (what its follow rollouts use). */
export const ringFollowSchema = z.object({
  /** A new release its branch's source brings, signed by the source's key, starts a rollout by itself. */
  follow: z.boolean(),
  /** A follow rollout waits for an operator's approval before this ring (never before the first following ring). */
  followApproval: z.boolean(),
});

export const updateRingPolicyInput = z.object({
  ring: ringNameSchema,
  ...ringPolicySchema.partial().shape,
  ...ringFollowSchema.partial().shape,
  /** The parts of the default rollout policy to change; the others stay. */
  rolloutPolicy: rolloutPolicyChange.optional(),
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

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas.

/** Whether an action is possible now for the caller, and why not (in an operator's words): the console shows it as it is. */
export const actionAllowedSchema = z.object({ allowed: z.boolean(), why: z.string().nullable() }).meta({ id: "ActionAllowed" });

/** A ring with its branch, current release and policy. */
export const ringSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    /** Its place in the order of rings, from 0. */
    position: z.number().int(),
    rebootSlots: z.number().int(),
    rebootLeaseSeconds: z.number().int(),
    checkInIntervalSeconds: z.number().int(),
    timeZone: z.string(),
    maintenanceWindows: z.array(maintenanceWindowSchema),
    blackoutDates: z.array(z.string()),
    failureDomainLabel: z.string().nullable(),
    ...ringFollowSchema.shape,
    /** The default rollout policy: what its follow rollouts use. */
    rolloutPolicy: rolloutPolicySchema,
    /** Where its machines' cohorts come from (a reshuffle draws a new one). */
    cohortSeed: z.string(),
    updatedAt: z.date(),
    branch: z.object({ ref: z.string() }),
    currentRelease: z.object({ version: z.string(), checksum: z.string(), createdAt: z.date() }).nullable(),
  })
  .meta({ id: "Ring" });

export const ringListOutput = z.array(
  ringSchema.extend({
    /** Machines in the ring (not retired). */
    machines: z.number().int(),
    /** What the caller may do to the ring now (rename, reorder and remove are for callers on every ring). */
    actions: z.object({ rename: actionAllowedSchema, moveUp: actionAllowedSchema, moveDown: actionAllowedSchema, remove: actionAllowedSchema }),
  }),
);

export const renameRingOutput = z.object({
  ring: z.string(),
  previousName: z.string(),
  /** Users and API tokens whose ring scope named it, now naming the new name. */
  usersRescoped: z.number().int(),
  apiTokensRescoped: z.number().int(),
  warnings: z.array(z.string()),
});

/** The rollout order after the change. */
export const reorderRingsOutput = z.object({ order: z.array(z.string()), changed: z.boolean() });

export const removeRingOutput = z.object({
  ring: z.string(),
  removed: z.boolean(),
  enrollmentTokensRevoked: z.number().int(),
  usersRescoped: z.number().int(),
  apiTokensRescoped: z.number().int(),
  warnings: z.array(z.string()),
});

export const reshuffleRingOutput = z.object({ ring: z.string(), reshuffled: z.boolean() });

/** Who holds each reboot slot, since when, until when. */
export const rebootLeasesOutput = z.array(
  z.object({
    domain: z.string().nullable(),
    acquiredAt: z.date(),
    expiresAt: z.date(),
    ring: z.object({ name: z.string(), rebootSlots: z.number().int(), failureDomainLabel: z.string().nullable() }).nullable(),
    machine: z.object({ machineId: z.string(), hostname: z.string(), updateState: z.enum(UPDATE_STATES), lastSeenAt: z.date().nullable() }),
  }),
);

export const forceReleaseLeaseOutput = z.object({ machineId: z.string(), released: z.boolean() });
