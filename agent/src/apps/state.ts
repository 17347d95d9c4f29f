// What the agent keeps on disk about the apps it manages (protocol 1.2): part
// of the agent's state file, so that an app's state and the event that tells
// of it land in one atomic write.
import { z } from "zod";
import { appUpdateStates, checksumSchema, flatpakRefSchema, healthCheckSchema, healthStatuses } from "../../../server/protocol/v1.ts";

const appHealthSchema = z.object({ status: z.enum(healthStatuses), checks: z.array(healthCheckSchema) });

/** The last change the agent made or tried for one app the console asked for. */
export const appRecordSchema = z.object({
  state: z.enum(appUpdateStates),
  targetCommit: checksumSchema.nullable(),
  /** The commit active before this change; null: the app was not installed (a first install). */
  previousCommit: checksumSchema.nullable(),
  error: z.string().nullable(),
  /** When the app's checks began their grace period (agent clock), so that a restart keeps it. */
  verifyingSince: z.string().nullable(),
  health: appHealthSchema.nullable(),
  /** Failed attempts at this target in a row, and when (agent clock) the next may start. */
  attempts: z.number().int().min(0),
  retryAt: z.string().nullable(),
  /** The runtimes installed before this change: those that are there after it came with the app. */
  runtimesBefore: z.array(z.string()).default([]),
  /** The checks failed and the app goes back to `previousCommit` (`error` and `health` say why): a restart finishes it. */
  reverting: z.boolean().default(false),
});
export type AppRecord = z.infer<typeof appRecordSchema>;

/** A target not tried again while the console's answer still names it. */
const failedTargetSchema = z.object({
  ref: flatpakRefSchema,
  commit: checksumSchema,
  /** Refused as a downgrade: tried when an answer allows the downgrade. */
  downgrade: z.boolean(),
});

export const appsRecordSchema = z.object({
  /** A console has sent `apps` in an answer: check-ins carry `apps`, and app events are sent, from then on. */
  consoleSentApps: z.boolean(),
  /** App refs the agent installed because a console asked (written before the install starts). */
  managed: z.array(flatpakRefSchema),
  /** Runtimes installed along with managed apps, by ref: the managed apps that use them. */
  runtimes: z.record(z.string(), z.array(flatpakRefSchema)),
  /** The last change per app ref. */
  apps: z.record(z.string(), appRecordSchema),
  failed: z.array(failedTargetSchema),
});
export type AppsRecord = z.infer<typeof appsRecordSchema>;

export function emptyApps(): AppsRecord {
  return { consoleSentApps: false, managed: [], runtimes: {}, apps: {}, failed: [] };
}
