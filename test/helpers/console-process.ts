// A console as its own process (server/main.ts under tsx), on a fixed port
// and a given database, that a test can SIGKILL and start again.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { waitFor } from "./fleet";

const root = path.resolve(import.meta.dirname, "../..");

export interface ConsoleProcess {
  port: number;
  url: string;
  dataDir: string;
  child: ChildProcess | null;
  /** Environment beside the defaults below (intervals, limits). */
  env: Record<string, string>;
  databaseUrl: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A console process slot on a free port (not started yet). */
export async function consoleProcessSlot(databaseUrl: string, env: Record<string, string> = {}): Promise<ConsoleProcess> {
  const port = await freePort();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "orch-proc-")),
    child: null,
    env,
    databaseUrl,
  };
}

/** Starts the slot's console and waits until it answers /healthz. */
export async function startConsoleProcess(slot: ConsoleProcess) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "server/main.ts")], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: slot.databaseUrl,
      PORT: String(slot.port),
      HOST: "127.0.0.1",
      ORCHARD_DATA_DIR: slot.dataDir,
      ORCHARD_SECRET: "c".repeat(40),
      // As production asks (NODE_ENV may be unset here, and DATABASE_URL is): a fixed test key.
      ORCHARD_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString("base64"),
      ORCHARD_SERVE_PAGES: "false",
      ORCHARD_DEMO_AGENTS: "0",
      ORCHARD_CONTROLLER_INTERVAL_MS: "300",
      ORCHARD_BUSY_INTERVAL: "1",
      ORCHARD_LASTSEEN_FLUSH_MS: "1000",
      LOG_LEVEL: "warn",
      // Test agents poll far faster than real ones; limits have tests of their own.
      ORCHARD_AGENT_RATE_PER_TOKEN: "0",
      ...slot.env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  // The last of what it wrote, for the error should it never answer.
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  slot.child = child;
  try {
    await waitFor(`console on port ${slot.port}`, async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      try {
        return (await fetch(`${slot.url}/healthz`)).ok;
      } catch {
        return false;
      }
    }, 60_000, 200);
  } catch (error) {
    throw new Error(`the console process did not start: ${(error as Error).message}\n${stderr}`, { cause: error });
  }
}

/** SIGKILL: no shutdown of any kind. */
export function killConsoleProcess(slot: ConsoleProcess) {
  return new Promise<void>((resolve) => {
    const child = slot.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

export async function removeConsoleProcess(slot: ConsoleProcess) {
  await killConsoleProcess(slot);
  fs.rmSync(slot.dataDir, { recursive: true, force: true });
}
