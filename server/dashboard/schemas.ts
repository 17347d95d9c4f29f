// The dashboard's answers: each procedure's `.output()`, and the REST API's response schemas.
import { z } from "zod";
import { rolloutSummarySchema } from "../rollouts/schemas";

const attentionRowSchema = z.object({
  machineId: z.string(),
  hostname: z.string(),
  ring: z.string().nullable(),
  /** Since when it is in this state. */
  since: z.date().nullable(),
  detail: z.string().nullable(),
});

export const fleetSummaryOutput = z.object({
  serverTime: z.date(),
  /** When online, offline and stuck were counted: up to a few seconds before serverTime on a large fleet (server/dashboard/liveness.ts). */
  livenessAt: z.date(),
  /** Machines (not retired). */
  total: z.number().int(),
  online: z.number().int(),
  offline: z.number().int(),
  /** Machines by health status. */
  byHealth: z.record(z.string(), z.number().int()),
  /** Machines by update state. */
  byUpdateState: z.record(z.string(), z.number().int()),
  /** Per ring (null: in no ring), in the rings' order: machines by booted version ("not reported" for none). */
  versionsByRing: z.array(
    z.object({ ring: z.string().nullable(), versions: z.record(z.string(), z.number().int()), total: z.number().int(), online: z.number().int() }),
  ),
  activeRollouts: z.array(rolloutSummarySchema),
  /** What an operator should look at, newest first, at most 25 of each. */
  attention: z.object({
    dark: z.array(attentionRowSchema),
    darkCount: z.number().int(),
    rolledBack: z.array(attentionRowSchema),
    failed: z.array(attentionRowSchema),
    failing: z.array(attentionRowSchema),
    stuck: z.array(attentionRowSchema),
    stuckCount: z.number().int(),
    stuckAfterSeconds: z.number().int(),
  }),
});
