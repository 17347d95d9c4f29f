// Secrets stored in clear before they were sealed (webhook signing secrets,
// registry passwords) are sealed with the console's key: at the console's
// start, before anything is served, and when the command line opens the
// database with the key at hand. A migration cannot: SQL has no key.
import type { PrismaClient } from "./db/client";
import { sealClearPasswords } from "./release-sources/sources";
import type { SecretBox } from "./secret-box";
import { sealClearSecrets } from "./webhooks/webhooks";

export async function sealStoredSecrets(db: PrismaClient, secrets: SecretBox) {
  const webhooks = await sealClearSecrets(db, secrets);
  const registryPasswords = await sealClearPasswords(db, secrets);
  return { ...webhooks, registryPasswords };
}
