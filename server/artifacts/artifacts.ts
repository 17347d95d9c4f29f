// Release artifacts: the files a release carries, kept under the data
// folder's artifacts/ (in docker-compose a volume every console process
// shares). An upload is streamed to a temporary file beside the others while
// its sha256, sha1 and md5 are computed; it becomes the artifact (renamed to
// its id, in the transaction that writes its row and its audit row) only when
// the sha256 its uploader declared matches what arrived. A mismatch, an
// oversize body or a broken upload leaves nothing behind.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { type Actor, writeAudit } from "../audit/audit";
import type { Prisma, PrismaClient } from "../db/client";
import { AppError, conflict, invalid, notFound } from "../errors";
import {
  type Artifact,
  findArtifactInput,
  listArtifactsInput,
  type RemoveArtifactInput,
  removeArtifactInput,
  type StoreArtifactInput,
  storeArtifactInput,
} from "./schemas";

/** The default size limit of one artifact (ORCHARD_ARTIFACT_MAX_BYTES): 2 GiB. */
export const DEFAULT_ARTIFACT_MAX_BYTES = 2 * 1024 ** 3;

/** Where artifacts are kept: the data folder's artifacts/. */
export function artifactsDir(dataDir?: string): string {
  return path.join(dataDir ?? path.resolve(process.env.ORCHARD_DATA_DIR || ".orchard"), "artifacts");
}

/** Where the upload of temporary files goes: beside the artifacts (one file system, so the rename is atomic). */
const PARTIAL = ".partial";

/** An upload larger than the limit (413 on the REST API). */
export class ArtifactTooLarge extends AppError {
  constructor(readonly limit: number) {
    super("INVALID", `size: at most ${limit} bytes (ORCHARD_ARTIFACT_MAX_BYTES)`, { field: "size" });
  }
}

const artifactSelect = {
  id: true,
  releaseId: true,
  name: true,
  size: true,
  sha256: true,
  sha1: true,
  md5: true,
  contentType: true,
  uploadedBy: true,
  createdAt: true,
} satisfies Prisma.ReleaseArtifactSelect;

type ArtifactRow = Prisma.ReleaseArtifactGetPayload<{ select: typeof artifactSelect }>;
const shown = (row: ArtifactRow): Artifact => ({ ...row, size: Number(row.size) });

/** What the audit log keeps of an artifact. */
const audited = (a: Artifact) => ({ name: a.name, size: a.size, sha256: a.sha256, contentType: a.contentType });

async function releaseOf(db: PrismaClient | Prisma.TransactionClient, releaseId: string) {
  const release = await db.release.findUnique({ where: { id: releaseId }, select: { id: true, version: true, branch: { select: { ref: true } } } });
  if (!release) throw notFound(`release ${releaseId}`);
  return release;
}

export interface StoreOptions {
  /** artifactsDir() of the console's data folder. */
  dir: string;
  /** The size limit in bytes. */
  maxBytes: number;
  /** The size the uploader announced (Content-Length), refused before any byte is read when over the limit. */
  declaredSize?: number;
}

/**
 * Stores an upload as an artifact of a release: refused (nothing stored) when
 * the release is unknown, the name taken, the body over the limit or its
 * sha256 not the declared one.
 */
export async function storeArtifact(db: PrismaClient, actor: Actor, input: StoreArtifactInput, body: Readable, options: StoreOptions): Promise<Artifact> {
  const data = storeArtifactInput.parse(input);
  if (options.declaredSize !== undefined && options.declaredSize > options.maxBytes) throw new ArtifactTooLarge(options.maxBytes);
  const release = await releaseOf(db, data.releaseId);
  const taken = await db.releaseArtifact.findUnique({ where: { releaseId_name: { releaseId: release.id, name: data.name } }, select: { id: true } });
  if (taken) throw conflict(`release ${release.version} already has an artifact ${data.name} (remove it first)`, "name");

  const partialDir = path.join(options.dir, PARTIAL);
  await fs.promises.mkdir(partialDir, { recursive: true, mode: 0o700 });
  const temp = path.join(partialDir, `${randomBytes(12).toString("hex")}.part`);
  let renamed: string | null = null;
  try {
    const received = await receive(body, temp, options.maxBytes);
    if (received.sha256 !== data.sha256) {
      throw invalid("sha256", `declared ${data.sha256}, but the ${received.size} bytes received have ${received.sha256}: nothing was stored`);
    }
    const artifact = await db.$transaction(async (tx) => {
      const row = await tx.releaseArtifact.create({
        data: {
          releaseId: release.id,
          name: data.name,
          size: BigInt(received.size),
          sha256: received.sha256,
          sha1: received.sha1,
          md5: received.md5,
          contentType: data.contentType,
          uploadedBy: actor.label,
        },
        select: artifactSelect,
      });
      const artifact = shown(row);
      await writeAudit(tx, actor, {
        action: "release.artifact.add",
        targetType: "release",
        targetId: `${release.branch.ref}@${release.version}`,
        after: audited(artifact),
      });
      // In the transaction: a failed rename writes no row; a failed commit removes the file below.
      renamed = path.join(options.dir, artifact.id);
      await fs.promises.rename(temp, renamed);
      return artifact;
    });
    return artifact;
  } catch (error) {
    if (renamed) await fs.promises.rm(renamed, { force: true });
    if ((error as { code?: string }).code === "P2002") throw conflict(`release ${release.version} already has an artifact ${data.name} (remove it first)`, "name");
    throw error;
  } finally {
    await fs.promises.rm(temp, { force: true });
  }
}

/** Streams a body to `file`, hashing as it goes; refused past `maxBytes`. */
async function receive(body: Readable, file: string, maxBytes: number) {
  const sha256 = createHash("sha256");
  const sha1 = createHash("sha1");
  const md5 = createHash("md5");
  let size = 0;
  const out = fs.createWriteStream(file, { mode: 0o600 });
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new ArtifactTooLarge(maxBytes);
      sha256.update(chunk);
      sha1.update(chunk);
      md5.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((resolve, reject) => out.once("drain", resolve).once("error", reject));
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  } catch (error) {
    out.destroy();
    body.resume();
    throw error;
  }
  return { size, sha256: sha256.digest("hex"), sha1: sha1.digest("hex"), md5: md5.digest("hex") };
}

/** A release's artifacts, by name. */
export async function listArtifacts(db: PrismaClient, input: { releaseId: string }): Promise<Artifact[]> {
  const { releaseId } = listArtifactsInput.parse(input);
  await releaseOf(db, releaseId);
  const rows = await db.releaseArtifact.findMany({ where: { releaseId }, select: artifactSelect, orderBy: { name: "asc" } });
  return rows.map(shown);
}

/** One artifact and where its bytes are, for serving it. */
export async function findArtifactFile(db: PrismaClient, input: { releaseId: string; name: string }, dir: string) {
  const { releaseId, name } = findArtifactInput.parse(input);
  const row = await db.releaseArtifact.findUnique({ where: { releaseId_name: { releaseId, name } }, select: artifactSelect });
  if (!row) throw notFound(`artifact ${name} of release ${releaseId}`);
  const artifact = shown(row);
  return { ...artifact, path: path.join(dir, artifact.id) };
}

/** Removes an artifact: its row and audit row in one transaction, then its file. */
export async function removeArtifact(db: PrismaClient, actor: Actor, input: RemoveArtifactInput, dir: string) {
  const data = removeArtifactInput.parse(input);
  const removed = await db.$transaction(async (tx) => {
    const release = await releaseOf(tx, data.releaseId);
    const row = await tx.releaseArtifact.findUnique({ where: { releaseId_name: { releaseId: release.id, name: data.name } }, select: artifactSelect });
    if (!row) throw notFound(`artifact ${data.name} of release ${release.version}`);
    await tx.releaseArtifact.delete({ where: { id: row.id } });
    const artifact = shown(row);
    await writeAudit(tx, actor, {
      action: "release.artifact.remove",
      targetType: "release",
      targetId: `${release.branch.ref}@${release.version}`,
      reason: data.reason ?? null,
      before: audited(artifact),
    });
    return artifact;
  });
  await fs.promises.rm(path.join(dir, removed.id), { force: true });
  return { removed };
}
