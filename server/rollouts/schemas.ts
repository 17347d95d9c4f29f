import { z } from "zod";
import { labelsSchema, machineIdSchema } from "../protocol/v1";
import { versionSchema } from "../releases/schemas";
import { actionAllowedSchema, ringNameSchema } from "../rings/schemas";
import { rolloutPolicyFields } from "./policy";
import { HEALTH_STATUSES, MACHINE_BACKENDS, MACHINE_STEPS, type MachineStep, PAUSED_BY, RING_PHASES, ROLLOUT_STATES, SIGNATURE_STATES } from "../vocabulary";

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
    ...rolloutPolicyFields,
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

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas.

/** Machines by step: one count for every step. */
export const stepCountsSchema = z
  .object(Object.fromEntries(MACHINE_STEPS.map((step) => [step, z.number().int()])) as Record<MachineStep, z.ZodNumber>)
  .meta({ id: "StepCounts" });

const progressSchema = z.object({
  /** Machines with a row, by step. */
  steps: stepCountsSchema,
  /** Eligible machines of rings still to go that no wave has reached. */
  notReached: z.number().int(),
  /** Every machine of the rollout: with a row, or not reached yet. */
  total: z.number().int(),
});

const rolloutSummaryFields = {
  id: z.string(),
  state: z.enum(ROLLOUT_STATES),
  pauseReason: z.string().nullable(),
  pausedBy: z.string().nullable().describe(`who paused it: ${PAUSED_BY.join(", ")}`),
  /** What an awaiting rollout waits for. */
  waitingFor: z.string().nullable(),
  allowDowngrade: z.boolean(),
  createdBy: z.string(),
  createdAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
  release: z.object({ version: z.string(), checksum: z.string(), quarantinedAt: z.date().nullable(), branch: z.object({ ref: z.string() }) }),
  progress: progressSchema,
};

/** A rollout in a list: its rings' phases and current waves, and its machines by step. */
export const rolloutSummarySchema = z
  .object({
    ...rolloutSummaryFields,
    rings: z.array(
      z.object({
        ring: z.object({ name: z.string() }),
        phase: z.enum(RING_PHASES),
        /** The newest open wave, from 1; null before the first opens. */
        currentWave: z.number().int().nullable(),
        /** How many waves the ring has. */
        waves: z.number().int(),
      }),
    ),
  })
  .meta({ id: "RolloutSummary" });

export const rolloutListOutput = z.object({ total: z.number().int(), rows: z.array(rolloutSummarySchema) });


/** One rollout with per-ring, per-wave progress, what may be done to it now and what goes on next. */
export const rolloutDetailSchema = z
  .object({
    ...rolloutSummaryFields,
    /** The row's version, counted up by each change. */
    version: z.number().int(),
    serverTime: z.date(),
    rings: z.array(
      z.object({
        ringId: z.string(),
        ring: z.object({ name: z.string() }),
        position: z.number().int(),
        phase: z.enum(RING_PHASES),
        currentWave: z.number().int().nullable(),
        waveOpenedAt: z.date().nullable(),
        singleFirst: z.boolean(),
        percents: z.array(z.number()),
        soakSeconds: z.number().int(),
        maxFailureRate: z.number(),
        minSample: z.number().int(),
        darkAfterSeconds: z.number().int(),
        approvalRequired: z.boolean(),
        approvedAt: z.date().nullable(),
        approvedBy: z.string().nullable(),
        forceFirst: selectorSchema,
        exclude: selectorSchema,
        startedAt: z.date().nullable(),
        completedAt: z.date().nullable(),
        /** Its eligible machines. */
        machines: z.number().int(),
        steps: stepCountsSchema,
        notReached: z.number().int(),
        total: z.number().int(),
        waves: z.array(
          z.object({
            /** From 1. */
            number: z.number().int(),
            label: z.string(),
            open: z.boolean(),
            current: z.boolean(),
            /** The wave starts its machines a few at a time until then (ORCHARD_WAVE_STARTS a second); null: all have started, or held. */
            startingUntil: z.date().nullable(),
            /** It starts no more for now: ORCHARD_WAVE_AT_WORK of the ring's machines are at work. */
            startingHeld: z.boolean(),
            steps: stepCountsSchema,
          }),
        ),
      }),
    ),
    actions: z.object({
      pause: actionAllowedSchema,
      resume: actionAllowedSchema,
      approve: actionAllowedSchema,
      abort: actionAllowedSchema,
      revert: actionAllowedSchema,
      /** Reverting one ring, by ring name. */
      revertRing: z.record(z.string(), actionAllowedSchema),
    }),
    /** Why the caller may do nothing to this rollout (some of its rings are outside theirs), or null. */
    readOnly: z.string().nullable(),
    /** What goes on when the rollout runs (or resumes). */
    next: z.string().nullable(),
  })
  .meta({ id: "Rollout" });

export const revertOutput = rolloutDetailSchema.extend({ /** Machines sent back to their previous deployment. */ revertedMachines: z.number().int() });

const previewMachineSchema = z.object({
  machineId: z.string(),
  hostname: z.string(),
  /** Its fixed place in [0, 1) in the ring's cohort order. */
  cohort: z.number(),
  online: z.boolean(),
  pinned: z.boolean(),
  bootedVersion: z.string().nullable(),
  /** Boots it needs to reach the release: more than one through floors or around a blocked path, 0 when already on it or no allowed path reaches it. */
  hops: z.number().int(),
});

/** The dry run: which machines land in which wave of which ring (a sample of each wave, and its count). */
export const rolloutPreviewOutput = z.object({
  release: z.object({
    version: z.string(),
    ref: z.string(),
    checksum: z.string(),
    quarantined: z.boolean(),
    signatureState: z.enum(SIGNATURE_STATES),
    /** Whether it may be sent at all (a rollout of it would be refused otherwise), and why not. */
    sendable: z.boolean(),
    unsendableReason: z.string().nullable(),
  }),
  /** The plan with its defaults filled in. */
  plan: rolloutPlanInput,
  rings: z.array(
    z.object({
      ring: z.string(),
      branch: z.string(),
      currentRelease: z.string().nullable(),
      /** The release is on another branch than the ring's. */
      rebase: z.boolean(),
      downgrade: z.boolean(),
      machines: z.number().int(),
      waves: z.array(z.object({ number: z.number().int(), label: z.string(), count: z.number().int(), machines: z.array(previewMachineSchema) })),
      excluded: z.array(previewMachineSchema),
      excludedCount: z.number().int(),
      /** Machines that boot one or more floors (or go around a blocked path) on their way. */
      multiHop: z.number().int(),
      /** Machines no allowed path takes to the release: they are sent nothing. */
      noPath: z.number().int(),
    }),
  ),
});

export const rolloutMachinesOutput = z.object({
  rows: z.array(
    z.object({
      wave: z.number().int(),
      step: z.enum(MACHINE_STEPS),
      assignedAt: z.date(),
      finishedAt: z.date().nullable(),
      previousVersion: z.string().nullable(),
      detail: z.string().nullable(),
      machine: z.object({
        machineId: z.string(),
        hostname: z.string(),
        /** How it is updated: the list marks a machine whose own updater speaks to the console (Zincati, SWUpdate). */
        backend: z.enum(MACHINE_BACKENDS),
        bootedVersion: z.string().nullable(),
        healthStatus: z.enum(HEALTH_STATUSES),
        ring: z.object({ name: z.string() }).nullable(),
      }),
    }),
  ),
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
  /** An app rollout: each machine's version and health are the app's, as the machine reports it. */
  appRollout: z.boolean(),
});

const healthSideSchema = z.object({
  machines: z.number().int(),
  healthy: z.number().int(),
  degraded: z.number().int(),
  unhealthy: z.number().int(),
  unknown: z.number().int(),
  unhealthyRate: z.number(),
});

export const healthComparisonOutput = z.array(
  z.object({
    ring: z.string(),
    newRelease: healthSideSchema,
    oldRelease: healthSideSchema,
    rollout: z.object({
      finished: z.number().int(),
      failed: z.number().int(),
      rolledBack: z.number().int(),
      dark: z.number().int(),
      failureRate: z.number(),
      rollbackRate: z.number(),
    }),
  }),
);

export const rolloutActionPreviewOutput = z.object({
  onTheirWay: z.number().int(),
  rebooting: z.number().int(),
  booted: z.number().int(),
  waiting: z.number().int(),
});

export const brakeOutput = z.object({
  version: z.string(),
  quarantined: z.boolean(),
  rolloutsStopped: z.number().int(),
  machinesReverted: z.number().int(),
  machinesCancelled: z.number().int(),
});

export const brakePreviewOutput = z.object({
  version: z.string(),
  ref: z.string(),
  quarantined: z.boolean(),
  rollouts: z.number().int(),
  cancel: z.number().int(),
  rebooting: z.number().int(),
  booted: z.number().int(),
});

export const liftQuarantineOutput = z.object({ version: z.string(), quarantined: z.boolean() });
