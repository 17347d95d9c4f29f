// The apps of a Flatpak installation, through the real `flatpak` command:
// arguments as arrays (no shell), a timeout on every call, the agent's abort
// signal passed on.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Run } from "../command.ts";
import type { AppDriver, AppRemote, AppTarget, InstalledRef } from "./driver.ts";

export interface FlatpakOptions {
  /** "system" (the default), "user", or the name of a configured installation. */
  installation: string;
  run: Run;
  /** For installs and updates, which download. */
  commandTimeoutSeconds: number;
  /** For listing and the like. */
  queryTimeoutSeconds?: number;
  env?: NodeJS.ProcessEnv;
}

const NONINTERACTIVE = ["-y", "--noninteractive"];

export class FlatpakDriver implements AppDriver {
  /** Full commits of the refs listed, by `ref short-commit` (`flatpak list` shows 12 characters). */
  private readonly fullCommits = new Map<string, string>();

  constructor(private readonly options: FlatpakOptions) {}

  private get where(): string[] {
    const { installation } = this.options;
    if (installation === "system") return ["--system"];
    if (installation === "user") return ["--user"];
    return [`--installation=${installation}`];
  }

  private async flatpak(args: string[], signal: AbortSignal, long = false) {
    const timeoutSeconds = long ? this.options.commandTimeoutSeconds : (this.options.queryTimeoutSeconds ?? 60);
    const { stdout } = await this.options.run("flatpak", args, { timeoutSeconds, signal, env: this.options.env });
    return stdout;
  }

  async list(signal: AbortSignal): Promise<InstalledRef[]> {
    const out: InstalledRef[] = [];
    for (const kind of ["app", "runtime"] as const) {
      const columns = kind === "app" ? "ref,active,origin,runtime" : "ref,active,origin";
      const text = await this.flatpak(["list", ...this.where, `--${kind}`, `--columns=${columns}`], signal);
      for (const line of text.split("\n")) {
        const [name, active, origin, runtime] = line.split("\t").map((f) => f.trim());
        if (!name || !active) continue;
        const ref = `${kind}/${name}`;
        out.push({
          ref,
          commit: await this.fullCommit(ref, active, signal),
          origin: origin || null,
          runtime: kind === "app" && runtime ? `runtime/${runtime}` : null,
        });
      }
    }
    return out;
  }

  private async fullCommit(ref: string, short: string, signal: AbortSignal): Promise<string> {
    const key = `${ref} ${short}`;
    const known = this.fullCommits.get(key);
    if (known) return known;
    const full = (await this.flatpak(["info", ...this.where, "--show-commit", ref], signal)).trim();
    if (!/^[0-9a-f]{64}$/.test(full)) throw new Error(`flatpak info --show-commit ${ref}: unexpected output "${full.slice(0, 80)}"`);
    this.fullCommits.set(key, full);
    return full;
  }

  async ensureRemote(remote: AppRemote, signal: AbortSignal): Promise<void> {
    const text = await this.flatpak(["remotes", ...this.where, "--columns=name,url"], signal);
    const existing = text
      .split("\n")
      .map((line) => line.split("\t").map((f) => f.trim()))
      .find(([name]) => name === remote.name);
    if (existing && existing[1] === remote.url) return;
    await withKeyFile(remote.gpgKey, async (keyFile) => {
      const verify = keyFile ? [`--gpg-import=${keyFile}`] : ["--no-gpg-verify"];
      if (existing) await this.flatpak(["remote-modify", ...this.where, ...verify, `--url=${remote.url}`, remote.name], signal);
      else await this.flatpak(["remote-add", ...this.where, ...verify, remote.name, remote.url], signal);
    });
  }

  async install(remote: string, ref: string, target: AppTarget, signal: AbortSignal): Promise<void> {
    // `flatpak install` takes the branch's head; the exact commit follows with an update (which also goes back).
    await this.flatpak(["install", ...this.where, ...NONINTERACTIVE, remote, ref], signal, true);
    try {
      await this.update(ref, target, signal);
    } catch (error) {
      // Not left on the branch's head, which the console did not ask for.
      if (!signal.aborted) await this.uninstall(ref, signal).catch(() => {});
      throw error;
    }
  }

  async update(ref: string, target: AppTarget, signal: AbortSignal): Promise<void> {
    await this.flatpak(["update", ...this.where, ...NONINTERACTIVE, `--commit=${target.commit}`, ref], signal, true);
  }

  async uninstall(ref: string, signal: AbortSignal): Promise<void> {
    await this.flatpak(["uninstall", ...this.where, ...NONINTERACTIVE, ref], signal, true);
  }

  async isOlder(
    remote: string,
    ref: string,
    target: AppTarget,
    active: string,
    signal: AbortSignal,
  ): Promise<boolean> {
    if (target.commit === active) return false;
    // Newest first: a target listed after the active commit came before it.
    const history = parseLog(await this.flatpak(["remote-info", ...this.where, "--log", remote, ref], signal, true));
    const at = history.indexOf(target.commit);
    const activeAt = history.indexOf(active);
    if (at < 0) throw new Error(`${target.commit.slice(0, 12)} is not in the history of ${ref} on ${remote}`);
    return activeAt >= 0 && at > activeAt;
  }
}

/** The commits of `flatpak remote-info --log`, newest first. */
export function parseLog(text: string): string[] {
  return [...text.matchAll(/^\s*Commit:\s*([0-9a-f]{64})\s*$/gm)].map((m) => m[1]);
}

/** Runs `work` with the base64 key written to a private temp file (null: no key). */
async function withKeyFile<T>(base64: string | null, work: (file: string | null) => Promise<T>): Promise<T> {
  if (base64 === null) return work(null);
  const key = Buffer.from(base64, "base64");
  if (key.length === 0) throw new Error("the remote's gpgKey is not base64 of a key");
  const dir = await mkdtemp(path.join(tmpdir(), "orchard-gpg-"));
  try {
    const file = path.join(dir, "key.gpg");
    await writeFile(file, key, { mode: 0o600 });
    return await work(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
