import { z } from "zod";
import { labelKeySchema, labelsSchema, machineIdSchema } from "../protocol/v1";
import { APP_ANSWER_SOURCES } from "../apps/desired-apps";
import { versionSchema } from "../releases/schemas";
import { actionAllowedSchema, ringNameSchema } from "../rings/schemas";
import { ANSWER_SOURCES } from "../agents/desired";
import { ANSWER_KINDS, ANSWER_TONES } from "../agents/explain";
import { AgentEventType, Backend } from "../db/generated/enums";
import { HEALTH_STATUSES, MACHINE_STEPS, MAX_MATCHING, ROLLOUT_STATES, UPDATE_STATES } from "../vocabulary";

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
  /** Has this Flatpak app (or runtime) installed: its ref, exactly (protocol v1.2). */
  app: z.string().trim().min(1).max(255, "at most 255 characters").regex(PRINTABLE, "no control characters").optional(),
  /** With `app`: runs this release of it (a version of the app's ref). */
  appVersion: z.string().trim().min(1).max(128, "at most 128 characters").regex(PRINTABLE, "no control characters").optional(),
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
  /**
   * Count every machine the filter matches, however many. Otherwise a filter
   * on more than ring, health, update state and version is counted up to
   * TOTAL_CAP (the answer says whether its total is exact).
   */
  exactTotal: z.boolean().default(false),
});
export type ListMachinesInput = z.input<typeof listMachinesInput>;

export const machineRefInput = z.object({ machineId: machineIdSchema });

export { MAX_MATCHING };

/**
 * A list's total is counted up to this many machines, unless the filter is
 * one machine_counts answers (ring, health, update state, version) or the
 * caller asks for the exact total: past it the total is "more than
 * 10,000", as many as a bulk action may act on.
 */
export const TOTAL_CAP = MAX_MATCHING;

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

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas (server/api/openapi.ts).
// Dates are Dates here; the REST API sends them as ISO 8601 strings.

/** A machine's labels as stored: key → value. */
export const machineLabelsSchema = z.record(z.string(), z.string());

/** A deployment as the agent last reported it (protocol v1 `deployments[]`). */
export const reportedDeploymentSchema = z.object({
  checksum: z.string(),
  ref: z.string(),
  version: z.string().nullable().optional(),
  booted: z.boolean(),
  staged: z.boolean().optional(),
  pinned: z.boolean().optional(),
});

/** A health check as the agent last reported it, with its (truncated) output. */
export const reportedHealthCheckSchema = z.object({
  name: z.string(),
  status: z.enum(["pass", "warn", "fail"]),
  output: z.string().nullable().optional(),
});

/** Set by a revert or an operator's rollback: boot this previous deployment. */
export const rollbackTargetSchema = z.object({
  checksum: z.string(),
  ref: z.string().nullable(),
  version: z.string().nullable(),
  reason: z.string(),
  /** Stay there until an operator releases the machine, or move on once booted. */
  hold: z.boolean(),
});

/** A row of the machines table. */
export const machineRowSchema = z
  .object({
    machineId: z.string(),
    hostname: z.string(),
    backend: z.enum(Backend),
    agentVersion: z.string(),
    labels: machineLabelsSchema,
    lastSeenAt: z.date().nullable(),
    enrolledAt: z.date(),
    bootedVersion: z.string().nullable(),
    bootedChecksum: z.string().nullable(),
    bootedRef: z.string().nullable(),
    updateState: z.enum(UPDATE_STATES),
    /** 0 to 1 while downloading, as the agent reports it. */
    updateProgress: z.number().nullable(),
    healthStatus: z.enum(HEALTH_STATUSES),
    ring: z.string().nullable(),
    /** Checked in within three of its ring's check-in intervals. */
    online: z.boolean(),
  })
  .meta({ id: "MachineRow" });

export const machineListOutput = z.object({
  /** Machines the filter matches: exactly, or (totalExact false) at least this many, TOTAL_CAP. */
  total: z.number().int(),
  /** Whether `total` is every match; false: more than `total` match (ask again with exactTotal to count them all). */
  totalExact: z.boolean(),
  page: z.number().int(),
  pageSize: z.number().int(),
  /** The `cursor` of the next page, or null on the last one. */
  nextCursor: z.string().nullable(),
  rows: z.array(machineRowSchema),
});

const desiredSchema = z.object({
  ref: z.string(),
  checksum: z.string(),
  version: z.string().nullable(),
  reason: z.string(),
  allowDowngrade: z.boolean().optional(),
});
const directiveSchema = z.object({ checksum: z.string(), reason: z.string() }).nullable();

/** The console's answer to the machine now, as its agent gets it, and in words. */
export const machineAnswerSchema = z.object({
  kind: z.enum(ANSWER_KINDS),
  tone: z.enum(ANSWER_TONES),
  title: z.string(),
  detail: z.string(),
  rolloutId: z.string().nullable(),
  action: z.enum(["none", "update", "rollback"]),
  desired: desiredSchema.nullable(),
  hold: directiveSchema,
  cancel: directiveSchema,
  /**
   * The answer's `apps` (protocol v1.2), each with where it comes from (its
   * pin, the ring's app rollout, the ring's app set, or its commit kept while
   * its release is braked); null: not sent, the machine's apps are left alone.
   */
  apps: z
    .array(
      z.object({
        ref: z.string(),
        commit: z.string(),
        version: z.string().nullable(),
        reason: z.string(),
        allowDowngrade: z.boolean(),
        source: z.enum(APP_ANSWER_SOURCES),
      }),
    )
    .nullable(),
});

/** One machine: the row's facts, its deployments, health checks, update error, recent events and rollouts, and its answer. */
export const machineDetailSchema = machineRowSchema
  .omit({ ring: true })
  .extend({
    osId: z.string().nullable(),
    osVersionId: z.string().nullable(),
    osArch: z.string().nullable(),
    bootId: z.string().nullable(),
    /** Check-ins since the machine last enrolled (its agent's seq). */
    lastSeq: z.number().int(),
    deployments: z.array(reportedDeploymentSchema),
    updateTarget: z.string().nullable(),
    updateError: z.string().nullable(),
    updateStateSince: z.date().nullable(),
    healthChecks: z.array(reportedHealthCheckSchema),
    retiredAt: z.date().nullable(),
    reenrollAllowedUntil: z.date().nullable(),
    pinnedAt: z.date().nullable(),
    pinAllowsDowngrade: z.boolean(),
    pinnedRelease: z
      .object({ version: z.string(), checksum: z.string(), quarantinedAt: z.date().nullable(), branch: z.object({ ref: z.string() }) })
      .nullable(),
    rollbackTo: rollbackTargetSchema.nullable(),
    ring: z
      .object({
        name: z.string(),
        checkInIntervalSeconds: z.number().int(),
        branch: z.object({ ref: z.string() }),
        currentRelease: z.object({ version: z.string(), checksum: z.string() }).nullable(),
      })
      .nullable(),
    rebootLease: z.object({ acquiredAt: z.date(), expiresAt: z.date() }).nullable(),
    /** Its last rollouts, newest first (waves numbered from 1). */
    rollouts: z.array(
      z.object({
        wave: z.number().int(),
        step: z.enum(MACHINE_STEPS),
        assignedAt: z.date(),
        finishedAt: z.date().nullable(),
        previousVersion: z.string().nullable(),
        detail: z.string().nullable(),
        rollout: z.object({ id: z.string(), state: z.enum(ROLLOUT_STATES), release: z.object({ version: z.string() }) }),
      }),
    ),
    tokens: z.array(z.object({ prefix: z.string(), createdAt: z.date(), lastUsedAt: z.date().nullable(), revokedAt: z.date().nullable() })),
    events: z.array(
      z.object({
        eventId: z.string(),
        type: z.enum(AgentEventType),
        at: z.date(),
        receivedAt: z.date(),
        checksum: z.string().nullable(),
        detail: z.string().nullable(),
      }),
    ),
    /** It proves itself with a key when it enrolls again (protocol v1.1). */
    hasKey: z.boolean(),
    /** What a rollback would boot (null: nothing to go back to). */
    previousDeployment: reportedDeploymentSchema.nullable(),
    answer: machineAnswerSchema,
    /** What the caller may do to the machine now, and why not. */
    actions: z.object({
      move: actionAllowedSchema,
      pin: actionAllowedSchema,
      unpin: actionAllowedSchema,
      rollback: actionAllowedSchema,
      retire: actionAllowedSchema,
      allowReenroll: actionAllowedSchema,
      setLabels: actionAllowedSchema,
      issueTargetToken: actionAllowedSchema,
    }),
    /** Labels its agent cannot set for itself (a ring's failure domain), with why. */
    reservedLabels: z.array(z.object({ key: z.string(), why: z.string() })),
  })
  .meta({ id: "Machine" });

const timelineEntry = <S extends string, F extends z.ZodRawShape>(source: S, fields: F) =>
  z.object({
    /** The entry's place in the timeline; as `cursor`, it asks for the entries older than this one. */
    key: z.string(),
    at: z.date(),
    source: z.literal(source),
    kind: z.string(),
    ...fields,
  });

export const timelineItemSchema = z.discriminatedUnion("source", [
  timelineEntry("state", { before: z.string().nullable(), after: z.string().nullable(), detail: z.string().nullable() }),
  /** `ref`: the Flatpak app an app.* event is about (protocol v1.2). */
  timelineEntry("event", { detail: z.string().nullable(), checksum: z.string().nullable(), ref: z.string().nullable(), agentTime: z.date() }),
  timelineEntry("rollout", { rolloutId: z.string(), release: z.string(), wave: z.number().int(), detail: z.string().nullable() }),
  timelineEntry("operator", { actor: z.string(), reason: z.string().nullable(), before: z.unknown(), after: z.unknown() }),
]);
export type TimelineItem = z.output<typeof timelineItemSchema>;

export const machineTimelineOutput = z.object({
  checkins: z.object({ enrolledAt: z.date(), lastSeenAt: z.date().nullable(), count: z.number().int() }),
  /** Newest first. */
  items: z.array(timelineItemSchema),
  /** The cursor of the next, older page; null when nothing is older. */
  nextCursor: z.string().nullable(),
});

/** What one machine's action did. */
export const machineActionOutputs = {
  pin: z.object({ machineId: z.string(), pinned: z.string() }),
  unpin: z.object({ machineId: z.string(), pinned: z.null() }),
  rollback: z.object({ machineId: z.string(), rollbackTo: rollbackTargetSchema }),
  retire: z.object({ machineId: z.string(), retired: z.boolean() }),
  setLabels: z.object({ machineId: z.string(), labels: machineLabelsSchema }),
  allowReenroll: z.object({ machineId: z.string(), reenrollAllowedUntil: z.date() }),
  /** A DDI device's new target token, shown this once (server/ddi/target-tokens.ts). */
  targetToken: z.object({ machineId: z.string(), targetToken: z.string(), prefix: z.string() }),
  move: z.object({ moved: z.number().int() }),
  pinMany: z.object({ count: z.number().int(), pinned: z.string() }),
  /** unpinMany, rollbackMany */
  many: z.object({ count: z.number().int() }),
};

export const unpinPreviewOutput = z.object({
  machineId: z.string(),
  ring: z.string().nullable(),
  /** Where its answer would come from: its pin, a rollback, a rollout, its ring, or nothing. */
  follows: z.enum(ANSWER_SOURCES),
  action: z.enum(["none", "update", "rollback"]),
  desired: z.object({ version: z.string().nullable(), checksum: z.string(), reason: z.string() }).nullable(),
  /** Its agent would refuse this as a downgrade unless the unpin allows it. */
  downgrade: z.object({ from: z.string(), to: z.string().nullable() }).nullable(),
});
