// The agent's configuration: a JSON file, then environment variables, then
// command-line flags, each overriding the one before; parsed with zod at
// start, and any error names the field where it came from.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { backendSchema, checksumSchema, labelsSchema, machineIdSchema, refSchema } from "../../server/protocol/v1.ts";
import { logLevels } from "./log.ts";
import { rebootModes } from "./reboot.ts";

export const DEFAULT_CONFIG_FILE = "/etc/orchard/agent.json";
export const DEFAULT_STATE_DIR = "/var/lib/orchard-agent";

/** The factory deployment of a sim machine when the configuration names none. */
export const SIM_FACTORY_DEFAULT = {
  ref: "exampleos/x86_64/stable",
  version: "factory",
  checksum: createHash("sha256").update("orchard sim factory").digest("hex"),
};

const probability = z.number().min(0, "must be between 0 and 1").max(1, "must be between 0 and 1");
const seconds = z.number().nonnegative("must not be negative");

const simSchema = z.strictObject({
  stageSeconds: seconds.default(20),
  rebootSeconds: seconds.default(10),
  failRate: probability.default(0),
  failRelease: z.string().min(1).nullable().default(null),
  /** An app release (its version or commit) whose app checks always fail. */
  failAppRelease: z.string().min(1).nullable().default(null),
  failAppRate: probability.default(0),
  appInstallSeconds: seconds.default(2),
  darkRate: probability.default(0),
  degradedRate: probability.default(0),
  fallbackRate: probability.default(0),
  factory: z
    .strictObject({ ref: refSchema, checksum: checksumSchema, version: z.string().min(1).nullable() })
    .default(SIM_FACTORY_DEFAULT),
});

const remoteSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "expected 1 to 64 characters of [A-Za-z0-9._-]"),
  url: z.string().regex(/^(https?|file):\/\//, "expected an https://, http:// or file:// URL"),
  gpgKeyFile: z.string().min(1, "must not be empty").optional(),
  ed25519KeyFile: z.string().min(1, "must not be empty").optional(),
});

const ostreeSchema = z.strictObject({
  /** "/" on a machine; a folder made with `ostree admin init-fs` for tests and demos (with reboot: "marker"). */
  sysroot: z.string().min(1, "must not be empty").default("/"),
  osName: z.string().min(1, "must not be empty").optional(),
  /** Set up by the agent at every start; without it, the booted deployment's remote is used as the operator left it. */
  remote: remoteSchema.optional(),
});

const probeSchema = z.strictObject({
  name: z.string().min(1, "must not be empty").max(128, "at most 128 characters"),
  url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }),
  required: z.boolean().default(true),
  timeoutSeconds: z.number().positive("must be positive").optional(),
});

const healthSchema = z.strictObject({
  /** Executable checks in required.d/ and wanted.d/ (greenboot's layout: /etc/greenboot/check works too). */
  checksDir: z.string().min(1, "must not be empty").default("/etc/orchard/check"),
  failedUnits: z.enum(["required", "wanted", "ignore"], { error: "expected required, wanted or ignore" }).default("wanted"),
  probes: z.array(probeSchema).max(16, "at most 16 probes").default([]),
  timeoutSeconds: z.number().positive("must be positive").default(30),
});

const appsSchema = z.strictObject({
  /** False: the agent reports no apps and leaves them alone whatever the console says. */
  enabled: z.boolean().default(true),
  /** The Flatpak installation: "system", "user" (of the agent's user), or the name of one in /etc/flatpak/installations.d. */
  installation: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected "system", "user" or an installation name of [A-Za-z0-9._-]')
    .default("system"),
  /** Each app's check scripts: `<checksDir>/<APP_ID>/required.d/` and `wanted.d/`. */
  checksDir: z.string().min(1, "must not be empty").default("/etc/orchard/app-check"),
  /** HTTP probes per app ID. */
  probes: z
    .record(z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/), z.array(probeSchema).max(16, "at most 16 probes"), {
      error: (issue) => (issue.code === "invalid_key" ? "expected an app ID such as org.example.Kiosk" : "expected an object"),
    })
    .default({}),
  /** How long after an install or update an app's required checks may take to pass before it goes back. */
  graceSeconds: z.number().nonnegative("must not be negative").default(60),
  /** Each check's timeout. */
  timeoutSeconds: z.number().positive("must be positive").default(30),
  /** Each install, update or uninstall's timeout (they download). */
  commandTimeoutSeconds: z.number().positive("must be positive").default(1800),
});

export const configSchema = z.strictObject({
  /** The console, e.g. https://orchard.example.com. */
  server: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).optional(),
  /** Lets `run` enroll a new machine, and enroll again when the console refuses the machine token. */
  enrollmentToken: z.string().min(1, "must not be empty").optional(),
  stateDir: z.string().min(1, "must not be empty").default(DEFAULT_STATE_DIR),
  /** Defaults to /etc/machine-id. */
  machineId: machineIdSchema.optional(),
  /** Defaults to the system's host name. */
  hostname: z.string().min(1, "must not be empty").max(253, "at most 253 characters").optional(),
  /** How the machine is updated; required to enroll or run (a real machine must never run the sim by mistake). */
  backend: backendSchema.optional(),
  /** How the reboot step reboots: "marker" only for an ostree sysroot in a folder. */
  reboot: z.enum(rebootModes, { error: `expected one of ${rebootModes.join(", ")}` }).default("systemctl"),
  labels: labelsSchema.default({}),
  logLevel: z.enum(logLevels, { error: `expected one of ${logLevels.join(", ")}` }).default("info"),
  requestTimeoutSeconds: z.number().positive("must be positive").default(30),
  /** How long after a boot the health checks may take to pass before the machine boots back. */
  healthGraceSeconds: z.number().positive("must be positive").default(120),
  ostree: ostreeSchema.prefault({}),
  bootc: z.strictObject({ enforceSignaturePolicy: z.boolean().default(false) }).prefault({}),
  health: healthSchema.prefault({}),
  sim: simSchema.prefault({}),
  /** v1.2: Flatpak apps the console keeps per ring. */
  apps: appsSchema.prefault({}),
});
export type AgentConfig = z.infer<typeof configSchema>;
type Field = keyof z.input<typeof configSchema>;

/** Environment variables that override a field of the configuration file. */
export const ENV_OVERRIDES: Record<string, Field> = {
  ORCHARD_SERVER: "server",
  ORCHARD_ENROLLMENT_TOKEN: "enrollmentToken",
  ORCHARD_STATE_DIR: "stateDir",
  ORCHARD_MACHINE_ID: "machineId",
  ORCHARD_HOSTNAME: "hostname",
  ORCHARD_BACKEND: "backend",
  ORCHARD_REBOOT: "reboot",
  ORCHARD_LOG_LEVEL: "logLevel",
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface ConfigSources {
  /** From --config; else ORCHARD_AGENT_CONFIG; else the default file, which may be absent. */
  file?: string;
  env?: Record<string, string | undefined>;
  /** Flag values by field, with the flag's name for error messages. */
  flags?: Partial<Record<Field, { value: unknown; flag: string }>>;
}

export function loadConfig(sources: ConfigSources = {}): AgentConfig {
  const env = sources.env ?? process.env;
  const file = sources.file || env.ORCHARD_AGENT_CONFIG || DEFAULT_CONFIG_FILE;
  const merged: Record<string, unknown> = {};
  const origin = new Map<string, string>();

  const fromFile = readConfigFile(file, file !== DEFAULT_CONFIG_FILE);
  for (const [key, value] of Object.entries(fromFile)) merged[key] = value;
  for (const [name, field] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    merged[field] = value;
    origin.set(field, name);
  }
  for (const [field, given] of Object.entries(sources.flags ?? {})) {
    if (given?.value === undefined) continue;
    merged[field] = given.value;
    origin.set(field, given.flag);
  }

  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const [top, ...rest] = issue.path.map(String);
  const inFile = `${file}: ${issue.path.join(".") || "(top level)"}`;
  const where = top !== undefined && origin.has(top) ? [origin.get(top), ...rest].join(".") : inFile;
  throw new ConfigError(`bad configuration: ${where}: ${issue.message}`);
}

function readConfigFile(file: string, required: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !required) return {};
    throw new ConfigError(`bad configuration: ${file}: cannot read it (${code ?? String(error)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`bad configuration: ${file}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(`bad configuration: ${file}: expected a JSON object`);
  }
  return json as Record<string, unknown>;
}

/** This machine's id: the configured one, else /etc/machine-id. */
export function resolveMachineId(config: AgentConfig, machineIdFile = "/etc/machine-id"): string {
  if (config.machineId) return config.machineId;
  try {
    const id = readFileSync(machineIdFile, "utf8").trim();
    if (machineIdSchema.safeParse(id).success) return id;
  } catch {
    // Reported below, with what to do about it.
  }
  throw new ConfigError(`bad configuration: machineId: ${machineIdFile} is missing or invalid; set --machine-id or ORCHARD_MACHINE_ID`);
}
