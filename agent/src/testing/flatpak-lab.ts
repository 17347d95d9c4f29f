// A real Flatpak repository in a temp folder (Debian's flatpak builds one
// with no SDK and no network): tiny runtimes and apps made of a metadata
// file and a few files, exported commit by commit, signed with a GPG key made
// on the spot; and throwaway user installations (FLATPAK_USER_DIR). Tests
// that need it skip where flatpak is missing, except on CI (CI=true).
import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { FlatpakDriver } from "../apps/flatpak.ts";
import { type Run, runCommand } from "../command.ts";
import { type GpgKey, makeGpgKey } from "./ostree-lab.ts";
import { tempDir } from "./test-agent.ts";

function hasFlatpak(): boolean {
  try {
    execFileSync("flatpak", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** True when the flatpak tests must be skipped: no flatpak here, and not on CI. */
export const skipWithoutFlatpak = !hasFlatpak() && !process.env.CI;

async function run(file: string, args: string[], env?: NodeJS.ProcessEnv) {
  return (await runCommand(file, args, { timeoutSeconds: 120, env })).stdout.trim();
}

/** A public key as a console sends it: base64 of the binary key. */
export async function keyBase64(key: GpgKey): Promise<string> {
  const file = path.join(key.home, "public.gpg");
  await run("gpg", ["--batch", "--yes", "--homedir", key.home, "--output", file, "--export", key.id]);
  return (await readFile(file)).toString("base64");
}

export class FlatpakLab {
  private constructor(
    readonly dir: string,
    readonly repo: string,
    readonly key: GpgKey,
  ) {}

  static async create(): Promise<FlatpakLab> {
    const dir = await tempDir();
    const key = await makeGpgKey("flatpak-lab");
    return new FlatpakLab(dir, path.join(dir, "repo"), key);
  }

  get url(): string {
    return `file://${this.repo}`;
  }

  /** The public key as a console sends it: base64 of the binary key. */
  gpgKeyBase64(): Promise<string> {
    return keyBase64(this.key);
  }

  private get signing() {
    return [`--gpg-sign=${this.key.id}`, `--gpg-homedir=${this.key.home}`];
  }

  /** Exports a runtime `id` on branch `branch`; its ref. */
  async runtime(id: string, branch = "1.0"): Promise<string> {
    const folder = path.join(this.dir, `build-${id}`);
    await rm(folder, { recursive: true, force: true });
    // build-export wants files/ (a build folder) and takes a runtime's content from usr/.
    await mkdir(path.join(folder, "files"), { recursive: true });
    await mkdir(path.join(folder, "usr"), { recursive: true });
    await writeFile(path.join(folder, "usr", "hello"), `${id}\n`);
    const ref = `${id}/x86_64/${branch}`;
    await writeFile(path.join(folder, "metadata"), `[Runtime]\nname=${id}\narch=x86_64\nruntime=${ref}\nsdk=${ref}\n`);
    await run("flatpak", ["build-export", ...this.signing, "--runtime", this.repo, folder, branch]);
    await run("flatpak", ["build-update-repo", ...this.signing, this.repo]);
    return `runtime/${ref}`;
  }

  /** Exports a new commit of app `id` (on `runtime`, a runtime ref) on branch stable; the commit. */
  async app(id: string, runtime: string, subject: string): Promise<string> {
    const folder = path.join(this.dir, `build-${id}`);
    await rm(folder, { recursive: true, force: true });
    await mkdir(path.join(folder, "files", "bin"), { recursive: true });
    await mkdir(path.join(folder, "export"), { recursive: true });
    await writeFile(path.join(folder, "files", "bin", "app"), `#!/bin/sh\necho ${subject}\n`, { mode: 0o755 });
    const runtimeRef = runtime.replace(/^runtime\//, "");
    await writeFile(path.join(folder, "metadata"), `[Application]\nname=${id}\nruntime=${runtimeRef}\nsdk=${runtimeRef}\ncommand=app\n`);
    await run("flatpak", ["build-export", ...this.signing, `--subject=${subject}`, this.repo, folder, "stable"]);
    await run("flatpak", ["build-update-repo", ...this.signing, this.repo]);
    return run("ostree", [`--repo=${this.repo}`, "rev-parse", `app/${id}/x86_64/stable`]);
  }

  /** A throwaway user installation: its environment, a driver on it, and `flatpak --user` in it. */
  async installation(run: Run = runCommand) {
    const dir = await tempDir();
    const env = { ...process.env, FLATPAK_USER_DIR: path.join(dir, "flatpak") };
    const driver = new FlatpakDriver({ installation: "user", run, commandTimeoutSeconds: 120, env });
    const flatpak = (args: string[]) => runCommand("flatpak", ["--user", ...args], { timeoutSeconds: 120, env }).then((r) => r.stdout);
    return { dir, env, driver, flatpak };
  }
}
