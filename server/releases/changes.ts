// A release's changes since the previous release of its branch, as stored
// when its source brought it (server/release-sources/changes.ts): never read
// from a repository here.
import type { PrismaClient } from "../db/client";
import type { MetadataDiff } from "../release-sources/changes";
import type { ImageDiff } from "../release-sources/oci-diff";
import { invalid } from "../errors";
import { type ChangedPathsInput, changedPathsInput, type GetReleaseInput, PATH_CHANGES } from "./schemas";

type PathChange = (typeof PATH_CHANGES)[number];

/** The id of the release `input` names (its id, or its version and ref); refuses naming the field. */
export async function findReleaseId(db: PrismaClient, input: GetReleaseInput): Promise<string> {
  if (input.id) {
    const row = await db.release.findUnique({ where: { id: input.id }, select: { id: true } });
    if (!row) throw invalid("id", `no release with id ${input.id}`);
    return row.id;
  }
  const version = input.version ?? "";
  const found = await db.release.findMany({ where: { version, ...(input.ref ? { branch: { ref: input.ref } } : {}) }, select: { id: true }, take: 2 });
  if (found.length === 0) throw invalid("version", `no release ${version}${input.ref ? ` on ${input.ref}` : ""}`);
  if (found.length > 1) throw invalid("ref", `several branches have a release ${version}: name the ref`);
  return found[0].id;
}

function storedPaths(value: unknown): { path: string; change: PathChange }[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (p): p is { path: string; change: PathChange } =>
      Boolean(p) && typeof p.path === "string" && (PATH_CHANGES as readonly string[]).includes(p.change),
  );
}

const changesSelect = {
  baseReleaseId: true,
  baseVersion: true,
  kind: true,
  added: true,
  removed: true,
  modified: true,
  paths: true,
  pathsTruncated: true,
  metadata: true,
  image: true,
  error: true,
  computedAt: true,
} as const;

/**
 * The release's stored changes (without the paths: releases.changedPaths
 * pages them), or why there are none.
 */
export async function releaseChanges(
  db: PrismaClient,
  release: { id: string; seq: number; branchId: string; sourceId: string | null },
) {
  const row = await db.releaseChanges.findUnique({ where: { releaseId: release.id }, select: changesSelect });
  if (row) {
    const files =
      row.added !== null && row.removed !== null && row.modified !== null
        ? { added: row.added, removed: row.removed, modified: row.modified, pathsKept: storedPaths(row.paths).length, pathsTruncated: row.pathsTruncated }
        : null;
    return {
      changes: {
        base: { id: row.baseReleaseId, version: row.baseVersion },
        kind: row.kind,
        files,
        metadata: (row.metadata ?? null) as MetadataDiff | null,
        image: (row.image ?? null) as ImageDiff | null,
        error: row.error,
        computedAt: row.computedAt,
      },
      changesAbsent: null,
    };
  }
  const previous = await db.release.findFirst({
    where: { branchId: release.branchId, seq: { lt: release.seq } },
    orderBy: { seq: "desc" },
    select: { version: true, sourceId: true },
  });
  let why: string;
  if (!release.sourceId) why = "This release was added by hand (or its source was removed): the console has nothing to compare it with.";
  else if (!previous) why = "This is the first release of its branch: there is nothing before it to compare with.";
  else if (!previous.sourceId) why = `The previous release, ${previous.version}, was added by hand: the console knows nothing of its files to compare with.`;
  else why = `Not compared with ${previous.version}: this release was brought by a source of another kind, or before the console compared releases.`;
  return { changes: null, changesAbsent: why };
}

/** A page of the paths the release changed, filtered by text and kind of change, sorted by path. */
export async function listChangedPaths(db: PrismaClient, input: ChangedPathsInput) {
  const query = changedPathsInput.parse(input);
  const id = await findReleaseId(db, query);
  const row = await db.releaseChanges.findUnique({ where: { releaseId: id }, select: { paths: true } });
  const needle = query.q?.toLowerCase();
  const matching = storedPaths(row?.paths).filter(
    (p) => (!query.change || p.change === query.change) && (!needle || p.path.toLowerCase().includes(needle)),
  );
  const start = query.page * query.pageSize;
  return { rows: matching.slice(start, start + query.pageSize), total: matching.length, page: query.page, pageSize: query.pageSize };
}
