// Release source: a repository of an OCI registry holding bootc images.
// `readOciSource` lists the configured tag (or the tags matching a pattern),
// reads each image's manifest and configuration, and returns what a release
// is made of: the manifest digest machines switch to, the version label,
// build time, notes, layers, and the signature state under the source's key.
//
// Which digest: the agent runs `bootc switch repo@sha256:<checksum>` and
// then reports bootc's `imageDigest`, which is the digest of the image
// manifest bootc pulled. For a tag pointing at a single image that is the
// tag's digest. For a tag pointing at a manifest list / OCI index, bootc
// resolves the platform's manifest and reports *its* digest (not the
// index's), so the release digest here is the chosen platform's manifest
// digest (`indexDigest` keeps the tag's); switching to it works on any
// registry (a platform manifest is pullable by digest) and the machine then
// reports the same digest, so the console sees it reach the release. The
// signature checked is the one of that digest, which is also the one
// containers/image checks when a machine pulls by that digest.
import type { KeyObject } from "node:crypto";
import pLimit from "p-limit";
import { z } from "zod";
import { invalid } from "../errors";
import { diffImages, type ImageDiff } from "./oci-diff";
import { digestSyntax, type ManifestDocument, MEDIA_TYPES, RegistryClient } from "./oci-registry";
import { checkSignatures, parsePublicKey, type SignatureResult, signatureTag } from "./oci-signature";
import { isAttachmentTag, tagGlobToRegExp, tagPatternSyntax, tagSyntax } from "./oci-tags";
import { SourceReadError } from "./source-error";

export { diffImages, type ImageDiff };
export { SourceReadError } from "./source-error";

/** The distribution spec's repository name grammar (lower case, `/`-separated components). */
const repositorySyntax = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/** The OCI source's fields, before the checks across fields (`ociSourceConfigSchema`); the release-source union extends it. */
export const ociSourceFields = z
  .object({
    /** `https://registry.example.com` or `http://127.0.0.1:5000`: scheme, host and port only. */
    registry: z
      .string()
      .trim()
      .max(2048, "at most 2048 characters")
      .refine((value) => {
        try {
          const url = new URL(value);
          return (url.protocol === "https:" || url.protocol === "http:") && (url.pathname === "/" || url.pathname === "") && !url.search && !url.hash && !url.username && !url.password;
        } catch {
          return false;
        }
      }, "expected the registry's http(s) URL, such as https://quay.io (no path, no credentials in it)")
      .transform((value) => new URL(value).origin),
    /** `example/os`: the repository's name on the registry, without the host. */
    repository: z
      .string()
      .trim()
      .max(255, "at most 255 characters")
      .regex(repositorySyntax, "expected a repository name such as example/os (lower case, no host, no tag)")
      .refine(
        (name) => !(name.includes("/") && /[.:]|^localhost$/.test(name.split("/")[0])),
        "starts with a registry host: put the host in registry and the rest here (example/os)",
      ),
    tag: z.string().regex(tagSyntax, "expected a tag such as 41 or stable").optional(),
    /** A glob on the whole tag: `*` any characters, `?` one character; `41.*`, `stable-*`. */
    tagPattern: z
      .string()
      .regex(tagPatternSyntax, "expected a tag pattern such as 41.* or stable-* (letters, digits, . _ - and the wildcards * and ?)")
      .optional(),
    username: z.string().min(1, "must not be empty").max(1024, "at most 1024 characters").optional(),
    password: z.string().min(1, "must not be empty").max(8192, "at most 8192 characters").optional(),
    /** A cosign / sigstore public key (PEM: ECDSA, RSA or Ed25519). When set, every image's signature is checked. */
    publicKey: z
      .string()
      .max(16_384, "at most 16384 characters")
      .refine((pem) => {
        try {
          parsePublicKey(pem);
          return true;
        } catch {
          return false;
        }
      }, "expected a PEM public key (-----BEGIN PUBLIC KEY-----), ECDSA, RSA or Ed25519, as cosign generate-key-pair writes")
      .optional(),
    /** The platform taken from a manifest list: `os/architecture` or `os/architecture/variant`. */
    platform: z
      .string()
      .regex(/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/, "expected a platform such as linux/amd64 or linux/arm64/v8")
      .default("linux/amd64"),
  });

/** Exactly one of tag and tagPattern; both username and password, or neither. */
export function checkOciFields(
  config: { tag?: string; tagPattern?: string; username?: string; password?: string },
  ctx: z.RefinementCtx,
) {
  if ((config.tag === undefined) === (config.tagPattern === undefined)) {
    ctx.addIssue({ code: "custom", path: ["tag"], message: "give exactly one of tag and tagPattern" });
  }
  if ((config.username === undefined) !== (config.password === undefined)) {
    ctx.addIssue({ code: "custom", path: [config.username === undefined ? "username" : "password"], message: "give both username and password, or neither" });
  }
}

export const ociSourceConfigSchema = ociSourceFields.superRefine(checkOciFields);
export type OciSourceConfig = z.input<typeof ociSourceConfigSchema>;
type ParsedConfig = z.output<typeof ociSourceConfigSchema>;

export type FoundImage = {
  /** The tag read (the first in sort order when several tags name the same image; all are in `tags`). */
  tag: string;
  tags: string[];
  /** The image manifest's digest, `sha256:<64 hex>`: what machines switch to (see the top of this file). */
  digest: string;
  /** Orchard's release checksum: `digest` without `sha256:`. */
  checksum: string;
  /** The digest the tag points at when it is a manifest list / OCI index, else null. */
  indexDigest: string | null;
  /** Label `org.opencontainers.image.version`. */
  version: string | null;
  /** The configuration's `created`. */
  builtAt: Date | null;
  /** Label `org.opencontainers.image.title`, else `org.opencontainers.image.description`. */
  subject: string | null;
  /** The description (when the title is the subject), source, revision and URL labels, one per line. */
  body: string | null;
  labels: Record<string, string>;
  layers: { digest: string; size: number; mediaType: string }[];
  signature: SignatureResult;
};

export interface ReadOciSourceOptions {
  signal?: AbortSignal;
  /**
   * Digests (`sha256:…` or bare hex) already turned into releases: a tag whose
   * digest is one of them costs one HEAD request and is left out of the result.
   */
  knownDigests?: Set<string>;
  /** Tags per page of `tags/list` (`n`); default 100. */
  pageSize?: number;
  /** Per HTTP request, body included; default 30 s. */
  timeoutMs?: number;
  /** Requests in flight at once; default 4. */
  concurrency?: number;
  /**
   * With a tag pattern, a matching tag that cannot be a release (no image
   * for the platform, schema 1, not an image) is skipped and reported here
   * instead of failing the whole read. With a single tag it is thrown.
   */
  onSkippedTag?: (tag: string, reason: string) => void;
}

const LABELS = {
  version: "org.opencontainers.image.version",
  title: "org.opencontainers.image.title",
  description: "org.opencontainers.image.description",
  source: "org.opencontainers.image.source",
  revision: "org.opencontainers.image.revision",
  url: "org.opencontainers.image.url",
};

/**
 * Reads the source: the configured tag, or every tag matching the pattern
 * (attachment tags `sha256-….sig/.att/.sbom` never match), newest build
 * first. Throws SourceReadError (a sentence for the operator) when the
 * registry cannot be read, an AppError INVALID naming the field when the
 * configuration is wrong.
 */
export async function readOciSource(configInput: OciSourceConfig, options: ReadOciSourceOptions = {}): Promise<FoundImage[]> {
  const parsed = ociSourceConfigSchema.safeParse(configInput);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(issue.path.join(".") || "config", issue.message);
  }
  const config = parsed.data;
  const client = new RegistryClient({
    registry: new URL(config.registry),
    repository: config.repository,
    credentials: config.username !== undefined && config.password !== undefined ? { username: config.username, password: config.password } : undefined,
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  const publicKey = config.publicKey ? parsePublicKey(config.publicKey) : null;
  const known = normalizeDigests(options.knownDigests);
  const limit = pLimit(options.concurrency ?? 4);

  await client.probe();
  let tags: string[];
  if (config.tag !== undefined) tags = [config.tag];
  else {
    const pattern = tagGlobToRegExp(config.tagPattern ?? "");
    tags = (await client.listTags(options.pageSize ?? 100)).filter((t) => pattern.test(t) && !isAttachmentTag(t));
  }
  tags = [...new Set(tags)].sort();

  // Tags naming the same digest share one read.
  const reads = new Map<string, Promise<FoundImage | null>>();
  const results = await Promise.all(
    tags.map((tag) =>
      limit(async () => {
        try {
          const head = await client.headManifest(tag);
          if (head === "missing") throw new SourceReadError("not_found", `tag ${tag} not found in ${config.repository}`);
          if (head.digest && known.has(head.digest)) return null;
          const readKey = head.digest ?? `tag:${tag}`;
          let read = reads.get(readKey);
          if (!read) {
            read = readImage(client, config, tag, head.digest ?? tag, publicKey, known);
            reads.set(readKey, read);
          }
          const image = await read;
          return image ? { tag, image } : null;
        } catch (error) {
          if (config.tag === undefined && error instanceof SourceReadError && (error.kind === "config" || error.kind === "not_found")) {
            // A tag deleted since the list, or one that is not an image for our platform: not a release.
            options.onSkippedTag?.(tag, error.message);
            return null;
          }
          throw error;
        }
      }),
    ),
  );

  // One image per digest, whichever tags name it (an index and its platform image both lead here).
  const byDigest = new Map<string, FoundImage>();
  for (const result of results) {
    if (!result) continue;
    const seen = byDigest.get(result.image.digest);
    if (seen) {
      if (!seen.tags.includes(result.tag)) seen.tags.push(result.tag);
    } else byDigest.set(result.image.digest, { ...result.image, tag: result.tag, tags: [result.tag] });
  }
  for (const image of byDigest.values()) {
    image.tags.sort();
    image.tag = image.tags[0];
  }
  return [...byDigest.values()].sort(
    (a, b) => (b.builtAt?.getTime() ?? 0) - (a.builtAt?.getTime() ?? 0) || a.tag.localeCompare(b.tag),
  );
}

function normalizeDigests(digests: Set<string> | undefined): Set<string> {
  const out = new Set<string>();
  for (const d of digests ?? []) out.add(d.startsWith("sha256:") ? d : `sha256:${d}`);
  return out;
}

/** The image a tag names, read from `reference` (its digest when the HEAD gave one, else the tag). */
async function readImage(
  client: RegistryClient,
  config: ParsedConfig,
  tag: string,
  reference: string,
  key: KeyObject | null,
  known: Set<string>,
): Promise<FoundImage | null> {
  const where = `${config.repository}:${tag}`;
  const top = await client.getManifest(reference);
  if (top === "missing") throw new SourceReadError("not_found", `tag ${tag} not found in ${config.repository}`);
  let image: ManifestDocument = top;
  let indexDigest: string | null = null;
  if (isIndex(top)) {
    indexDigest = top.digest;
    const childDigest = pickPlatform(top, config.platform, where);
    if (known.has(childDigest)) return null;
    const child = await client.getManifest(childDigest);
    if (child === "missing") throw new SourceReadError("protocol", `the manifest list of ${where} names ${childDigest}, which the registry does not have`);
    image = child;
  }
  checkImageManifest(image, where);
  if (known.has(image.digest)) return null;

  const manifest = image.json as { config: { digest: string }; layers?: unknown[] };
  const configBytes = await client.getBlob(manifest.config.digest, `the configuration of ${where}`);
  let imageConfig: { created?: unknown; config?: { Labels?: unknown } | null };
  try {
    imageConfig = JSON.parse(configBytes.toString("utf8"));
  } catch {
    throw new SourceReadError("protocol", `the configuration of ${where} is not JSON`);
  }
  const labels: Record<string, string> = {};
  const rawLabels = imageConfig?.config?.Labels;
  if (rawLabels && typeof rawLabels === "object") {
    for (const [k, v] of Object.entries(rawLabels)) if (typeof v === "string") labels[k] = v;
  }
  const created = typeof imageConfig?.created === "string" ? new Date(imageConfig.created) : null;
  const layers = (manifest.layers ?? []).map((raw) => {
    const l = raw as Record<string, unknown>;
    return {
      digest: String(l.digest ?? ""),
      size: typeof l.size === "number" ? l.size : 0,
      mediaType: String(l.mediaType ?? ""),
    };
  });

  const title = nonEmpty(labels[LABELS.title]);
  const description = nonEmpty(labels[LABELS.description]);
  const bodyLines = [
    title ? description : null,
    labels[LABELS.source] ? `Source: ${labels[LABELS.source]}` : null,
    labels[LABELS.revision] ? `Revision: ${labels[LABELS.revision]}` : null,
    labels[LABELS.url] ? `URL: ${labels[LABELS.url]}` : null,
  ].filter((line): line is string => Boolean(line));

  let signature: SignatureResult = key
    ? await checkSignatures(client, key, { digest: image.digest, repository: config.repository })
    : { state: "not_checked", reason: null };
  if (signature.state === "unsigned" && indexDigest && (await client.getManifest(signatureTag(indexDigest))) !== "missing") {
    // `cosign sign` without --recursive signs only the list; a machine pulling the platform image by digest finds no signature.
    signature = {
      state: "unsigned",
      reason: `no signature for ${image.digest}, the ${config.platform} image machines switch to; only its manifest list ${indexDigest} is signed (sign with cosign sign --recursive)`,
    };
  }

  return {
    tag,
    tags: [tag],
    digest: image.digest,
    checksum: image.digest.slice("sha256:".length),
    indexDigest,
    version: nonEmpty(labels[LABELS.version]),
    builtAt: created && !Number.isNaN(created.getTime()) ? created : null,
    subject: title ?? description,
    body: bodyLines.length ? bodyLines.join("\n") : null,
    labels,
    layers,
    signature,
  };
}

function nonEmpty(value: string | undefined): string | null {
  return value && value.trim() ? value.trim() : null;
}

function isIndex(doc: ManifestDocument): boolean {
  return doc.mediaType === MEDIA_TYPES.ociIndex || doc.mediaType === MEDIA_TYPES.dockerList || Array.isArray(doc.json.manifests);
}

function pickPlatform(index: ManifestDocument, platform: string, where: string): string {
  const [os, architecture, variant] = platform.split("/");
  const entries = (index.json.manifests as Record<string, unknown>[]).filter(
    (m) => m && typeof m.digest === "string" && digestSyntax.test(m.digest) && (m.platform as Record<string, unknown> | undefined),
  );
  const matching = entries.filter((m) => {
    const p = m.platform as Record<string, unknown>;
    return p.os === os && p.architecture === architecture && (variant === undefined || p.variant === variant);
  });
  if (matching.length === 0) {
    const offered = entries.map((m) => {
      const p = m.platform as Record<string, unknown>;
      return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
    });
    throw new SourceReadError("config", `the manifest list of ${where} has no ${platform} image (it has ${offered.length ? offered.join(", ") : "none with a platform"})`);
  }
  return matching[0].digest as string;
}

function checkImageManifest(doc: ManifestDocument, where: string) {
  if (doc.mediaType === MEDIA_TYPES.dockerSchema1 || doc.mediaType === MEDIA_TYPES.dockerSchema1Signed || doc.json.schemaVersion === 1) {
    throw new SourceReadError("config", `${where} is a Docker schema 1 image, which bootc cannot run; push it again as an OCI or Docker v2 image`);
  }
  if (isIndex(doc)) throw new SourceReadError("config", `${where} is a manifest list inside a manifest list`);
  const config = doc.json.config as Record<string, unknown> | undefined;
  if (!config || typeof config.digest !== "string" || !digestSyntax.test(config.digest)) {
    throw new SourceReadError("protocol", `the manifest of ${where} has no configuration digest`);
  }
  if (doc.json.layers !== undefined && !Array.isArray(doc.json.layers)) {
    throw new SourceReadError("protocol", `the manifest of ${where} has layers that are not a list`);
  }
}
