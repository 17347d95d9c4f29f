// Enrollment: trade an enrollment token for a machine token and write the
// machine's identity to the state dir. Enrolling again keeps the rest of the
// state (above all `seq`, which the console expects to keep rising).
import { mkdir } from "node:fs/promises";
import type { Backend } from "./backend.ts";
import { enroll } from "./client.ts";
import { enrollProof, machineKey } from "./identity.ts";
import { emptyApps } from "./apps/state.ts";
import { type AgentStore, createAgentStore, idleUpdate } from "./store.ts";

export interface Enrollment {
  server: string;
  /** The enrollment token (not the machine token). */
  token: string;
  machineId: string;
  hostname: string;
  labels: Record<string, string>;
}

export interface EnrollResult {
  store: AgentStore;
  /** The ring the console put the machine in. */
  ring: string | null;
}

/** One enrollment attempt; `existing` is the machine's store when it enrolled before. */
export async function enrollMachine(
  dir: string,
  existing: AgentStore | null,
  enrollment: Enrollment,
  backend: Backend,
  options: { timeoutSeconds: number; signal?: AbortSignal; now?: () => Date },
): Promise<EnrollResult> {
  // The machine's key: its public half registers with the console; a proof by it says this is the same machine.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = await machineKey(dir);
  const answer = await enroll(
    enrollment.server,
    enrollment.token,
    {
      machineId: enrollment.machineId,
      hostname: enrollment.hostname,
      backend: backend.kind,
      os: await backend.osInfo(),
      labels: enrollment.labels,
      publicKey: key.publicKey,
      proof: enrollProof(key, enrollment.machineId, options.now?.() ?? new Date()),
    },
    options,
  );
  const identity = {
    server: enrollment.server,
    machineId: enrollment.machineId,
    hostname: enrollment.hostname,
    backend: backend.kind,
    labels: enrollment.labels,
    token: answer.token,
    checkInIntervalSeconds: answer.checkInIntervalSeconds,
  };
  if (existing) {
    await existing.update((s) => Object.assign(s, identity));
    return { store: existing, ring: answer.ring };
  }
  const store = await createAgentStore(dir, {
    version: 1,
    ...identity,
    seq: 0,
    queue: [],
    update: { ...idleUpdate },
    denylist: [],
    pinnedByAgent: null,
    holdsRebootLock: false,
    lastCheckin: null,
    apps: emptyApps(),
  });
  return { store, ring: answer.ring };
}
