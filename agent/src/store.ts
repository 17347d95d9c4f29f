// The agent's state on disk. Every write is atomic (temp file, fsync,
// rename, fsync of the directory): a crash at any point leaves either the old
// state or the new one, never a torn file.
import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import pLimit from "p-limit";
import { z } from "zod";
import {
  agentEventSchema,
  backendSchema,
  checksumSchema,
  inFlightDirectiveSchema,
  labelsSchema,
  machineIdSchema,
  refSchema,
  updateStates,
} from "../../server/protocol/v1.ts";
import { appsRecordSchema, emptyApps } from "./apps/state.ts";

const TEMP_MARK = ".tmp-";

/**
 * Whether a write is flushed to the disk (fsync) before it counts as done.
 * Only the fleet simulator's process turns it off: its thousands of
 * simulated machines share one disk and Node's four I/O threads, and none of
 * them loses power. Writes stay atomic either way.
 */
export const storage = { durable: true };

/**
 * How many of the agent's file operations may hold descriptors at once. One
 * agent never comes near it. The fleet simulator's tens of thousands of
 * agents in one process otherwise open files faster than Node's four I/O
 * threads write and close them, and run out of descriptors (EMFILE: a
 * 100,000-machine scale run lost 13,279 of one fleet's 50,000 sim agents so).
 */
const fileSlots = pLimit(64);

/** Runs `work`, which opens files and closes them before it ends, in one of the process's file slots. */
export function withFileSlot<T>(work: () => Promise<T>): Promise<T> {
  return fileSlots(work);
}

/** Writes `text` to `file` so that readers see the old content or the new, nothing in between. */
export function writeFileAtomic(file: string, text: string): Promise<void> {
  return withFileSlot(() => writeAtomic(file, text));
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const temp = `${file}${TEMP_MARK}${process.pid}-${randomUUID().slice(0, 8)}`;
  const handle = await open(temp, "w", 0o600);
  try {
    await handle.writeFile(text, "utf8");
    if (storage.durable) await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  if (!storage.durable) return;
  // The rename itself lives in the directory: sync it too, or a power cut can undo it.
  const dir = await open(path.dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Reads and validates a JSON file; null when it does not exist. */
export async function readJsonFile<S extends z.ZodType>(file: string, schema: S): Promise<z.infer<S> | null> {
  let text: string;
  try {
    text = await withFileSlot(() => readFile(file, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data;
}

/** Creates the state directory, private since it holds a token. */
function prepareStateDir(dir: string): Promise<string | undefined> {
  return mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Removes the temp files of `file` that a crash between write and rename left behind. */
async function removeStaleTemps(file: string): Promise<void> {
  const prefix = `${path.basename(file)}${TEMP_MARK}`;
  const dir = path.dirname(file);
  for (const name of await withFileSlot(() => readdir(dir))) {
    if (name.startsWith(prefix)) await unlink(path.join(dir, name)).catch(() => {});
  }
}

/**
 * Where an update is. The reported `update.state` is the phase, except
 * `reverting` (the health gate failed and the machine reboots back into the
 * previous deployment), which is reported as `rebooting`.
 */
export const updatePhases = [...updateStates, "reverting"] as const;
export type UpdatePhase = (typeof updatePhases)[number];

const versionedSchema = z.object({ checksum: checksumSchema, version: z.string().nullable() });

const targetSchema = z.object({ ref: refSchema, checksum: checksumSchema, version: z.string().nullable() });
export type UpdateTarget = z.infer<typeof targetSchema>;

const updateRecordSchema = z.object({
  phase: z.enum(updatePhases),
  /** `update` moves to a new deployment; `rollback` goes back to one the console names. */
  kind: z.enum(["update", "rollback"]).nullable(),
  target: targetSchema.nullable(),
  /** The console allowed a target older than the booted deployment (an operator's roll-forward, or a rollback). */
  mayDowngrade: z.boolean().default(false),
  /** The update ended because the target was older than the booted deployment and no downgrade was allowed. */
  downgradeRefused: z.boolean().default(false),
  /** What was booted before the reboot into the target: where a failed health gate goes back to. */
  previousChecksum: checksumSchema.nullable().default(null),
  /** Written before every reboot: the checksum the next boot must come up in. */
  expectedChecksum: checksumSchema.nullable(),
  /** The boot id before that reboot: an unchanged one after a restart means the reboot never happened. */
  bootIdBeforeReboot: z.string().nullable(),
  /** When the health gate started (agent clock), so that a restart keeps the same grace period. */
  verifyingSince: z.string().nullable(),
  progress: z.number().min(0).max(1).nullable(),
  error: z.string().nullable(),
  /** Failed attempts to stage this target in a row, and when (agent clock) the next may start. */
  attempts: z.number().int().min(0),
  retryAt: z.string().nullable(),
  /**
   * Whether the target was on disk before this update (null until staging
   * starts): a cancelled update removes only a deployment it made itself.
   */
  targetWasOnDisk: z.boolean().nullable().default(null),
  /**
   * v1.1: the console holds this update (a paused rollout): it stays
   * staged, with no reboot slot asked for, until an answer no longer holds
   * it. On disk, so that a restart does not reboot before the console agrees.
   */
  hold: inFlightDirectiveSchema.nullable().default(null),
});
export type UpdateRecord = z.infer<typeof updateRecordSchema>;

export const idleUpdate: UpdateRecord = {
  phase: "idle",
  kind: null,
  target: null,
  mayDowngrade: false,
  downgradeRefused: false,
  previousChecksum: null,
  expectedChecksum: null,
  bootIdBeforeReboot: null,
  verifyingSince: null,
  progress: null,
  error: null,
  attempts: 0,
  retryAt: null,
  targetWasOnDisk: null,
  hold: null,
};

export const agentStateSchema = z.object({
  version: z.literal(1),
  server: z.url(),
  machineId: machineIdSchema,
  hostname: z.string().min(1),
  backend: backendSchema,
  labels: labelsSchema,
  token: z.string().min(1),
  /** The next check-in's seq, or the last one sent: written before it is sent, so a crash never reuses one. */
  seq: z.number().int().min(0),
  checkInIntervalSeconds: z.number().positive(),
  /** Events not yet accepted by the console, oldest first. */
  queue: z.array(agentEventSchema),
  update: updateRecordSchema,
  /** Checksums that failed to boot or failed the health gate: not tried again until the console asks anew. */
  denylist: z.array(checksumSchema),
  /** The deployment the agent pinned as the last one that passed the health gate. */
  pinnedByAgent: checksumSchema.nullable().default(null),
  /** True from a granted reboot slot until the console confirmed its release. */
  holdsRebootLock: z.boolean(),
  /** The last answered check-in (agent clock), for `orchard-agent status`. */
  lastCheckin: z
    .object({
      at: z.string(),
      booted: versionedSchema.nullable(),
      action: z.string(),
      desired: versionedSchema.nullable(),
    })
    .nullable(),
  /** v1.2: the apps the agent manages (absent in a state written before apps: none). */
  apps: appsRecordSchema.default(emptyApps),
});
export type AgentState = z.infer<typeof agentStateSchema>;

export const STATE_FILE = "state.json";

/** A JSON document kept in memory, every change written through to its file in order. */
export class StateFile<T> {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private current: T,
  ) {}

  /** The document in `file`, or null when there is none yet. */
  static async open<S extends z.ZodType>(file: string, schema: S): Promise<StateFile<z.infer<S>> | null> {
    await prepareStateDir(path.dirname(file));
    await removeStaleTemps(file);
    const state = await readJsonFile(file, schema);
    return state === null ? null : new StateFile(file, state);
  }

  /** Writes a first document into `file` (replacing any) and returns it. */
  static async create<T>(file: string, state: T): Promise<StateFile<T>> {
    await prepareStateDir(path.dirname(file));
    const created = new StateFile(file, state);
    await created.update(() => {});
    return created;
  }

  get state(): Readonly<T> {
    return this.current;
  }

  /**
   * Applies `change` in memory at once and resolves when a write that
   * includes it is on disk. Writes never overlap and land in order.
   */
  update(change: (state: T) => void): Promise<void> {
    change(this.current);
    const write = this.writing.catch(() => {}).then(() => writeFileAtomic(this.file, JSON.stringify(this.current)));
    this.writing = write;
    return write;
  }

  /**
   * Applies `change` in memory only; it reaches the disk with the next
   * update. For figures a crash may lose, such as download progress: a
   * thousand simulated machines writing every tick would saturate one disk.
   */
  amend(change: (state: T) => void): void {
    change(this.current);
  }

  /** Resolves when every write asked for so far has landed (or failed). */
  async flush(): Promise<void> {
    await this.writing.catch(() => {});
  }
}

export type AgentStore = StateFile<AgentState>;

/** The agent's state in `dir`, or null when the machine has not enrolled yet. */
export function openAgentStore(dir: string): Promise<AgentStore | null> {
  return StateFile.open(path.join(dir, STATE_FILE), agentStateSchema);
}

export function createAgentStore(dir: string, state: AgentState): Promise<AgentStore> {
  return StateFile.create(path.join(dir, STATE_FILE), state);
}
