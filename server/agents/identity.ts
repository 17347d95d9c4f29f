// What proves a machine is the machine it says it is when it enrolls again
// (protocol v1.1): the ed25519 key it enrolled with. Enrollment tokens are
// shared by every machine of an image, so a token alone never may take over
// a machine that exists; an operator's re-image allowance is the other way.
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { type EnrollProof, enrollProofMessage } from "../protocol/v1";

/** How far a proof's time may be from the console's clock. */
export const PROOF_WINDOW_MS = 10 * 60 * 1000;

/** The key in a machine's `publicKey`, or null when it is not an ed25519 public key. */
export function parsePublicKey(base64: string): KeyObject | null {
  try {
    const key = createPublicKey({ key: Buffer.from(base64, "base64"), format: "der", type: "spki" });
    return key.asymmetricKeyType === "ed25519" ? key : null;
  } catch {
    return null;
  }
}

/** Why a proof does not hold (null when it does). */
export function checkEnrollProof(publicKey: string, machineId: string, proof: EnrollProof, now: Date): string | null {
  const key = parsePublicKey(publicKey);
  if (!key) return "the machine's stored key cannot be read";
  const at = Date.parse(proof.at);
  if (Math.abs(at - now.getTime()) > PROOF_WINDOW_MS) return "proof.at is more than ten minutes from the console's clock";
  const signature = Buffer.from(proof.signature, "base64");
  const ok = verify(null, Buffer.from(enrollProofMessage(machineId, proof.at)), key, signature);
  return ok ? null : "proof.signature does not verify with the key this machine enrolled with";
}
