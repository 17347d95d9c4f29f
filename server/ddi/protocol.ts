// What a hawkBit DDI client (SWUpdate's suricatta, RAUC's rauc-hawkbit-updater)
// sends the console and is answered, as Eclipse hawkBit's Direct Device
// Integration API v1 defines it and as the stock clients use it: the
// controller's poll, deploymentBase, cancelAction, installedBase, feedback,
// configData, and errors as { errorCode, message } naming the field.
import { z } from "zod";
import { machineIdSchema } from "../protocol/v1";

/** Every error code the console answers a DDI client with (hawkBit's spelling: a dotted code). */
export const DDI_ERROR_CODES = [
  "orchard.ddi.badRequest",
  "orchard.ddi.unauthorized",
  "orchard.ddi.forbidden",
  "orchard.ddi.retired",
  "orchard.ddi.notFound",
  "orchard.ddi.rateLimited",
  "orchard.ddi.unavailable",
  "orchard.ddi.internal",
] as const;
export type DdiErrorCode = (typeof DDI_ERROR_CODES)[number];

export interface DdiErrorBody {
  errorCode: DdiErrorCode;
  message: string;
  /** The request's field the error is about (`status.execution`, `controllerId`…). */
  field?: string;
}

/** A refusal with its HTTP status and code; `message` is what the client logs. */
export class DdiError extends Error {
  constructor(
    readonly status: number,
    readonly code: DdiErrorCode,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (field: string, message: string) => new DdiError(400, "orchard.ddi.badRequest", `${field}: ${message}`, field);

/** The tenant of the URL: hawkBit's `DEFAULT` or any name; the console has one fleet and reads it only for its shape. */
export const tenantSchema = z
  .string()
  .min(1, "must not be empty")
  .max(64, "at most 64 characters")
  .regex(/^[A-Za-z0-9._-]+$/, "expected letters, digits, dots, dashes and underscores");

/** The controller id: the device's machine id in Orchard. */
export const controllerIdSchema = machineIdSchema;

/** An action id: hawkBit's are numbers (SWUpdate reads them with `%d`). */
export const actionIdSchema = z.string().regex(/^[1-9]\d{0,9}$/, "expected a positive whole number").transform(Number).refine((n) => n <= 2 ** 31 - 1, "too large");

export const EXECUTIONS = ["closed", "proceeding", "canceled", "scheduled", "rejected", "resumed", "downloaded", "download"] as const;
export type Execution = (typeof EXECUTIONS)[number];
export const FINISHED = ["success", "failure", "none"] as const;
export type Finished = (typeof FINISHED)[number];

/**
 * POST …/deploymentBase/{actionId}/feedback and …/cancelAction/{actionId}/feedback.
 * `id` and `time` are read for their shape only (SWUpdate sends `%d` and its
 * local `YYYYMMDDTHHMMSS`); the path's action id is the one acted on.
 */
export const feedbackSchema = z.object({
  id: z.union([z.string(), z.number()]).optional(),
  time: z.string().max(64, "at most 64 characters").optional(),
  status: z.object(
    {
      execution: z.enum(EXECUTIONS, { error: `expected one of ${EXECUTIONS.join(", ")}` }),
      result: z
        .object({
          finished: z.enum(FINISHED, { error: `expected one of ${FINISHED.join(", ")}` }),
          progress: z
            .object({
              cnt: z.number().int().min(0).optional(),
              of: z.number().int().min(0).optional(),
            })
            .optional(),
        })
        .optional(),
      details: z.array(z.string().max(4096, "at most 4096 characters per detail")).max(64, "at most 64 details").optional(),
      code: z.number().int().optional(),
    },
    { error: (issue) => (issue.input === undefined ? "required" : "expected an object") },
  ),
});
export type Feedback = z.infer<typeof feedbackSchema>;

/** PUT …/configData: the device's attributes, kept as its labels. */
export const configDataSchema = z.object({
  id: z.union([z.string(), z.number()]).optional(),
  time: z.string().max(64).optional(),
  status: z.unknown().optional(),
  mode: z.enum(["merge", "replace", "remove"], { error: "expected merge, replace or remove" }).optional(),
  data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]), { error: "expected an object of attribute names and values" }),
});
export type ConfigData = z.infer<typeof configDataSchema>;

/** The path of the first issue and its message: `status.execution: …`. */
export function firstIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join(".") : "body";
  const message = issue.code === "invalid_type" && issue.input === undefined ? "required" : issue.message;
  return { field, message };
}

export interface Link {
  href: string;
}

/** GET /{tenant}/controller/v1/{controllerId}: when to poll again, and what to do. */
export interface ControllerBase {
  config: { polling: { sleep: string } };
  _links: Partial<Record<"deploymentBase" | "cancelAction" | "configData" | "installedBase", Link>>;
}

export interface DdiArtifact {
  filename: string;
  size: number;
  hashes: { sha1: string; md5: string; sha256: string };
  _links: { download: Link; "download-http": Link; "md5sum": Link; "md5sum-http": Link };
}

export interface DdiChunk {
  part: string;
  version: string;
  name: string;
  artifacts: DdiArtifact[];
}

export type HandlingType = "skip" | "attempt" | "forced";

/** GET …/deploymentBase/{actionId} (and …/installedBase/{actionId}). */
export interface DeploymentBase {
  id: string;
  deployment: {
    download: HandlingType;
    update: HandlingType;
    maintenanceWindow?: "available" | "unavailable";
    chunks: DdiChunk[];
  };
  actionHistory?: { status: string; messages: string[] };
}

/** GET …/cancelAction/{actionId}. */
export interface CancelAction {
  id: string;
  cancelAction: { stopId: string };
}
