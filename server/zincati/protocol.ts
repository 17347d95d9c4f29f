// What Zincati (Fedora CoreOS's updater) sends the console and is answered,
// as coreos/zincati's docs/development/cincinnati/protocol.md and
// docs/development/fleetlock/protocol.md define it: the graph request's query,
// FleetLock's body and header, the graph, and errors as { kind, value } with
// a small, bounded set of kinds (Zincati counts them in its metrics).
import { z } from "zod";
import { checksumSchema, machineIdSchema } from "../protocol/v1";

/** Every error kind the console answers Zincati with. */
export const ZINCATI_ERROR_KINDS = [
  "bad_request",
  "unknown_token",
  "forbidden",
  "machine_retired",
  "not_found",
  "failed_lock_semaphore_full",
  "rollout_held",
  "reboot_not_wanted",
  "rate_limited",
  "unavailable",
  "internal",
] as const;
export type ZincatiErrorKind = (typeof ZINCATI_ERROR_KINDS)[number];

export interface ZincatiErrorBody {
  kind: ZincatiErrorKind;
  value: string;
}

/** A refusal with its HTTP status and kind; `value` is what Zincati logs. */
export class ZincatiError extends Error {
  constructor(
    readonly status: number,
    readonly kind: ZincatiErrorKind,
    value: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(value);
  }
}

export const badRequest = (field: string, message: string) => new ZincatiError(400, "bad_request", `${field}: ${message}`);

/** FleetLock's group (and the label it becomes): as the protocol's regexp says. */
const groupSchema = z
  .string()
  .min(1, "must not be empty")
  .max(63, "at most 63 characters")
  .regex(/^[a-zA-Z0-9.-]+$/, "expected letters, digits, dots and dashes (FleetLock: ^[a-zA-Z0-9.-]+$)");

const word = (max: number) =>
  z
    .string()
    .min(1, "must not be empty")
    .max(max, `at most ${max} characters`)
    .regex(/^[A-Za-z0-9._-]+$/, "expected letters, digits, dots, dashes and underscores");

/** GET …/v1/graph: Zincati's query (identity/mod.rs, cincinnati_params). */
export const graphQuerySchema = z.object({
  basearch: word(32),
  stream: word(64),
  /** Orchard's machine id for the node: required here, although Cincinnati makes it optional. */
  node_uuid: machineIdSchema,
  /** The booted deployment: how Zincati finds itself in the graph (scheme "checksum"). */
  os_checksum: checksumSchema,
  os_version: z.string().max(128, "at most 128 characters").regex(/^[\x21-\x7e]*$/, "expected printable characters").optional(),
  group: groupSchema.optional(),
  platform: word(64).optional(),
  /** A hint Orchard reads but does not use: its waves decide who goes first. */
  rollout_wariness: z
    .string()
    .regex(/^\d+(\.\d+)?$/, "expected a number from 0.0 to 1.0")
    .refine((v) => Number(v) <= 1, "expected a number from 0.0 to 1.0")
    .optional(),
});
export type GraphQuery = z.infer<typeof graphQuerySchema>;

/** POST …/v1/pre-reboot and …/v1/steady-state: FleetLock's body (fleet_lock/mod.rs, ClientIdentity). */
export const fleetLockBodySchema = z.object({
  client_params: z.object(
    {
      id: machineIdSchema,
      group: groupSchema,
    },
    { error: (issue) => (issue.input === undefined ? "required" : "expected an object") },
  ),
});
export type FleetLockBody = z.infer<typeof fleetLockBodySchema>;

/** The path of the first issue and its message: `client_params.group: …`. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join(".") : "body";
  const message = issue.code === "invalid_type" && issue.input === undefined ? "required" : issue.message;
  return `${field}: ${message}`;
}

/** A Cincinnati node: a release, found by its checksum ("payload"). */
export interface GraphNode {
  version: string;
  payload: string;
  metadata: Record<string, string>;
}

export interface Graph {
  nodes: GraphNode[];
  edges: [number, number][];
}

export const AGE_INDEX_KEY = "org.fedoraproject.coreos.releases.age_index";
export const SCHEME_KEY = "org.fedoraproject.coreos.scheme";
