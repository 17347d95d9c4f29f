// Secrets the console keeps in its database and must read back — webhook
// signing secrets, which it signs every delivery with — are stored sealed:
// AES-256-GCM (node:crypto) under a key the console holds outside the
// database, so that a copy of the database (a backup, a replica, a dump
// handed to support) does not give away the secrets.
//
// The key is ORCHARD_ENCRYPTION_KEY (32 random bytes in base64, validated at
// start naming the variable) or, when that is unset, a key file generated
// once in the data folder (`encryption-key`, mode 0600). In production with
// DATABASE_URL the variable is required: every console process must share the
// key, and a container's data folder may not outlive it.
//
// A sealed value is `orchsec1.<key id>.<iv>.<ciphertext>.<tag>` (base64url):
// the key id (8 hex digits of an HMAC of the key, which tells nothing of the
// key) says which key sealed it, so that opening it with another key fails
// with a message saying so rather than a bare "unable to authenticate". The
// purpose (such as `webhook-signing-secret`) is authenticated with it: a value
// sealed for one use does not open for another.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { AppError } from "./errors";

const VERSION = "orchsec1";
const KEY_BYTES = 32;
const IV_BYTES = 12;
export const KEY_FILE = "encryption-key";
export const KEY_VARIABLE = "ORCHARD_ENCRYPTION_KEY";

/** Whether a stored value is sealed (anything else is a secret stored before sealing, in clear). */
export const isSealed = (value: string) => value.startsWith(`${VERSION}.`);

/** A sealed value that does not open: another key sealed it, or it was altered. */
export class SecretBoxError extends Error {
  override name = "SecretBoxError";
}

/** 32 bytes from base64 (or base64url), or null. */
export function decodeKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return null;
  const key = Buffer.from(trimmed.replaceAll("-", "+").replaceAll("_", "/"), "base64");
  return key.length === KEY_BYTES ? key : null;
}

export class SecretBox {
  /** Which key this is, without telling anything of it. */
  readonly keyId: string | null;

  private constructor(
    private readonly key: Buffer | null,
    /** Where the key comes from, as an operator would look for it. */
    readonly source: string,
    /** Why there is no key (the box then refuses to seal or open). */
    private readonly missing: string | null = null,
  ) {
    this.keyId = key ? createHmac("sha256", key).update("orchard secret box key id").digest("hex").slice(0, 8) : null;
  }

  static withKey(key: Buffer, source: string): SecretBox {
    if (key.length !== KEY_BYTES) throw new Error(`${source}: the key must be ${KEY_BYTES} bytes`);
    return new SecretBox(Buffer.from(key), source);
  }

  /** A box with no key: every use fails with `why` (the command line away from the console's key). */
  static unavailable(why: string): SecretBox {
    return new SecretBox(null, "none", why);
  }

  private requireKey(): Buffer {
    if (!this.key) throw new AppError("UNAVAILABLE", this.missing ?? "no encryption key");
    return this.key;
  }

  seal(plain: string, purpose: string): string {
    const key = this.requireKey();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(purpose, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return [VERSION, this.keyId, iv.toString("base64url"), ciphertext.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
  }

  /** The clear value; throws SecretBoxError saying why when it does not open. A value never sealed comes back as it is. */
  open(stored: string, purpose: string): string {
    if (!isSealed(stored)) return stored;
    const key = this.requireKey();
    const parts = stored.split(".");
    if (parts.length !== 5) throw new SecretBoxError("the sealed secret is damaged (not five parts)");
    const [, keyId, iv, ciphertext, tag] = parts;
    if (keyId !== this.keyId) {
      throw new SecretBoxError(
        `the secret was sealed under encryption key ${keyId}, but this console's key (${this.source}) is ${this.keyId}: ` +
          `restore that key, or give the subscription a new secret`,
      );
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
      decipher.setAAD(Buffer.from(purpose, "utf8"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8");
    } catch {
      throw new SecretBoxError(`the sealed secret does not open under encryption key ${this.keyId}: it was altered in the database`);
    }
  }
}

export interface KeySettings {
  /** ORCHARD_ENCRYPTION_KEY, already checked to be 32 bytes of base64. */
  ORCHARD_ENCRYPTION_KEY?: string;
  NODE_ENV: string;
  DATABASE_URL?: string;
  dataDir: string;
}

/**
 * The console's key: the variable, else the data folder's key file, created
 * when `create` (the console at start; never the command line, which would
 * make a key the console does not have). Throws naming the variable or the
 * file when neither will do.
 */
export function loadSecretBox(settings: KeySettings, options: { create: boolean }): SecretBox {
  if (settings.ORCHARD_ENCRYPTION_KEY) {
    const key = decodeKey(settings.ORCHARD_ENCRYPTION_KEY);
    if (!key) throw new Error(`${KEY_VARIABLE}: must be ${KEY_BYTES} bytes in base64 (openssl rand -base64 32)`);
    return SecretBox.withKey(key, KEY_VARIABLE);
  }
  if (settings.NODE_ENV === "production" && settings.DATABASE_URL) {
    throw new Error(
      `${KEY_VARIABLE} is required in production with DATABASE_URL (every console process must share it, and a data folder may not outlive a container); ` +
        "generate one with `openssl rand -base64 32` and keep a copy: webhook secrets cannot be read without it",
    );
  }
  const file = path.join(settings.dataDir, KEY_FILE);
  let text: string | null = null;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`${file}: ${(error as Error).message}`);
  }
  if (text === null) {
    if (!options.create) throw new Error(`no encryption key: ${KEY_VARIABLE} is unset and ${file} does not exist`);
    try {
      // `wx`: two processes starting at once on one data folder never write two keys.
      fs.writeFileSync(file, `${randomBytes(KEY_BYTES).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`${file}: ${(error as Error).message}`);
    }
    text = fs.readFileSync(file, "utf8");
  }
  const key = decodeKey(text);
  if (!key) throw new Error(`${file}: not ${KEY_BYTES} bytes in base64; this file is the console's encryption key (${KEY_VARIABLE} unset): restore it from a backup`);
  return SecretBox.withKey(key, file);
}
