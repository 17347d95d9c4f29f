// The embedded database: PostgreSQL compiled to WebAssembly (PGlite), kept in
// `<data dir>/pgdata` and served on a Unix socket so that the console's pool,
// the Prisma CLI (migrations) and the `orchard` command all speak plain
// PostgreSQL to it. PGlite lives in exactly one process: whoever holds the
// lock file owns it; everyone else connects to the owner's socket.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

const SOCKET_NAME = ".s.PGSQL.5432";

export interface EmbeddedDatabase {
  /** Connection string of the socket, for pg and the Prisma CLI. */
  url: string;
  /** True when this process owns PGlite (false: connected to another process's socket). */
  owner: boolean;
  close(): Promise<void>;
}

function runDir(dataDir: string) {
  return path.join(dataDir, "run");
}

export function embeddedUrl(dataDir: string) {
  const dir = runDir(dataDir);
  return `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(dir)}`;
}

function pidAlive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Opens the embedded database under `dataDir`: starts PGlite and its socket
 * when no other process owns it, or connects to the owner's socket.
 */
export async function openEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const dir = runDir(dataDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socketPath = path.join(dir, SOCKET_NAME);
  if (Buffer.byteLength(socketPath) > 100) {
    throw new Error(
      `ORCHARD_DATA_DIR is too deep for a Unix socket (${socketPath}); choose a shorter path`,
    );
  }
  const lockPath = path.join(dir, "owner.pid");
  const url = embeddedUrl(dataDir);

  const owner = readOwner(lockPath);
  if (owner !== null && owner !== process.pid && pidAlive(owner)) {
    if (await socketAnswers(socketPath)) {
      return { url, owner: false, close: async () => {} };
    }
    throw new Error(
      `the embedded database in ${dataDir} is owned by process ${owner}, which does not answer on ${socketPath}`,
    );
  }

  // Take the lock atomically: write our pid to a temp file and link it into
  // place; a stale lock (dead owner) is removed first.
  if (owner !== null) fs.rmSync(lockPath, { force: true });
  const tmp = `${lockPath}.${process.pid}`;
  fs.writeFileSync(tmp, String(process.pid));
  try {
    fs.linkSync(tmp, lockPath);
  } catch {
    fs.rmSync(tmp, { force: true });
    // Someone else won the race: use theirs.
    return openEmbeddedDatabase(dataDir);
  }
  fs.rmSync(tmp, { force: true });
  fs.rmSync(socketPath, { force: true });

  const db = await PGlite.create({
    dataDir: path.join(dataDir, "pgdata"),
    extensions: { pg_trgm },
  });
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 16 });
  await server.start();
  fs.chmodSync(socketPath, 0o600);

  let closed = false;
  return {
    url,
    owner: true,
    close: async () => {
      if (closed) return;
      closed = true;
      await server.stop();
      await db.close();
      fs.rmSync(socketPath, { force: true });
      if (readOwner(lockPath) === process.pid) fs.rmSync(lockPath, { force: true });
    },
  };
}

function readOwner(lockPath: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockPath, "utf8"), 10);
    return Number.isFinite(pid) ? pid : null;
  } catch {
    return null;
  }
}
