// What changed in each release a source brings, since the release before it
// on its branch (by seq): worked out once, when the pass stores the release,
// and kept in release_changes, so that pages never read a repository. A diff
// that fails stores its error (shown on the release's page) and never fails
// the pass. Compared only with a previous release that a source of the same
// kind brought: one added by hand says nothing of its files or layers.
import type { Prisma, PrismaClient } from "../db/client";
import type { Logger } from "../logger";
import type { ReleaseSourceKind } from "../vocabulary";
import type { ReadContext, SourceReader } from "./reader";
import type { SourceConfig } from "./schemas";

/** The most changed paths kept per release (the counts are always whole). */
export const CHANGED_PATHS_CAP = 10_000;

export interface MetadataDiff {
  added: Record<string, unknown>;
  removed: Record<string, unknown>;
  changed: Record<string, { from: unknown; to: unknown }>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return Boolean(value) && typeof value === "object" && !Array.isArray(value);
}

/** Keys of the commit metadata added, removed and changed (values compared as JSON). */
export function diffMetadata(older: unknown, newer: unknown): MetadataDiff {
  const a = isRecord(older) ? older : {};
  const b = isRecord(newer) ? newer : {};
  const diff: MetadataDiff = { added: {}, removed: {}, changed: {} };
  for (const [key, value] of Object.entries(b)) {
    if (!Object.hasOwn(a, key)) diff.added[key] = value;
    else if (JSON.stringify(a[key]) !== JSON.stringify(value)) diff.changed[key] = { from: a[key], to: value };
  }
  for (const [key, value] of Object.entries(a)) if (!Object.hasOwn(b, key)) diff.removed[key] = value;
  return diff;
}

/**
 * Works out and stores the changes of each release in `releaseIds` (brought
 * by the source now), oldest first. Never throws: what fails is stored as
 * the row's error, or logged when even that fails.
 */
export async function recordChanges(
  db: PrismaClient,
  source: { name: string; kind: ReleaseSourceKind },
  reader: SourceReader,
  config: SourceConfig,
  context: ReadContext,
  releaseIds: string[],
  log: Logger,
): Promise<void> {
  for (const id of releaseIds) {
    try {
      const release = await db.release.findUnique({ where: { id }, select: { id: true, seq: true, branchId: true, checksum: true, metadata: true } });
      if (!release) continue;
      const base = await db.release.findFirst({
        where: { branchId: release.branchId, seq: { lt: release.seq } },
        orderBy: { seq: "desc" },
        select: { id: true, version: true, checksum: true, metadata: true, source: { select: { kind: true } } },
      });
      if (!base || base.source?.kind !== source.kind) continue;
      let found: Awaited<ReturnType<NonNullable<SourceReader["changes"]>>> = {};
      let error: string | null = null;
      try {
        if (!reader.changes) throw new Error(`this console cannot compare ${source.kind} releases`);
        found = await reader.changes(config, context, base, release);
      } catch (e) {
        error = (e instanceof Error ? e.message : String(e)).slice(0, 2000);
        log.warn({ source: source.name, release: id, err: error }, "release changes not worked out");
      }
      const files = found.files;
      const data = {
        baseReleaseId: base.id,
        baseVersion: base.version,
        kind: source.kind,
        added: files?.added ?? null,
        removed: files?.removed ?? null,
        modified: files?.modified ?? null,
        paths: files ? (files.paths.slice(0, CHANGED_PATHS_CAP) as Prisma.InputJsonValue) : undefined,
        pathsTruncated: files ? files.paths.length > CHANGED_PATHS_CAP : false,
        metadata: source.kind === "ostree" ? (diffMetadata(base.metadata, release.metadata) as unknown as Prisma.InputJsonValue) : undefined,
        image: found.image ? (found.image as unknown as Prisma.InputJsonValue) : undefined,
        error,
      };
      await db.releaseChanges.upsert({ where: { releaseId: id }, create: { releaseId: id, ...data }, update: data });
    } catch (e) {
      log.error({ source: source.name, release: id, err: e }, "release changes not stored");
    }
  }
}
