// Real ostree repositories and sysroots in temp folders (Debian's ostree
// builds both in a plain folder): an archive repo with releases of
// `exampleos`, GPG keys made on the spot, and sysroots with one release
// deployed. Tests that need it skip where ostree is missing, except on CI
// (CI=true), where a missing ostree must fail them.
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { runCommand } from "../command.ts";
import { tempDir } from "./test-agent.ts";

export const OS = "exampleos";
export const REF = "exampleos/x86_64/stable";

function hasOstree(): boolean {
  try {
    execFileSync("ostree", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** True when the ostree tests must be skipped: no ostree here, and not on CI. */
export const skipWithoutOstree = !hasOstree() && !process.env.CI;

export interface GpgKey {
  home: string;
  id: string;
  publicKeyFile: string;
}

export interface Release {
  version: string;
  checksum: string;
}

async function run(file: string, args: string[]) {
  return (await runCommand(file, args, { timeoutSeconds: 120 })).stdout.trim();
}

/** A signing key in its own GPG home (no passphrase), and its public half exported. */
export async function makeGpgKey(name: string): Promise<GpgKey> {
  const home = await tempDir();
  await run("gpg", ["--batch", "--homedir", home, "--passphrase", "", "--quick-gen-key", `${name} <${name}@example.com>`, "ed25519", "sign", "never"]);
  const listing = await run("gpg", ["--batch", "--homedir", home, "--list-keys", "--with-colons"]);
  const id = /^fpr:+([0-9A-F]+):/m.exec(listing)![1];
  const publicKeyFile = path.join(home, "public.asc");
  await writeFile(publicKeyFile, await run("gpg", ["--batch", "--homedir", home, "--armor", "--export", id]));
  return { home, id, publicKeyFile };
}

/** Stops the gpg-agent a key's home started. */
export async function dropGpgKey(key: GpgKey) {
  await runCommand("gpgconf", ["--homedir", key.home, "--kill", "gpg-agent"]).catch(() => {});
}

export class OstreeLab {
  private constructor(
    readonly dir: string,
    readonly repo: string,
  ) {}

  static async create(): Promise<OstreeLab> {
    const dir = await tempDir();
    const repo = path.join(dir, "repo");
    await run("ostree", [`--repo=${repo}`, "init", "--mode=archive"]);
    return new OstreeLab(dir, repo);
  }

  get url(): string {
    return `file://${this.repo}`;
  }

  /** Commits a release of exampleos made at `date` ("2026-11-24 09:12:44"), optionally signed. */
  /** A commit of `ref` (REF unless another major stream is wanted) with this version. */
  async commit(version: string, date: string, signedBy?: GpgKey, ref = REF): Promise<Release> {
    const tree = path.join(this.dir, `tree-${version}`);
    await mkdir(path.join(tree, "usr/lib/modules/6.1.0"), { recursive: true });
    await mkdir(path.join(tree, "usr/etc"), { recursive: true });
    await writeFile(path.join(tree, "usr/lib/os-release"), `ID=${OS}\nPRETTY_NAME="Example OS ${version}"\nVERSION_ID=${version}\n`);
    await writeFile(path.join(tree, "usr/lib/modules/6.1.0/vmlinuz"), `kernel of ${version}\n`);
    const sign = signedBy ? [`--gpg-sign=${signedBy.id}`, `--gpg-homedir=${signedBy.home}`] : [];
    const checksum = await run("ostree", [
      `--repo=${this.repo}`,
      "commit",
      `--branch=${ref}`,
      `--tree=dir=${tree}`,
      `--add-metadata-string=version=${version}`,
      `--timestamp=${date}`,
      ...sign,
    ]);
    return { version, checksum };
  }

  /** A new sysroot with `release` pulled from this repo (remote "origin", no signature check) and deployed. */
  async sysroot(release: Release): Promise<string> {
    const sysroot = await tempDir();
    const repo = `--repo=${sysroot}/ostree/repo`;
    await run("ostree", ["admin", "init-fs", sysroot]);
    await run("ostree", ["admin", `--sysroot=${sysroot}`, "os-init", OS]);
    await run("ostree", [repo, "remote", "add", "--no-gpg-verify", "origin", this.url]);
    await run("ostree", [repo, "pull", "origin", `${REF}@${release.checksum}`]);
    const origin = path.join(sysroot, "install.origin");
    await writeFile(origin, `[origin]\nrefspec=origin:${REF}\n`);
    await run("ostree", ["admin", `--sysroot=${sysroot}`, "deploy", `--os=${OS}`, `--origin-file=${origin}`, release.checksum]);
    return sysroot;
  }
}

/** `ostree admin status` of a sysroot, read by a parser of this test's own (not the agent's). */
export async function adminStatusOf(sysroot: string) {
  const text = await run("ostree", ["admin", `--sysroot=${sysroot}`, "status"]);
  return text
    .split(/\n(?=[* ] \S+ [0-9a-f]{64}\.\d+)/)
    .filter((block) => block.trim())
    .map((block) => ({
      checksum: /[0-9a-f]{64}/.exec(block)![0],
      ref: /origin refspec: [^:\n]+:(\S+)/.exec(block)?.[1] ?? null,
      version: /Version: (\S+)/.exec(block)?.[1] ?? null,
      pinned: /Pinned: yes/.test(block),
    }));
}
