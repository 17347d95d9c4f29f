// What every kind of release source answers: what releases it has now. A
// reader reads only; the sync (sync.ts) decides what is new, stores it in one
// transaction and keeps the source's state. Add a kind: its config schema in
// schemas.ts, its reader here in READERS.
import type { Logger } from "../logger";
import type { ReleaseSourceKind, SignatureState } from "../vocabulary";
import { z } from "zod";
import { readOciSource } from "./oci";
import { diffImages, type ImageDiff } from "./oci-diff";
import { ostreeReader } from "./ostree";
import type { TreeDiff } from "./ostree-diff";
import type { SourceConfig } from "./schemas";

/** One release as the source has it. */
export interface FoundRelease {
  /** The ostree commit checksum, or the image's manifest digest (hex, 64). */
  checksum: string;
  /** The commit's `version` metadata or the image's version label; null when it has none. */
  version: string | null;
  builtAt: Date | null;
  subject: string | null;
  body: string | null;
  /** What the source says of it (commit metadata, labels), as JSON. */
  metadata: Record<string, unknown>;
  signature: { state: SignatureState; reason: string | null };
}

export interface ReadContext {
  /** The source's id: names its remote, its keyring, whatever the reader keeps. */
  sourceId: string;
  /** A folder under the console's data folder that readers may keep state in. */
  workDir: string;
  /** Checksums the branch already has: the reader may stop walking history at one. */
  known: ReadonlySet<string>;
  log: Logger;
}

/** A release as stored: what a reader compares. */
export interface StoredRelease {
  checksum: string;
  metadata: unknown;
}

/** What changed from one release of a source's branch to the next, as its kind can tell. */
export interface FoundChanges {
  /** ostree: the paths, as `ostree diff` lists them. */
  files?: TreeDiff;
  /** Images: layers and labels. */
  image?: ImageDiff;
}

export interface SourceReader<C extends SourceConfig = SourceConfig> {
  kind: C["kind"];
  /** Null when this host can read such a source; else why not (a missing command, say), in words an operator reads. */
  unavailable(): Promise<string | null>;
  /** The releases the source has now, newest first (those in `known` may be left out). */
  read(config: C, context: ReadContext): Promise<FoundRelease[]>;
  /**
   * What changed from `older` to `newer` (releases of the source's branch,
   * `older` the one before `newer`); may read the source, never the database.
   */
  changes?(config: C, context: ReadContext, older: StoredRelease, newer: StoredRelease): Promise<FoundChanges>;
  /** Forgets what it kept for a removed or changed source (best effort). */
  forget?(sourceId: string, workDir: string): Promise<void>;
}

/**
 * Images of a registry repository: the release is the image manifest's digest
 * (what `bootc switch repo@sha256:…` boots and bootc reports), its version the
 * `org.opencontainers.image.version` label, else the tag.
 */
export const ociReader: SourceReader<Extract<SourceConfig, { kind: "oci" }>> = {
  kind: "oci",
  // Spoken over HTTP by the console itself: nothing to install.
  unavailable: async () => null,
  async read(config, context) {
    const { kind: _kind, ...registry } = config;
    const images = await readOciSource(registry, {
      knownDigests: new Set(context.known),
      onSkippedTag: (tag, reason) => context.log.info({ source: context.sourceId, tag, reason }, "tag skipped"),
    });
    return images.map((image) => ({
      checksum: image.checksum,
      version: image.version ?? image.tag,
      builtAt: image.builtAt,
      subject: image.subject,
      body: image.body,
      metadata: { digest: image.digest, indexDigest: image.indexDigest, tags: image.tags, labels: image.labels, layers: image.layers },
      signature: image.signature,
    }));
  },
  // The layers and labels were stored with each release: nothing to read.
  async changes(_config, _context, older, newer) {
    return { image: diffImages(storedImage(older, "the previous release"), storedImage(newer, "the release")) };
  },
};

const storedImageSchema = z.object({
  labels: z.record(z.string(), z.string()),
  layers: z.array(z.object({ digest: z.string(), size: z.number(), mediaType: z.string() })),
});

function storedImage(release: StoredRelease, what: string) {
  const parsed = storedImageSchema.safeParse(release.metadata);
  if (!parsed.success) throw new Error(`${what} has no stored layers and labels (it was read before the console kept them)`);
  return parsed.data;
}

/** The reader of each kind this console can read. */
export const READERS: { [K in ReleaseSourceKind]?: SourceReader<Extract<SourceConfig, { kind: K }>> } = {
  ostree: ostreeReader,
  oci: ociReader,
};

export function readerFor(kind: ReleaseSourceKind): SourceReader | null {
  return (READERS[kind] as SourceReader | undefined) ?? null;
}
