import { z } from "zod";
import { labelKeySchema, labelsSchema, machineIdSchema } from "../protocol/v1";
import { versionSchema } from "../releases/schemas";
import { ringNameSchema } from "../rings/schemas";
import { HEALTH_STATUSES, UPDATE_STATES } from "../vocabulary";

export const healthFilterValues = HEALTH_STATUSES;
export const updateStateFilterValues = UPDATE_STATES;
// PostgreSQL text cannot hold NUL; no filter needs any control character.
const PRINTABLE = /^[^\u0000-\u001f\u007f]*$/;

/** Seen within 15 minutes; silent for more than an hour, a day or a week; never seen. */
export const lastSeenFilterValues = ["15m", "1h", "24h", "7d", "never"] as const;
export const LAST_SEEN_SECONDS = { "15m": 15 * 60, "1h": 3600, "24h": 86_400, "7d": 7 * 86_400 } as const;

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

/** The machines table's filters: what a list shows and what a bulk action on "every machine matching" acts on. */
export const machineFilterSchema = z.object({
  ring: ringNameSchema.optional(),
  health: z.enum(healthFilterValues).optional(),
  updateState: z.enum(updateStateFilterValues).optional(),
  /** Booted version, exactly. */
  version: z.string().trim().min(1).max(128, "at most 128 characters").regex(PRINTABLE, "no control characters").optional(),
  /** Booted branch (ostree ref), exactly. */
  branch: z.string().trim().min(1).max(255, "at most 255 characters").regex(PRINTABLE, "no control characters").optional(),
  /** One label as key=value. */
  label: z
    .string()
    .trim()
    .max(200, "at most 200 characters")
    .regex(/^[^=\s]+=.*$/, "a label as key=value")
    .regex(PRINTABLE, "no control characters")
    .optional(),
  /** When the machine last checked in. */
  lastSeen: z.enum(lastSeenFilterValues).optional(),
  /** Text search on hostname and machine id. */
  q: z.string().trim().max(128, "at most 128 characters").optional(),
});
export type MachineFilter = z.input<typeof machineFilterSchema>;

export const listMachinesInput = machineFilterSchema.extend({
  sort: z.enum(machineSortFields).default("hostname"),
  dir: z.enum(["asc", "desc"]).default("asc"),
  page: z.number().int().min(0).max(100_000).default(0),
  pageSize: z.number().int().min(1).max(200).default(50),
  /** Cursor paging: the page after this machine (a page's `nextCursor`), in the same order; instead of `page`. */
  cursor: machineIdSchema.optional(),
});
export type ListMachinesInput = z.input<typeof listMachinesInput>;

export const machineRefInput = z.object({ machineId: machineIdSchema });

/** At most this many machines match a bulk action's filter, all changed in one transaction. */
export const MAX_MATCHING = 10_000;

/** A bulk action names its machines, or acts on every machine its filter matches (in the caller's rings). */
function oneTarget(value: { machineIds?: string[]; matching?: unknown }, ctx: z.RefinementCtx) {
  if ((value.machineIds === undefined) === (value.matching === undefined)) {
    ctx.addIssue({ code: "custom", path: ["machineIds"], message: "name the machines, or give a filter as matching (not both)" });
  }
}

export const moveMachinesInput = z
  .object({
    machineIds: z.array(machineIdSchema).min(1, "at least one machine").max(MAX_MATCHING, `at most ${MAX_MATCHING} machines`).optional(),
    matching: machineFilterSchema.optional(),
    ring: ringNameSchema,
    reason: z.string().max(500).optional(),
  })
  .superRefine(oneTarget);
export type MoveMachinesInput = z.infer<typeof moveMachinesInput>;

export const retireMachineInput = z.object({
  machineId: machineIdSchema,
  reason: z.string().max(500).optional(),
});

/** The machines of a bulk action: the rows an operator ticked on the machines page. */
const bulkMachineIds = z
  .array(machineIdSchema)
  .min(1, "at least one machine")
  .max(200, "at most 200 machines at once")
  .refine((ids) => new Set(ids).size === ids.length, "each machine once");

const bulkMachinesFields = z.object({
  machineIds: bulkMachineIds.optional(),
  /** Every machine the filter matches (up to MAX_MATCHING), instead of machineIds. */
  matching: machineFilterSchema.optional(),
  reason: z.string().max(500, "at most 500 characters").optional(),
});
export const bulkMachinesInput = bulkMachinesFields.superRefine(oneTarget);
export type BulkMachinesInput = z.input<typeof bulkMachinesInput>;

export const bulkPinInput = bulkMachinesFields
  .extend({
  version: versionSchema,
  /** The release's branch, when several branches have this version. */
  ref: z.string().optional(),
  /** Pinning to an older release than a machine runs is a roll-forward to known-good. */
  allowDowngrade: z.boolean().default(false),
  })
  .superRefine(oneTarget);
export type BulkPinInput = z.input<typeof bulkPinInput>;

/** An operator's change to a machine's labels: keys set (or changed), keys removed. */
export const setLabelsInput = z
  .object({
    machineId: machineIdSchema,
    set: labelsSchema.default({}),
    remove: z.array(labelKeySchema).max(32, "at most 32 labels").default([]),
    reason: z.string().max(500).optional(),
  })
  .refine((v) => Object.keys(v.set).length > 0 || v.remove.length > 0, { path: ["set"], message: "set or remove at least one label" });
export type SetLabelsInput = z.input<typeof setLabelsInput>;
