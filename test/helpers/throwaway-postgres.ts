// A PostgreSQL server of the test's own (initdb + pg_ctl from Debian's
// postgresql package), so that a test can stop and start it without
// touching the server other tests share.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

function binDir() {
  const versions = fs.readdirSync("/usr/lib/postgresql").sort();
  if (versions.length === 0) throw new Error("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)");
  return path.join("/usr/lib/postgresql", versions.at(-1)!, "bin");
}

/** Runs a PostgreSQL tool, as user postgres when we are root (the server refuses to run as root). */
async function pgTool(tool: string, args: string[]) {
  const bin = path.join(binDir(), tool);
  if (process.getuid?.() === 0) return run("runuser", ["-u", "postgres", "--", bin, ...args]);
  return run(bin, args);
}

export interface ThrowawayPostgres {
  url: (database: string) => string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startThrowawayPostgres(port: number): Promise<ThrowawayPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "orch-pg-"));
  fs.chmodSync(dir, 0o777);
  const data = path.join(dir, "data");
  const socketDir = path.join(dir, "run");
  fs.mkdirSync(socketDir, { mode: 0o777 });
  fs.chmodSync(socketDir, 0o777);
  if (process.getuid?.() === 0) await run("chown", ["-R", "postgres:postgres", dir]);
  await pgTool("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const start = async () => {
    await pgTool("pg_ctl", ["-D", data, "-w", "-l", path.join(dir, "log"), "-o", `-p ${port} -k ${socketDir} -c fsync=off`, "start"]);
  };
  const stop = async () => {
    await pgTool("pg_ctl", ["-D", data, "-w", "-m", "immediate", "stop"]);
  };
  await start();
  return {
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    start,
    stop,
    destroy: async () => {
      await stop().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
