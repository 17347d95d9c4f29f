// Agent protocol v1: the zod schemas of every request and answer body.
// Normative text: docs/agent-protocol-v1.md. This file is shared by the
// console and the agent; it must import nothing but zod.
import { z } from "zod";

export const PROTOCOL_PREFIX = "/api/agent/v1";
export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_EVENTS_PER_CALL = 100;
/** v1.3: events a check-in may carry (the rest go by POST /events). */
export const MAX_EVENTS_PER_CHECKIN = 20;

/** A type error that tells a missing field from a wrong one. */
const typeError = (expected: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? "is required" : `expected ${expected}`;

const object = <T extends z.ZodRawShape>(shape: T) =>
  z.object(shape, { error: typeError("an object") });

export const checksumSchema = z
  .string({ error: typeError("a string") })
  .regex(/^[0-9a-f]{64}$/, "expected 64 hex characters");

/** An ostree ref such as `exampleos/x86_64/stable` (ostree's own character set). */
export const refSchema = z
  .string({ error: typeError("a string") })
  .min(1, "must not be empty")
  .max(255, "at most 255 characters")
  .regex(
    /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/,
    "expected an ostree ref: [A-Za-z0-9._-] segments separated by /",
  );

export const machineIdSchema = z
  .string({ error: typeError("a string") })
  .regex(/^[A-Za-z0-9._-]{1,128}$/, "expected 1 to 128 characters of [A-Za-z0-9._-]");

export const rfc3339Schema = z.iso.datetime({
  offset: true,
  error: typeError("an RFC 3339 time such as 2026-11-25T17:00:00Z"),
});

/** A NUL character (PostgreSQL text cannot hold it), or half of a surrogate pair (no character at all). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, "g");

/** True when the text can be stored and shown as it is. */
export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** Text as it can be stored: NUL characters dropped, half a surrogate pair replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE_ALL, (bad) => (bad === "\u0000" ? "" : "\uFFFD"));
}

export const UNSTORABLE_MESSAGE = "must not hold a NUL character or half a surrogate pair";

/** Text the agent controls (its name, labels, ids): refused when it cannot be stored. */
const shortText = (max: number) =>
  z.string({ error: typeError("a string") }).max(max, `at most ${max} characters`).refine(isStorableText, UNSTORABLE_MESSAGE);

/**
 * Text the agent passes on without control over it (a check's output, a
 * tool's error, the OS image's metadata): cleaned, not refused, so that such
 * a machine's check-ins do not fail forever.
 */
const passedOnText = (max: number) =>
  z.string({ error: typeError("a string") }).max(max, `at most ${max} characters`).transform(storableText);

export const backendSchema = z.enum(["ostree", "rpm-ostree", "bootc", "sim"], {
  error: typeError("one of ostree, rpm-ostree, bootc, sim"),
});
export type Backend = z.infer<typeof backendSchema>;

const LABEL_KEY_RULE = "label names are 1 to 63 characters of [A-Za-z0-9._/-], starting with a letter or digit";
export const labelKeySchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, LABEL_KEY_RULE);
export const labelsSchema = z
  .record(labelKeySchema, shortText(128), {
    error: (issue) => (issue.code === "invalid_key" ? LABEL_KEY_RULE : typeError("an object")(issue)),
  })
  .refine((labels) => Object.keys(labels).length <= 32, "at most 32 labels");

/** v1.1: a machine's own public key, ed25519 as SubjectPublicKeyInfo DER in base64: what proves it is the same machine later. */
export const publicKeySchema = z
  .string({ error: typeError("a string") })
  .max(128, "at most 128 characters")
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, "expected base64");

/**
 * v1.1: a machine that enrolls again proves it is the machine that enrolled
 * first: an ed25519 signature, by the key it enrolled with, of
 * enrollProofMessage(machineId, at); `at` within ten minutes of the console's clock.
 */
export const enrollProofSchema = object({
  at: z.iso.datetime({ offset: true, error: typeError("an RFC 3339 time such as 2026-11-25T17:00:00Z") }),
  signature: publicKeySchema,
});
export type EnrollProof = z.infer<typeof enrollProofSchema>;

/** What an enrollment proof signs. */
export function enrollProofMessage(machineId: string, at: string): string {
  return `orchard-enroll-v1\n${machineId}\n${at}`;
}

export const enrollRequestSchema = object({
  machineId: machineIdSchema,
  hostname: shortText(253).min(1, "must not be empty"),
  backend: backendSchema,
  agentVersion: shortText(64).min(1, "must not be empty"),
  os: z
    .object({
      id: passedOnText(64).optional(),
      versionId: passedOnText(64).optional(),
      arch: passedOnText(32).optional(),
    })
    .optional(),
  labels: labelsSchema.optional(),
  /** v1.1: the key the machine proves itself with from now on. */
  publicKey: publicKeySchema.optional(),
  /** v1.1: the proof that it is the machine already enrolled under this id. */
  proof: enrollProofSchema.optional(),
});
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;

// Answers. The agent checks an answer as strictly as it relies on it (a
// checksum that goes to the backend must be one); unknown fields are dropped,
// and an action the agent does not know means none.

export const enrollResponseSchema = z.object({
  machineId: z.string(),
  token: z.string().min(1),
  ring: z.string().nullable().optional().default(null),
  checkInIntervalSeconds: z.number().positive(),
});
export type EnrollResponse = z.output<typeof enrollResponseSchema>;

export const deploymentSchema = object({
  checksum: checksumSchema,
  ref: refSchema,
  version: passedOnText(128).nullable().optional(),
  booted: z.boolean({ error: typeError("true or false") }),
  staged: z.boolean({ error: typeError("true or false") }).optional().default(false),
  pinned: z.boolean({ error: typeError("true or false") }).optional().default(false),
});
export type Deployment = z.infer<typeof deploymentSchema>;

export const updateStates = [
  "idle",
  "downloading",
  "staged",
  "rebooting",
  "verifying",
  "succeeded",
  "failed",
  "rolled-back",
] as const;
export type UpdateState = (typeof updateStates)[number];

export const healthStatuses = ["healthy", "degraded", "unhealthy", "unknown"] as const;
export type HealthStatus = (typeof healthStatuses)[number];

export const healthCheckSchema = object({
  name: passedOnText(128).pipe(z.string().min(1, "must not be empty")),
  status: z.enum(["pass", "warn", "fail"], { error: typeError("pass, warn or fail") }),
  output: passedOnText(4096).nullable().optional(),
});
export type HealthCheck = z.infer<typeof healthCheckSchema>;


// ------------------------------------------------------------------ v1.2: apps

export const MAX_APPS = 64;

/** A Flatpak ref: `app/ID/ARCH/BRANCH` or `runtime/ID/ARCH/BRANCH`. */
export const flatpakRefSchema = z
  .string({ error: typeError("a string") })
  .max(255, "at most 255 characters")
  .regex(
    /^(app|runtime)\/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\/[A-Za-z0-9_-]+\/[A-Za-z0-9._-]+$/,
    "expected a Flatpak ref: app/ID/ARCH/BRANCH or runtime/ID/ARCH/BRANCH",
  );

/** The update states of an app: those of the OS without `staged` and `rebooting` (no reboot). */
export const appUpdateStates = ["idle", "downloading", "verifying", "succeeded", "failed", "rolled-back"] as const;
export type AppUpdateState = (typeof appUpdateStates)[number];

/** v1.2: one installed app or runtime, as the check-in reports it. */
export const installedAppSchema = object({
  ref: flatpakRefSchema,
  commit: checksumSchema.nullable(),
  origin: shortText(128).nullable().optional().default(null),
  managed: z.boolean({ error: typeError("true or false") }).optional().default(false),
  update: object({
    state: z.enum(appUpdateStates, { error: typeError(`one of ${appUpdateStates.join(", ")}`) }),
    targetCommit: checksumSchema.nullable().optional().default(null),
    error: passedOnText(4096).nullable().optional().default(null),
  })
    .nullable()
    .optional()
    .default(null),
  health: object({
    status: z.enum(healthStatuses, { error: typeError(`one of ${healthStatuses.join(", ")}`) }),
    checks: z.array(healthCheckSchema, { error: typeError("an array") }).max(16, "at most 16 checks").default([]),
  })
    .nullable()
    .optional()
    .default(null),
});
export type InstalledApp = z.infer<typeof installedAppSchema>;

/** v1.2: one app the machine should have, as the check-in answer lists it. */
export const desiredAppSchema = z.object({
  ref: flatpakRefSchema,
  remote: z.object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    url: z.string().min(1),
    /** Base64 of a GPG public key; null: the remote is added without verification. */
    gpgKey: z.string().nullable().optional().default(null),
  }),
  commit: checksumSchema,
  version: z.string().nullable().optional().default(null),
  reason: z.string().optional().default(""),
  allowDowngrade: z.boolean().optional().default(false),
});
export type DesiredApp = z.output<typeof desiredAppSchema>;

export const checkinRequestSchema = object({
  seq: z
    .number({ error: typeError("an integer") })
    .int("expected an integer")
    .min(0, "must not be negative")
    .max(Number.MAX_SAFE_INTEGER, "too large"),
  sentAt: rfc3339Schema,
  bootId: shortText(128).nullable().optional(),
  agentVersion: shortText(64).min(1, "must not be empty"),
  deployments: z
    .array(deploymentSchema, { error: typeError("an array") })
    .max(16, "at most 16 deployments")
    .refine(
      (list) => list.length === 0 || list.filter((d) => d.booted).length === 1,
      "exactly one deployment must have booted: true",
    ),
  update: object({
    state: z.enum(updateStates, { error: typeError(`one of ${updateStates.join(", ")}`) }),
    targetChecksum: checksumSchema.nullable().optional().default(null),
    progress: z
      .number({ error: typeError("a number") })
      .min(0, "must be between 0 and 1")
      .max(1, "must be between 0 and 1")
      .nullable()
      .optional()
      .default(null),
    error: passedOnText(4096).nullable().optional().default(null),
  }),
  health: object({
    status: z.enum(healthStatuses, { error: typeError(`one of ${healthStatuses.join(", ")}`) }),
    checks: z.array(healthCheckSchema, { error: typeError("an array") }).max(64, "at most 64 checks").default([]),
  }),
  /** v1.1: the machine's key, registered once for a machine that enrolled before it had one. */
  publicKey: publicKeySchema.optional(),
  /** v1.2: every installed app and runtime; sent only to a console that has sent `apps`. */
  apps: z.array(installedAppSchema, { error: typeError("an array") }).max(MAX_APPS, `at most ${MAX_APPS} apps`).optional(),
  /** v1.3: queued events sent with the check-in, stored before the answer as POST /events stores them. */
  events: z
    .array(z.lazy(() => agentEventSchema), { error: typeError("an array") })
    .max(MAX_EVENTS_PER_CHECKIN, `at most ${MAX_EVENTS_PER_CHECKIN} events per check-in`)
    .optional(),
});
export type CheckinRequest = z.infer<typeof checkinRequestSchema>;

export const actions = ["none", "update", "rollback"] as const;
export type Action = (typeof actions)[number];

export const desiredDeploymentSchema = z.object({
  ref: refSchema,
  checksum: checksumSchema,
  version: z.string().nullable().optional().default(null),
  reason: z.string().optional().default(""),
  /** An operator's roll-forward to an older release: the agent may take a checksum older than the booted one. */
  allowDowngrade: z.boolean().optional(),
});
export type DesiredDeployment = z.output<typeof desiredDeploymentSchema>;

/**
 * v1.1: what the console says of an update already under way on the machine
 * (see "Hold and cancel" in docs/agent-protocol-v1.md). `checksum` names the
 * update it is about, so that an answer about another one changes nothing.
 */
export const inFlightDirectiveSchema = z.object({ checksum: checksumSchema, reason: z.string().optional().default("") });
export type InFlightDirective = z.output<typeof inFlightDirectiveSchema>;

/** An unknown or malformed directive from a newer console is no directive. */
const directive = inFlightDirectiveSchema.nullable().optional().catch(null).transform((d) => d ?? null);

export const checkinResponseSchema = z.object({
  serverTime: z.string(),
  checkInIntervalSeconds: z.number().positive(),
  action: z.enum(actions).catch("none"),
  desired: desiredDeploymentSchema.nullable(),
  /** v1.1: keep what is downloaded or staged of `checksum`, and do not reboot into it until an answer no longer holds it. */
  hold: directive,
  /** v1.1: the console withdrew `checksum`: stop it and remove its staged deployment unless the machine already booted it. */
  cancel: directive,
  /**
   * v1.2: the whole app set the machine should have; absent: the console does
   * not manage this machine's apps. A malformed list from a newer console is
   * read as absent, so that the agent changes nothing.
   */
  apps: z.array(desiredAppSchema).max(MAX_APPS).optional().catch(undefined),
  /**
   * v1.3: what became of the events the check-in carried, as POST /events
   * answers; absent: the console did not take them (it is older), and they
   * stay queued for POST /events.
   */
  events: z.lazy(() => eventsResponseSchema).optional().catch(undefined),
});
export type CheckinResponse = z.output<typeof checkinResponseSchema>;

export const eventTypes = [
  "update.started",
  "update.downloaded",
  "update.staged",
  "reboot.started",
  "boot.verified",
  "health.failed",
  "rollback.performed",
  "update.failed",
  "agent.started",
  /** v1.1: an update was stopped before its reboot, at the console's word; its staged deployment is gone. */
  "update.cancelled",
  /** v1.2 (apps): each names the app's `ref` and, as `checksum`, the commit it concerns. */
  "app.installed",
  "app.updated",
  "app.failed",
  "app.rolled-back",
  "app.removed",
] as const;
export type EventType = (typeof eventTypes)[number];

export const agentEventSchema = object({
  id: z
    .string({ error: typeError("a string") })
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, "expected 1 to 128 characters of [A-Za-z0-9._:-]"),
  at: rfc3339Schema,
  type: z.enum(eventTypes, { error: typeError(`one of ${eventTypes.join(", ")}`) }),
  checksum: checksumSchema.nullable().optional(),
  detail: passedOnText(4096).nullable().optional(),
  /** v1.2: the Flatpak ref an `app.*` event is about. */
  ref: z.lazy(() => flatpakRefSchema).nullable().optional(),
});
export type AgentEvent = z.infer<typeof agentEventSchema>;

export const eventsRequestSchema = object({
  events: z
    .array(agentEventSchema, { error: typeError("an array") })
    .min(1, "at least one event")
    .max(MAX_EVENTS_PER_CALL, `at most ${MAX_EVENTS_PER_CALL} events per call`),
});
export type EventsRequest = z.infer<typeof eventsRequestSchema>;

export const eventsResponseSchema = z.object({ accepted: z.number(), duplicates: z.number() });
export type EventsResponse = z.output<typeof eventsResponseSchema>;

/** v1.1: the body of POST /reboot-lock (optional): the deployment the machine wants to reboot into. */
export const rebootLockRequestSchema = object({ checksum: checksumSchema.optional() });
export type RebootLockRequest = z.infer<typeof rebootLockRequestSchema>;

/**
 * v1.1: why a reboot slot was refused. `ring_full`: every slot is taken, ask
 * again; `held`: the rollout is paused, wait for an answer that no longer
 * holds; `not_wanted`: the console does not want this machine to boot that
 * deployment now (withdrawn, or nothing to install).
 */
export const rebootLockRefusals = ["ring_full", "held", "not_wanted"] as const;
export type RebootLockRefusal = (typeof rebootLockRefusals)[number];

export const rebootLockGrantedSchema = z.object({ granted: z.literal(true), expiresAt: z.string() });
export const rebootLockDeniedSchema = z.object({
  granted: z.literal(false),
  retryAfterSeconds: z.number().nonnegative(),
  /** v1.1; a console before it says nothing (read as ring_full), an unknown reason reads as ring_full too. */
  reason: z.enum(rebootLockRefusals).optional().catch("ring_full"),
});
export type RebootLockResponse = z.output<typeof rebootLockGrantedSchema> | z.output<typeof rebootLockDeniedSchema>;

export const errorCodes = [
  "invalid_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "machine_retired",
  "payload_too_large",
  "rate_limited",
  "internal",
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** Formats a zod issue path as the spec writes it: `deployments[0].checksum`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** The first issue of a failed parse, as `path: message` (the spec's `message`). */
export function describeFirstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid request";
  const where = formatPath(issue.path);
  return where ? `${where}: ${issue.message}` : issue.message;
}
