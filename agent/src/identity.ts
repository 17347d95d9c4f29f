// The machine's own key (protocol v1.1): an ed25519 key pair made at first
// enrollment and kept in the state dir. The console stores its public half;
// enrolling again later is proved by a signature with the private half, so
// that an enrollment token (shared by every machine of an image) cannot take
// this machine over. Losing the state dir loses the key: then an operator's
// re-image allowance lets the machine enroll again.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { type EnrollProof, enrollProofMessage } from "../../server/protocol/v1.ts";
import { withFileSlot, writeFileAtomic } from "./store.ts";

export const IDENTITY_FILE = "identity.pem";

export interface MachineKey {
  privateKey: KeyObject;
  /** SubjectPublicKeyInfo DER, base64: what the console stores. */
  publicKey: string;
}

function keyOf(privateKey: KeyObject): MachineKey {
  const publicKey = createPublicKey(privateKey).export({ format: "der", type: "spki" }).toString("base64");
  return { privateKey, publicKey };
}

/** The machine's key from `dir`, or null when it has none yet. */
export async function readMachineKey(dir: string): Promise<MachineKey | null> {
  let pem: string;
  try {
    pem = await withFileSlot(() => readFile(path.join(dir, IDENTITY_FILE), "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  return keyOf(createPrivateKey(pem));
}

/** A new key, in memory. */
export function generateMachineKey(): MachineKey {
  return keyOf(generateKeyPairSync("ed25519").privateKey);
}

/** The machine's key, made and written (0600, atomically) when there is none. */
export async function machineKey(dir: string): Promise<MachineKey> {
  const existing = await readMachineKey(dir);
  if (existing) return existing;
  const key = generateMachineKey();
  await writeFileAtomic(path.join(dir, IDENTITY_FILE), key.privateKey.export({ format: "pem", type: "pkcs8" }).toString());
  return key;
}

/** The proof that this machine is `machineId`, for enrolling again. */
export function enrollProof(key: MachineKey, machineId: string, now: Date): EnrollProof {
  const at = now.toISOString();
  return { at, signature: sign(null, Buffer.from(enrollProofMessage(machineId, at)), key.privateKey).toString("base64") };
}
