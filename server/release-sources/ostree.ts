// The ostree reader: the real `ostree` command on the console's host fetches
// the commits of a ref (metadata only: no file content is ever downloaded)
// into a repository of the source's own under the data folder, then each
// commit is read from that repository:
//
// - the commit object (a GVariant, gvariant.ts) gives the parent, subject,
//   body, timestamp and metadata (`version`); its SHA-256 must be its
//   checksum, so that what was read is what ostree fetched;
// - ed25519: the detached metadata's `ostree.sign.ed25519` signatures are
//   checked over the commit object with the source's public key, exactly as
//   libostree's ed25519 signer does (`ostree sign --verify`;
//   ostreedev/ostree src/libostree/ostree-sign-ed25519.c: each child of the
//   `aay` is a detached signature over the commit variant's bytes, and one
//   that verifies with a trusted key is enough). Debian's ostree 2022.7 is
//   built without libsodium ("Requested signature type is not implemented"),
//   so the check is node:crypto's, on the bytes ostree fetched;
// - GPG: the key is imported into the remote's keyring (`ostree remote
//   gpg-import`) and ostree itself verifies (`ostree show
//   --gpg-verify-remote`).
//
// A Flatpak repository is an ostree repository: `app/…` and `runtime/…` refs
// read the same way.
import { execFile } from "node:child_process";
import { createHash, createPublicKey, verify } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { decode } from "./gvariant";
import { diffCommits, repositoryFetcher } from "./ostree-diff";
import type { FoundRelease, ReadContext, SourceReader } from "./reader";
import type { OstreeConfig } from "./schemas";

const COMMIT_TYPE = "(a{sv}aya(say)sstayay)";
const REMOTE = "origin";
/** Detached metadata keys that hold signatures: not part of what the release shows. */
const SIGNATURE_KEYS = new Set(["ostree.sign.ed25519", "ostree.gpgsigs"]);

export class OstreeError extends Error {}

interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs `ostree …`; refuses with the command's own last words when it fails. */
function ostree(args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "ostree",
      args,
      { timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } },
      (error, stdout, stderr) => {
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "ENOENT") return reject(new OstreeError(NOT_INSTALLED));
          const said = stderr.trim().split("\n").filter(Boolean).at(-1) ?? error.message;
          const timedOut = (error as { killed?: boolean }).killed;
          return reject(new OstreeError(timedOut ? `ostree ${args[1] ?? args[0]} timed out` : said.replace(/^error:\s*/, "")));
        }
        resolve({ stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export const NOT_INSTALLED =
  "the ostree command is not installed on the console's host (Debian, Ubuntu: apt-get install ostree; Fedora: dnf install ostree): ostree sources cannot be read";

function repoDir(workDir: string, sourceId: string) {
  return path.join(workDir, "ostree", sourceId);
}

/** The source's own repository with one remote, `origin`, configured as the source says now. */
async function prepare(config: OstreeConfig, context: ReadContext): Promise<string> {
  const repo = repoDir(context.workDir, context.sourceId);
  if (!fs.existsSync(path.join(repo, "config"))) {
    fs.rmSync(repo, { recursive: true, force: true });
    fs.mkdirSync(repo, { recursive: true, mode: 0o700 });
    await ostree(["init", `--repo=${repo}`, "--mode=archive"]);
  }
  // Signatures are judged after the pull, commit by commit: an unsigned or
  // wrongly signed commit becomes a release that is shown and never sent,
  // not a pull that fails.
  await ostree(["remote", "add", `--repo=${repo}`, "--force", "--no-gpg-verify", "--no-sign-verify", REMOTE, config.url]);
  const keyring = path.join(repo, `${REMOTE}.trustedkeys.gpg`);
  fs.rmSync(keyring, { force: true });
  if (config.key.type === "gpg") await ostree(["remote", "gpg-import", `--repo=${repo}`, "--stdin", REMOTE], { input: config.key.publicKey });
  return repo;
}

function objectPath(repo: string, checksum: string, ext: "commit" | "commitmeta") {
  return path.join(repo, "objects", checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`);
}

/** JSON for a decoded GVariant value: variants unwrapped, 64-bit numbers as numbers when exact (else strings), bytes as hex. */
export function toJson(value: unknown): unknown {
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (Buffer.isBuffer(value)) return value.toString("hex");
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if (typeof v.type === "string" && "value" in v && Object.keys(v).length === 2) return toJson(v.value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  }
  return value;
}

interface Commit {
  checksum: string;
  bytes: Buffer;
  metadata: Record<string, { type: string; value: unknown }>;
  parent: string | null;
  subject: string;
  body: string;
  timestamp: Date;
}

function readCommit(repo: string, checksum: string): Commit | null {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(objectPath(repo, checksum, "commit"));
  } catch {
    return null;
  }
  if (createHash("sha256").update(bytes).digest("hex") !== checksum) {
    throw new OstreeError(`commit ${checksum} in the console's copy does not match its checksum`);
  }
  const [metadata, parent, , subject, body, timestamp] = decode(COMMIT_TYPE, bytes) as [
    Record<string, { type: string; value: unknown }>,
    Buffer,
    unknown,
    string,
    string,
    bigint,
  ];
  // The timestamp is the one big-endian number of a commit.
  const be = Buffer.alloc(8);
  be.writeBigUInt64LE(timestamp);
  return {
    checksum,
    bytes,
    metadata,
    parent: parent.length === 32 ? parent.toString("hex") : null,
    subject,
    body,
    timestamp: new Date(Number(be.readBigUInt64BE()) * 1000),
  };
}

function detachedMetadata(repo: string, checksum: string): Record<string, { type: string; value: unknown }> {
  try {
    return decode("a{sv}", fs.readFileSync(objectPath(repo, checksum, "commitmeta"))) as Record<string, { type: string; value: unknown }>;
  } catch {
    return {};
  }
}

/** The ed25519 check libostree does: any signature in `ostree.sign.ed25519` made by the key over the commit object. */
export function checkEd25519(commitBytes: Buffer, detached: Record<string, { type: string; value: unknown }>, publicKey: string): FoundRelease["signature"] {
  const entry = detached["ostree.sign.ed25519"];
  const signatures = entry && entry.type === "aay" ? (entry.value as Buffer[]) : [];
  if (signatures.length === 0) return { state: "unsigned", reason: "the commit has no ed25519 signature (ostree sign)" };
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey, "base64").toString("base64url") }, format: "jwk" });
  for (const signature of signatures) {
    if (signature.length === 64 && verify(null, commitBytes, key, signature)) return { state: "valid", reason: null };
  }
  return {
    state: "invalid",
    reason: `${signatures.length === 1 ? "its ed25519 signature was" : `none of its ${signatures.length} ed25519 signatures was`} not made by the source's key`,
  };
}

/**
 * What `ostree show --gpg-verify-remote` says of a commit's GPG signatures.
 * Only the signature section counts: it starts at a line "Found N
 * signature(s):" at the left margin, where the commit's own subject and body
 * (printed indented) can never be.
 */
export function judgeGpgShow(stdout: string): FoundRelease["signature"] {
  const lines = stdout.split("\n");
  const start = lines.findIndex((line) => /^Found \d+ signatures?:/.test(line));
  if (start < 0) return { state: "unsigned", reason: "the commit has no GPG signature" };
  const section = lines.slice(start + 1).filter((line) => /^ {2}\S/.test(line)).map((line) => line.trim());
  if (section.some((line) => line.startsWith("Good signature from") && !/expired|revoked/i.test(line))) {
    const problems = section.filter((line) => /expired|revoked/i.test(line));
    if (problems.length === 0) return { state: "valid", reason: null };
  }
  const words = section.filter((line) => !line.startsWith("Signature made") && !line.startsWith("Primary key"));
  return { state: "invalid", reason: `GPG: ${(words.length ? words : section).join("; ").slice(0, 500) || "no good signature by the source's key"}` };
}

async function checkGpg(repo: string, checksum: string): Promise<FoundRelease["signature"]> {
  const { stdout } = await ostree(["show", `--repo=${repo}`, `--gpg-verify-remote=${REMOTE}`, checksum]);
  return judgeGpgShow(stdout);
}

export const ostreeReader: SourceReader<OstreeConfig> = {
  kind: "ostree",
  async unavailable() {
    try {
      await ostree(["--version"], { timeoutMs: 10_000 });
      return null;
    } catch (error) {
      return error instanceof OstreeError ? error.message : String(error);
    }
  },
  async read(config, context) {
    const repo = await prepare(config, context);
    await ostree([
      "pull",
      `--repo=${repo}`,
      "--commit-metadata-only",
      `--depth=${config.depth - 1}`,
      "--network-retries=1",
      REMOTE,
      config.ref,
    ]);
    const head = (await ostree(["rev-parse", `--repo=${repo}`, `${REMOTE}:${config.ref}`])).stdout.trim();
    const found: FoundRelease[] = [];
    const seen = new Set<string>();
    for (let checksum: string | null = head; checksum && found.length < config.depth && !seen.has(checksum); ) {
      seen.add(checksum);
      if (context.known.has(checksum)) break;
      const commit = readCommit(repo, checksum);
      if (!commit) break; // older than the pull's depth
      const detached = detachedMetadata(repo, checksum);
      const signature = config.key.type === "ed25519" ? checkEd25519(commit.bytes, detached, config.key.publicKey) : await checkGpg(repo, checksum);
      const version = commit.metadata.version;
      const metadata = toJson(commit.metadata) as Record<string, unknown>;
      for (const key of SIGNATURE_KEYS) delete metadata[key];
      found.push({
        checksum,
        version: version && version.type === "s" && typeof version.value === "string" && version.value ? version.value : null,
        builtAt: commit.timestamp,
        subject: commit.subject || null,
        body: commit.body || null,
        metadata,
        signature,
      });
      checksum = commit.parent;
    }
    return found;
  },
  // The commits are in the console's copy (a metadata-only pull); the dirtrees are read from the source.
  async changes(config, context, older, newer) {
    const fetch = repositoryFetcher(config.url, { local: repoDir(context.workDir, context.sourceId) });
    return { files: await diffCommits(fetch, older.checksum, newer.checksum) };
  },
  async forget(sourceId, workDir) {
    fs.rmSync(repoDir(workDir, sourceId), { recursive: true, force: true });
  },
};
