import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sendability } from "../releases/sendable";
import { decode, encode } from "./gvariant";
import { checkEd25519, judgeGpgShow, toJson } from "./ostree";
import { retryDelaySeconds, versionFor } from "./sources";

const COMMIT = "(a{sv}aya(say)sstayay)";

describe("GVariant", () => {
  it("writes and reads a commit and detached metadata alike", () => {
    const commit = [
      { version: { type: "s", value: "2026.11.1" }, "ostree.ref-binding": { type: "as", value: ["os/x86_64/stable"] } },
      Buffer.alloc(32, 1),
      [],
      "Subject",
      "Body\nof two lines",
      123n,
      Buffer.alloc(32, 2),
      Buffer.alloc(32, 3),
    ];
    const bytes = encode(COMMIT, commit);
    expect(decode(COMMIT, bytes)).toEqual(commit);
    const meta = { "ostree.sign.ed25519": { type: "aay", value: [Buffer.alloc(64, 7), Buffer.alloc(64, 9)] } };
    expect(decode("a{sv}", encode("a{sv}", meta))).toEqual(meta);
    // Containers past 255 bytes take two-byte framing offsets.
    const big = { a: { type: "s", value: "x".repeat(300) }, b: { type: "t", value: 5n } };
    expect(decode("a{sv}", encode("a{sv}", big))).toEqual(big);
    expect(toJson(decode("a{sv}", encode("a{sv}", big)))).toEqual({ a: "x".repeat(300), b: 5 });
  });
});

describe("signatures", () => {
  it("checks ed25519 signatures over the commit bytes with the source's key only", () => {
    const mine = generateKeyPairSync("ed25519");
    const theirs = generateKeyPairSync("ed25519");
    const publicKey = Buffer.from(mine.publicKey.export({ format: "jwk" }).x!, "base64url").toString("base64");
    const bytes = Buffer.from("a commit");
    const signed = (key: typeof mine.privateKey) => ({ "ostree.sign.ed25519": { type: "aay", value: [sign(null, bytes, key)] } });
    expect(checkEd25519(bytes, signed(mine.privateKey), publicKey)).toEqual({ state: "valid", reason: null });
    expect(checkEd25519(bytes, signed(theirs.privateKey), publicKey).state).toBe("invalid");
    expect(checkEd25519(Buffer.from("another commit"), signed(mine.privateKey), publicKey).state).toBe("invalid");
    expect(checkEd25519(bytes, {}, publicKey).state).toBe("unsigned");
  });

  it("reads only ostree's signature section of `ostree show`, never the commit's own text", () => {
    const forged = "commit abc\nDate: x\n\n    Found 1 signature:\n      Good signature from \"forged\"\n";
    expect(judgeGpgShow(forged).state).toBe("unsigned");
    const good = `${forged}\nFound 1 signature:\n\n  Signature made Mon Nov 30 using EdDSA key ID 02\n  Good signature from "Signer <s@example.com>"\n`;
    expect(judgeGpgShow(good)).toEqual({ state: "valid", reason: null });
    const unknown = "commit abc\n\nFound 1 signature:\n\n  Signature made Mon Nov 30 using EdDSA key ID 02\n  Can't check signature: public key not found\n";
    expect(judgeGpgShow(unknown)).toEqual({ state: "invalid", reason: "GPG: Can't check signature: public key not found" });
  });

  it("says why a release may not be sent, and lets valid and unchecked ones go", () => {
    expect(sendability({ version: "1", signatureState: "valid", signatureReason: null })).toEqual({ sendable: true, reason: null });
    expect(sendability({ version: "1", signatureState: "not_checked", signatureReason: null }).sendable).toBe(true);
    expect(sendability({ version: "2", signatureState: "unsigned", signatureReason: "no signature" })).toEqual({
      sendable: false,
      reason: "release 2 is unsigned: no signature; it cannot be sent to machines",
    });
  });
});

describe("sync rules", () => {
  it("backs off from the interval, doubling up to a cap", () => {
    expect([0, 1, 2, 3, 4].map((n) => retryDelaySeconds(60, n))).toEqual([60, 60, 120, 240, 480]);
    expect(retryDelaySeconds(60, 30)).toBe(3600);
    expect(retryDelaySeconds(7200, 5)).toBe(7200);
  });

  it("names a release by its version, or by its checksum when it has none or it is taken", () => {
    const found = { checksum: "ab".repeat(32), version: "2026.11.1" } as Parameters<typeof versionFor>[0];
    expect(versionFor(found, new Set())).toBe("2026.11.1");
    expect(versionFor(found, new Set(["2026.11.1"]))).toBe(`2026.11.1+${"ab".repeat(6)}`);
    expect(versionFor({ ...found, version: null }, new Set())).toBe("ab".repeat(6));
    expect(versionFor({ ...found, version: "not a version!" }, new Set())).toBe("ab".repeat(6));
  });
});
