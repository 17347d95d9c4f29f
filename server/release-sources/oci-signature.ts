// Sigstore (cosign) signatures of an image, checked as containers/image's
// `sigstoreSigned` policy requirement does when a machine pulls the image by
// digest (`bootc switch --enforce-container-sigpolicy repo@sha256:…`):
// - the signatures live in the same repository under the tag
//   `sha256-<hex>.sig`, an OCI manifest whose layers of media type
//   `application/vnd.dev.cosign.simplesigning.v1+json` each hold one
//   signature: the layer blob is the simple-signing payload, the annotation
//   `dev.cosignproject.cosign/signature` the base64 signature over it;
// - a signature is accepted when it verifies with the public key, its
//   `critical.type` is "cosign container image signature", its
//   `critical.image.docker-manifest-digest` is the image's digest, and its
//   `critical.identity.docker-reference` names the same repository (the
//   default `matchRepoDigestOrExact` identity rule for a pull by digest;
//   the host is not compared: the console may reach the registry at another
//   address than machines do);
// - one accepted signature is enough; none → "invalid" with the first reason.
// Fulcio certificates and Rekor bundles (keyless signing) are not checked:
// only a configured public key is.
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import type { RegistryClient } from "./oci-registry";
import { SourceReadError } from "./source-error";

export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
export const COSIGN_SIGNATURE_TYPE = "cosign container image signature";

export type SignatureState = "valid" | "unsigned" | "invalid" | "not_checked";
export interface SignatureResult {
  state: SignatureState;
  reason: string | null;
}

/** The tag cosign and containers/image store an image's signatures under. */
export function signatureTag(digest: string): string {
  return `${digest.replace(":", "-")}.sig`;
}

/** Parses a PEM public key (ECDSA, RSA or Ed25519, as cosign and sigstore accept); throws a sentence. */
export function parsePublicKey(pem: string): KeyObject {
  const key = createPublicKey({ key: pem, format: "pem" });
  if (key.type !== "public") throw new Error("not a public key");
  const type = key.asymmetricKeyType;
  if (type !== "ec" && type !== "rsa" && type !== "ed25519") throw new Error(`a ${type} key; expected ECDSA, RSA or Ed25519`);
  return key;
}

/** One signature against the image digest and repository; null when accepted, else why not. */
export function checkSimpleSigning(
  payload: Buffer,
  base64Signature: string,
  key: KeyObject,
  expected: { digest: string; repository: string },
): string | null {
  const signature = Buffer.from(base64Signature, "base64");
  if (signature.length === 0) return "the signature annotation is empty or not base64";
  const algorithm = key.asymmetricKeyType === "ed25519" ? null : "sha256";
  let verified = false;
  try {
    verified = verify(algorithm, payload, key, signature);
  } catch {
    verified = false;
  }
  if (!verified) return "the signature does not verify with the source's public key";
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString("utf8"));
  } catch {
    return "the signed payload is not JSON";
  }
  const critical = (parsed as { critical?: Record<string, unknown> } | null)?.critical;
  if (!critical || typeof critical !== "object") return "the signed payload has no critical section";
  if (critical.type !== COSIGN_SIGNATURE_TYPE) return `the signed payload's type is ${JSON.stringify(critical.type)}, not "${COSIGN_SIGNATURE_TYPE}"`;
  const signedDigest = (critical.image as Record<string, unknown> | undefined)?.["docker-manifest-digest"];
  if (signedDigest !== expected.digest) {
    return `the signature is for ${typeof signedDigest === "string" ? signedDigest : "no digest"}, not for ${expected.digest}`;
  }
  const reference = (critical.identity as Record<string, unknown> | undefined)?.["docker-reference"];
  if (typeof reference !== "string" || !reference) return "the signed payload names no docker-reference";
  const signedRepository = repositoryPath(reference);
  if (signedRepository !== expected.repository) {
    return `the signature is for repository ${signedRepository}, not ${expected.repository}`;
  }
  return null;
}

/**
 * `host:5000/a/b:tag`, `host/a/b@sha256:…`, `a/b` → the path `a/b`. A first
 * component with a dot or a colon, or `localhost`, is a host (Docker's rule).
 */
export function repositoryPath(reference: string): string {
  let name = reference.split("@")[0];
  const lastSlash = name.lastIndexOf("/");
  const colon = name.indexOf(":", lastSlash + 1);
  if (colon >= 0) name = name.slice(0, colon);
  const parts = name.split("/");
  if (parts.length > 1 && (parts[0].includes(".") || parts[0].includes(":") || parts[0] === "localhost")) parts.shift();
  return parts.join("/");
}

export async function checkSignatures(
  client: RegistryClient,
  key: KeyObject,
  image: { digest: string; repository: string },
): Promise<SignatureResult> {
  const tag = signatureTag(image.digest);
  const manifest = await client.getManifest(tag);
  if (manifest === "missing") return { state: "unsigned", reason: `no signature for ${image.digest} (no tag ${tag})` };
  const layers = Array.isArray(manifest.json.layers) ? (manifest.json.layers as Record<string, unknown>[]) : [];
  const signatureLayers = layers.filter((l) => l?.mediaType === SIMPLE_SIGNING_MEDIA_TYPE);
  if (signatureLayers.length === 0) {
    return { state: "unsigned", reason: `the tag ${tag} holds no ${SIMPLE_SIGNING_MEDIA_TYPE} layer` };
  }
  const reasons: string[] = [];
  for (const layer of signatureLayers) {
    const digest = typeof layer.digest === "string" ? layer.digest : "";
    const annotations = (layer.annotations ?? {}) as Record<string, unknown>;
    const signature = annotations[SIGNATURE_ANNOTATION];
    if (typeof signature !== "string") {
      reasons.push(`a signature layer has no ${SIGNATURE_ANNOTATION} annotation`);
      continue;
    }
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
      reasons.push("a signature layer has no sha256 digest");
      continue;
    }
    let payload: Buffer;
    try {
      payload = await client.getBlob(digest, `the signature payload ${digest}`);
    } catch (error) {
      if (error instanceof SourceReadError && error.kind === "not_found") {
        reasons.push(`the signature payload ${digest} is missing from the registry`);
        continue;
      }
      throw error;
    }
    const reason = checkSimpleSigning(payload, signature, key, image);
    if (reason === null) return { state: "valid", reason: null };
    reasons.push(reason);
  }
  return {
    state: "invalid",
    reason: signatureLayers.length === 1 ? reasons[0] : `none of ${signatureLayers.length} signatures is accepted: ${reasons.join("; ")}`,
  };
}
