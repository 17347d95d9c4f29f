// Standard Webhooks signing (https://www.standardwebhooks.com): each delivery
// carries `webhook-id` (the message id, the same at every attempt),
// `webhook-timestamp` (seconds, the attempt's own time: receivers refuse
// old ones) and `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
// `id.timestamp.body` keyed with the secret's decoded bytes.
import { createHmac, randomBytes } from "node:crypto";

const PREFIX = "whsec_";

/** What a signing secret is sealed for at rest (server/secret-box.ts): a value sealed for another use does not open as one. */
export const SIGNING_SECRET_PURPOSE = "webhook-signing-secret";

/** A new signing secret: `whsec_` and 24 random bytes in base64, as Standard Webhooks libraries expect. */
export function newSigningSecret(): string {
  return PREFIX + randomBytes(24).toString("base64");
}

/** The headers that sign `body` as message `id` at `at`. */
export function signatureHeaders(secret: string, id: string, body: string, at: Date): Record<string, string> {
  const key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, "base64");
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${signature}` };
}
