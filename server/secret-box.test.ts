import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config";
import { decodeKey, isSealed, KEY_FILE, loadSecretBox, SecretBox, SecretBoxError } from "./secret-box";

const box = () => SecretBox.withKey(randomBytes(32), "test key");

describe("the secret box", () => {
  it("seals with a fresh IV each time and opens what it sealed, for the same purpose only", () => {
    const b = box();
    const a1 = b.seal("whsec_abc", "webhook-signing-secret");
    const a2 = b.seal("whsec_abc", "webhook-signing-secret");
    expect(a1).not.toBe(a2);
    expect(isSealed(a1)).toBe(true);
    expect(a1).not.toContain("abc");
    expect(a1.split(".")[1]).toBe(b.keyId);
    expect(b.open(a1, "webhook-signing-secret")).toBe("whsec_abc");
    expect(() => b.open(a1, "idempotent-answer")).toThrow(/does not open under encryption key .*altered/);
  });

  it("says which key sealed a value when another key opens it, and refuses an altered one", () => {
    const a = box();
    const b = box();
    const sealed = a.seal("whsec_abc", "p");
    expect(() => b.open(sealed, "p")).toThrow(SecretBoxError);
    expect(() => b.open(sealed, "p")).toThrow(`sealed under encryption key ${a.keyId}, but this console's key (test key) is ${b.keyId}`);
    const parts = sealed.split(".");
    const flipped = Buffer.from(parts[3], "base64url");
    flipped[0] ^= 1;
    expect(() => a.open([...parts.slice(0, 3), flipped.toString("base64url"), parts[4]].join("."), "p")).toThrow(/altered/);
    expect(() => a.open("orchsec1.x.y", "p")).toThrow(/damaged/);
    // A value from before sealing comes back as it is (the console seals those at start).
    expect(a.open("whsec_clear", "p")).toBe("whsec_clear");
  });

  it("without a key, refuses to seal or open with the reason it was given", () => {
    const none = SecretBox.unavailable("no key here");
    expect(none.keyId).toBeNull();
    expect(() => none.seal("x", "p")).toThrow("no key here");
    expect(() => none.open(box().seal("x", "p"), "p")).toThrow("no key here");
  });

  it("takes 32 bytes of base64 only", () => {
    expect(decodeKey(randomBytes(32).toString("base64"))).toHaveLength(32);
    expect(decodeKey(`${randomBytes(32).toString("base64url")}\n`)).toHaveLength(32);
    expect(decodeKey(randomBytes(16).toString("base64"))).toBeNull();
    expect(decodeKey("not base64 at all!")).toBeNull();
  });
});

describe("the console's key", () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "orch-key-"));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it("is ORCHARD_ENCRYPTION_KEY when set, checked at start naming the variable", () => {
    const key = randomBytes(32).toString("base64");
    const b = loadSecretBox({ ORCHARD_ENCRYPTION_KEY: key, NODE_ENV: "production", DATABASE_URL: "postgresql://x", dataDir: "/nonexistent" }, { create: true });
    expect(b.source).toBe("ORCHARD_ENCRYPTION_KEY");
    expect(b.open(SecretBox.withKey(Buffer.from(key, "base64"), "same").seal("s", "p"), "p")).toBe("s");
    expect(() => loadConfig({ ORCHARD_ENCRYPTION_KEY: "too-short" })).toThrow(ConfigError);
    expect(() => loadConfig({ ORCHARD_ENCRYPTION_KEY: "too-short" })).toThrow(/ORCHARD_ENCRYPTION_KEY: must be 32 bytes in base64/);
    expect(loadConfig({ ORCHARD_ENCRYPTION_KEY: key }).ORCHARD_ENCRYPTION_KEY).toBe(key);
  });

  it("is required in production with DATABASE_URL", () => {
    expect(() => loadSecretBox({ NODE_ENV: "production", DATABASE_URL: "postgresql://x", dataDir: dir() }, { create: true })).toThrow(
      /^ORCHARD_ENCRYPTION_KEY is required in production with DATABASE_URL/,
    );
  });

  it("else is a key file made once in the data folder, readable by its owner only, and the same at every start", () => {
    const dataDir = dir();
    const settings = { NODE_ENV: "development", dataDir };
    expect(() => loadSecretBox(settings, { create: false })).toThrow(`no encryption key: ORCHARD_ENCRYPTION_KEY is unset and ${path.join(dataDir, KEY_FILE)} does not exist`);
    const first = loadSecretBox(settings, { create: true });
    const file = path.join(dataDir, KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(first.source).toBe(file);
    const again = loadSecretBox(settings, { create: false });
    expect(again.keyId).toBe(first.keyId);
    expect(again.open(first.seal("s", "p"), "p")).toBe("s");
    fs.writeFileSync(file, "garbage\n");
    expect(() => loadSecretBox(settings, { create: true })).toThrow(`${file}: not 32 bytes in base64`);
  });
});
