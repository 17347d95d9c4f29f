// Running the machine's own tools (ostree, rpm-ostree, bootc, systemctl,
// skopeo, health check scripts): arguments as an array (never a shell), a
// timeout, output kept and cut to a bounded size, and a failure that carries
// what the tool said.
import { spawn } from "node:child_process";

export interface CommandOptions {
  /** Killed (SIGKILL) after this long. */
  timeoutSeconds?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** How the backends run a command; tests pass a wrapper, the agent `runCommand`. */
export type Run = (file: string, args: readonly string[], options?: CommandOptions) => Promise<CommandResult>;

/** Each of stdout and stderr keeps at most this much (a status document is far smaller). */
const MAX_OUTPUT_BYTES = 8 * 1024 * 1024;

export class CommandError extends Error {
  constructor(
    readonly command: string,
    /** The exit code; null when killed by a signal (a timeout) or when it did not start. */
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
    /** Why it failed: `exited with 1: …`, `timed out after 30 s`, `not found`. */
    readonly reason: string,
  ) {
    super(`${command}: ${reason}`);
    this.name = "CommandError";
  }

  /** What the tool said about its failure: the last non-empty lines of stderr, else of stdout. */
  get said(): string {
    const text = (this.stderr.trim() || this.stdout.trim()).split("\n").slice(-5).join("\n");
    return text || this.message;
  }
}

/** After the command exits, how long its output may take to drain (a child it left behind may hold the pipes). */
const DRAIN_MS = 500;

export const runCommand: Run = (file, args, options = {}) =>
  new Promise((resolve, reject) => {
    const command = [file, ...args].join(" ");
    // Its own process group, so that a timeout kills what it started too (a script's `sleep`).
    const child = spawn(file, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    let killedBy: string | null = null;
    const kill = (why: string) => {
      killedBy ??= why;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const timer =
      options.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => kill(`timed out after ${options.timeoutSeconds} s`), options.timeoutSeconds * 1000);
    const onAbort = () => kill("aborted");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();

    let settled = false;
    const settle = (code: number | null, signal: NodeJS.Signals | null, startError?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      const out = stdout();
      const err = stderr();
      if (options.signal?.aborted) return reject(options.signal.reason);
      if (startError) {
        const why = (startError as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : startError.message;
        return reject(new CommandError(command, null, out, err, why));
      }
      if (code === 0 && killedBy === null) return resolve({ stdout: out, stderr: err });
      const why = killedBy ?? (signal !== null ? `killed by ${signal}` : `exited with ${code}${err.trim() ? `: ${lastLine(err)}` : ""}`);
      reject(new CommandError(command, code, out, err, why));
    };
    child.on("error", (error) => settle(null, null, error));
    child.on("close", (code, signal) => settle(code, signal));
    child.on("exit", (code, signal) => {
      setTimeout(() => settle(code, signal), DRAIN_MS).unref();
    });
  });

function collect(stream: NodeJS.ReadableStream): () => string {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on("data", (chunk: Buffer) => {
    if (size >= MAX_OUTPUT_BYTES) return;
    chunks.push(chunk);
    size += chunk.length;
  });
  return () => Buffer.concat(chunks).toString("utf8");
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}
