import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkSimpleSigning, parsePublicKey, repositoryPath, signatureTag } from "./oci-signature";

const digest = `sha256:${"ab".repeat(32)}`;
const payloadFor = (over: { digest?: string; reference?: string; type?: string } = {}) =>
  Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": over.reference ?? "quay.io/example/os:41" },
        image: { "docker-manifest-digest": over.digest ?? digest },
        type: over.type ?? "cosign container image signature",
      },
      optional: { creator: "test" },
    }),
  );

describe("checkSimpleSigning", () => {
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ed = generateKeyPairSync("ed25519");
  const expected = { digest, repository: "example/os" };

  it("accepts an ECDSA or Ed25519 signature over the payload naming the digest and repository", () => {
    const payload = payloadFor();
    expect(checkSimpleSigning(payload, sign("sha256", payload, ec.privateKey).toString("base64"), ec.publicKey, expected)).toBeNull();
    expect(checkSimpleSigning(payload, sign(null, payload, ed.privateKey).toString("base64"), ed.publicKey, expected)).toBeNull();
  });

  it("says why it refuses: another key, other bytes, another digest, type or repository", () => {
    const payload = payloadFor();
    const signature = sign("sha256", payload, ec.privateKey).toString("base64");
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(checkSimpleSigning(payload, signature, other.publicKey, expected)).toBe("the signature does not verify with the source's public key");
    expect(checkSimpleSigning(Buffer.concat([payload, Buffer.from(" ")]), signature, ec.publicKey, expected)).toBe(
      "the signature does not verify with the source's public key",
    );
    expect(checkSimpleSigning(payload, "", ec.publicKey, expected)).toBe("the signature annotation is empty or not base64");
    const signed = (p: Buffer) => sign("sha256", p, ec.privateKey).toString("base64");
    const otherDigest = `sha256:${"cd".repeat(32)}`;
    const forOther = payloadFor({ digest: otherDigest });
    expect(checkSimpleSigning(forOther, signed(forOther), ec.publicKey, expected)).toBe(`the signature is for ${otherDigest}, not for ${digest}`);
    const wrongType = payloadFor({ type: "atomic container signature" });
    expect(checkSimpleSigning(wrongType, signed(wrongType), ec.publicKey, expected)).toMatch(/^the signed payload's type is "atomic container signature"/);
    const otherRepo = payloadFor({ reference: "quay.io/example/other@sha256:" + "0".repeat(64) });
    expect(checkSimpleSigning(otherRepo, signed(otherRepo), ec.publicKey, expected)).toBe("the signature is for repository example/other, not example/os");
    const notJson = Buffer.from("not json");
    expect(checkSimpleSigning(notJson, signed(notJson), ec.publicKey, expected)).toBe("the signed payload is not JSON");
  });
});

describe("repositoryPath and signatureTag", () => {
  it("drops the host (a first component with a dot, a colon or localhost), the tag and the digest", () => {
    expect(repositoryPath("127.0.0.1:5000/example/os:41")).toBe("example/os");
    expect(repositoryPath("quay.io/example/os@sha256:" + "0".repeat(64))).toBe("example/os");
    expect(repositoryPath("localhost/os")).toBe("os");
    expect(repositoryPath("example/os:41")).toBe("example/os");
    expect(repositoryPath("example/os")).toBe("example/os");
  });
  it("names the signature tag as cosign does", () => {
    expect(signatureTag(digest)).toBe(`sha256-${"ab".repeat(32)}.sig`);
  });
});

describe("parsePublicKey", () => {
  it("takes PEM public keys of the kinds cosign uses and refuses the rest", () => {
    const pem = (k: { publicKey: import("node:crypto").KeyObject }) => k.publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(parsePublicKey(pem(generateKeyPairSync("ec", { namedCurve: "P-256" }))).asymmetricKeyType).toBe("ec");
    expect(parsePublicKey(pem(generateKeyPairSync("rsa", { modulusLength: 2048 }))).asymmetricKeyType).toBe("rsa");
    expect(() => parsePublicKey(pem(generateKeyPairSync("x25519")))).toThrow("a x25519 key; expected ECDSA, RSA or Ed25519");
    expect(() => parsePublicKey("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")).toThrow();
  });
});
