// What changed between two ostree commits, worked out from their dirtree
// objects alone: a metadata-only pull fetches commit objects and no content,
// and `ostree diff` needs the content objects, so the console walks the two
// root trees itself, fetching dirtree objects from the source repository
// (an archive repository keeps metadata objects uncompressed at
// objects/XX/YYYY….dirtree) and checking each against its name.
//
// Same answer as `ostree diff A B` (ostreedev/ostree
// src/libostree/ostree-diff.c, ostree_diff_dirs_with_options):
// - a path in A and not in B is removed (a removed directory is one line, its
//   contents are not listed);
// - a path in B and not in A is added, and so is everything below an added
//   directory;
// - a path in both whose kind differs (file ↔ directory) is modified, and
//   nothing below it is listed;
// - a file whose content checksum differs is modified (the content checksum
//   covers the file's type, mode, owner and xattrs, so a symlink that became
//   a regular file is modified too);
// - a directory whose dirmeta differs (its mode, owner, xattrs) is modified;
//   a directory whose dirtree differs is walked, one whose dirtree is the
//   same costs nothing.
// A dirtree is the GVariant `(a(say)a(sayay))`: files (name, content
// checksum) and directories (name, dirtree checksum, dirmeta checksum),
// sorted by name.
import { createHash } from "node:crypto";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { decode } from "./gvariant";

export type ObjectKind = "commit" | "dirtree";
/** Reads one metadata object by checksum; the bytes are checked against the checksum by the caller. */
export type ObjectFetcher = (checksum: string, kind: ObjectKind) => Promise<Buffer>;

export type PathChange = "A" | "D" | "M";

export interface TreeDiff {
  /** Every changed path (absolute, as `ostree diff` prints it), with its change. */
  paths: { path: string; change: PathChange }[];
  added: number;
  removed: number;
  modified: number;
  /** Dirtree objects fetched. */
  fetched: number;
}

export class OstreeDiffError extends Error {}

const COMMIT_TYPE = "(a{sv}aya(say)sstayay)";
const DIRTREE_TYPE = "(a(say)a(sayay))";

/** The most dirtree objects one diff fetches (a whole OS is some thousands). */
export const MAX_DIRTREES = 200_000;

interface Tree {
  files: Map<string, string>;
  dirs: Map<string, { tree: string; meta: string }>;
}

function hex(value: unknown, what: string): string {
  if (!Buffer.isBuffer(value) || value.length !== 32) throw new OstreeDiffError(`${what} is not a 32-byte checksum`);
  return value.toString("hex");
}

function checked(bytes: Buffer, checksum: string, kind: ObjectKind): Buffer {
  if (createHash("sha256").update(bytes).digest("hex") !== checksum) {
    throw new OstreeDiffError(`the ${kind} object ${checksum} the repository sent does not match its checksum`);
  }
  return bytes;
}

/** The root dirtree and dirmeta checksums of a commit object. */
export function commitRoot(bytes: Buffer): { tree: string; meta: string } {
  const values = decode(COMMIT_TYPE, bytes) as unknown[];
  return { tree: hex(values[6], "the commit's root dirtree"), meta: hex(values[7], "the commit's root dirmeta") };
}

export function parseDirtree(bytes: Buffer): Tree {
  const [files, dirs] = decode(DIRTREE_TYPE, bytes) as [[string, Buffer][], [string, Buffer, Buffer][]];
  return {
    files: new Map(files.map(([name, content]) => [name, hex(content, `file ${name}`)])),
    dirs: new Map(dirs.map(([name, tree, meta]) => [name, { tree: hex(tree, `directory ${name}`), meta: hex(meta, `directory ${name}`) }])),
  };
}

/** The changes from commit `from` to commit `to`, as `ostree diff from to` lists them. */
export async function diffCommits(fetch: ObjectFetcher, from: string, to: string): Promise<TreeDiff> {
  const [a, b] = await Promise.all([
    fetch(from, "commit").then((bytes) => commitRoot(checked(bytes, from, "commit"))),
    fetch(to, "commit").then((bytes) => commitRoot(checked(bytes, to, "commit"))),
  ]);
  return diffTrees(fetch, a.tree, b.tree);
}

/** The changes from root dirtree `from` to root dirtree `to`. */
export async function diffTrees(fetch: ObjectFetcher, from: string, to: string): Promise<TreeDiff> {
  const paths: TreeDiff["paths"] = [];
  const cache = new Map<string, Promise<Tree>>();
  let fetched = 0;
  const tree = (checksum: string): Promise<Tree> => {
    let found = cache.get(checksum);
    if (!found) {
      if (++fetched > MAX_DIRTREES) throw new OstreeDiffError(`the two commits differ in more than ${MAX_DIRTREES} directories`);
      found = fetch(checksum, "dirtree").then((bytes) => parseDirtree(checked(bytes, checksum, "dirtree")));
      cache.set(checksum, found);
    }
    return found;
  };
  const join = (dir: string, name: string) => `${dir}/${name}`;

  /** Everything below an added directory, added. */
  const addAll = async (dir: string, checksum: string): Promise<void> => {
    const t = await tree(checksum);
    for (const name of t.files.keys()) paths.push({ path: join(dir, name), change: "A" });
    await Promise.all(
      [...t.dirs].map(([name, sub]) => {
        paths.push({ path: join(dir, name), change: "A" });
        return addAll(join(dir, name), sub.tree);
      }),
    );
  };

  const walk = async (dir: string, fromTree: string, toTree: string): Promise<void> => {
    if (fromTree === toTree) return;
    const [a, b] = await Promise.all([tree(fromTree), tree(toTree)]);
    const below: Promise<void>[] = [];
    for (const [name, content] of a.files) {
      const path = join(dir, name);
      const other = b.files.get(name);
      if (other !== undefined) {
        if (other !== content) paths.push({ path, change: "M" });
      } else paths.push({ path, change: b.dirs.has(name) ? "M" : "D" });
    }
    for (const [name, sub] of a.dirs) {
      const path = join(dir, name);
      const other = b.dirs.get(name);
      if (other) {
        if (other.meta !== sub.meta) paths.push({ path, change: "M" });
        below.push(walk(path, sub.tree, other.tree));
      } else if (!b.files.has(name)) paths.push({ path, change: "D" });
      // A directory that became a file is counted once, with the files of `b`.
    }
    for (const name of b.files.keys()) {
      if (!a.files.has(name) && !a.dirs.has(name)) paths.push({ path: join(dir, name), change: "A" });
      else if (a.dirs.has(name)) paths.push({ path: join(dir, name), change: "M" });
    }
    for (const [name, sub] of b.dirs) {
      if (a.dirs.has(name) || a.files.has(name)) continue;
      paths.push({ path: join(dir, name), change: "A" });
      below.push(addAll(join(dir, name), sub.tree));
    }
    await Promise.all(below);
  };

  await walk("", from, to);
  paths.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  const count = (change: PathChange) => paths.filter((p) => p.change === change).length;
  return { paths, added: count("A"), removed: count("D"), modified: count("M"), fetched };
}

/** Where object `checksum` of kind `kind` lives in a repository (relative). */
export function objectRelPath(checksum: string, kind: ObjectKind): string {
  return `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${kind}`;
}

/**
 * Reads metadata objects of the repository at `url` (http(s):// or file://),
 * at most `concurrency` at once, each within `timeoutMs`; `local`, when
 * given, is a repository tried first (the console's copy has the commits).
 */
export function repositoryFetcher(url: string, options: { local?: string; concurrency?: number; timeoutMs?: number } = {}): ObjectFetcher {
  const base = url.endsWith("/") ? url : `${url}/`;
  const limit = options.concurrency ?? 8;
  let running = 0;
  const queue: (() => void)[] = [];
  const slot = async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((resolve) => queue.push(resolve));
    running++;
    try {
      return await work();
    } finally {
      running--;
      queue.shift()?.();
    }
  };
  return async (checksum, kind) => {
    if (!/^[0-9a-f]{64}$/.test(checksum)) throw new OstreeDiffError(`not an object checksum: ${checksum}`);
    const rel = objectRelPath(checksum, kind);
    if (options.local) {
      try {
        return fs.readFileSync(`${options.local}/${rel}`);
      } catch {
        // not in the copy: read the source
      }
    }
    const target = new URL(rel, base);
    if (target.protocol === "file:") {
      try {
        return fs.readFileSync(fileURLToPath(target));
      } catch (error) {
        throw new OstreeDiffError(`cannot read ${kind} ${checksum} of the repository: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
    }
    return slot(async () => {
      let response: Response;
      try {
        response = await fetch(target, { signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
      } catch (error) {
        throw new OstreeDiffError(`cannot fetch ${kind} ${checksum} from the repository: ${(error as Error).message}`);
      }
      if (!response.ok) {
        throw new OstreeDiffError(
          `the repository answered ${response.status} for ${kind} ${checksum}${response.status === 404 ? " (not an archive repository, or the object was pruned)" : ""}`,
        );
      }
      return Buffer.from(await response.arrayBuffer());
    });
  };
}
