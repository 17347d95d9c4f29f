// The `ostree` commands the backends use, against one sysroot (normally /,
// a folder in tests). rpm-ostree and bootc machines have the same tool: their
// backends pin deployments and read commit metadata through it.
import path from "node:path";
import { CommandError, type Run } from "../command.ts";
import { type OstreeDeployment, parseAdminStatus, parseCommitDate, parseFeatures } from "./ostree-status.ts";

/** Pulls can take long on a slow link; everything else is quick. */
const PULL_TIMEOUT_SECONDS = 3 * 3600;
const QUICK_TIMEOUT_SECONDS = 120;

export interface RemoteConfig {
  name: string;
  url: string;
  /** An armored or binary GPG public key file: commits must carry a good signature by it. */
  gpgKeyFile?: string;
  /** A file of base64 ed25519 public keys (`ostree sign`): needs an ostree built with sign-ed25519. */
  ed25519KeyFile?: string;
}

export class OstreeCli {
  constructor(
    private readonly run: Run,
    readonly sysroot: string,
  ) {}

  get repo(): string {
    return path.join(this.sysroot, "ostree/repo");
  }

  async adminStatus(): Promise<OstreeDeployment[]> {
    const { stdout } = await this.admin(["status"]);
    return parseAdminStatus(stdout);
  }

  async features(): Promise<string[]> {
    const { stdout } = await this.run("ostree", ["--version"], { timeoutSeconds: QUICK_TIMEOUT_SECONDS });
    return parseFeatures(stdout);
  }

  /** Replaces the remote with exactly this configuration (an old key does not linger in its keyring). */
  async setRemote(remote: RemoteConfig): Promise<void> {
    await this.ostree(["remote", "delete", "--if-exists", remote.name]);
    const verify: string[] = [];
    if (remote.gpgKeyFile) verify.push("--set=gpg-verify=true", `--gpg-import=${remote.gpgKeyFile}`);
    else verify.push("--no-gpg-verify");
    if (remote.ed25519KeyFile) verify.push(`--sign-verify=ed25519=file:${remote.ed25519KeyFile}`);
    await this.ostree(["remote", "add", ...verify, remote.name, remote.url]);
  }

  /**
   * Pulls one commit of `ref` (not whatever the ref points to now) and
   * points the local ref at it. The remote's signature settings apply: a
   * commit without a good signature is refused by ostree itself.
   */
  async pull(remote: string, ref: string, checksum: string, options: { metadataOnly?: boolean; signal?: AbortSignal } = {}) {
    const args = ["pull", ...(options.metadataOnly ? ["--commit-metadata-only"] : []), remote, `${ref}@${checksum}`];
    try {
      await this.ostree(args, { timeoutSeconds: PULL_TIMEOUT_SECONDS, signal: options.signal });
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      throw new Error(`pulling ${ref}@${checksum.slice(0, 12)} from ${remote} failed: ${error.said}`);
    }
  }

  /** When a commit in the repository was made. */
  async commitTime(checksum: string): Promise<Date> {
    const { stdout } = await this.ostree(["show", checksum]);
    return parseCommitDate(stdout);
  }

  /**
   * Deploys `checksum` of OS `osname` as the new default, with `refspec` as
   * its origin (what `ostree admin status` reports and upgrades follow).
   */
  async deploy(osname: string, checksum: string, originFile: string, options: { retain?: boolean } = {}) {
    const retain = options.retain ? ["--retain"] : [];
    await this.admin(["deploy", `--os=${osname}`, `--origin-file=${originFile}`, ...retain, checksum], PULL_TIMEOUT_SECONDS);
  }

  async undeploy(index: number) {
    await this.admin(["undeploy", String(index)]);
  }

  /**
   * Pins or unpins the deployment of `checksum` in `list` (in ostree's
   * order): the booted one when it is that commit, else the first.
   */
  async pinChecksum(list: readonly { checksum: string; booted: boolean; pinned: boolean }[], checksum: string, pinned: boolean) {
    const booted = list.findIndex((d) => d.booted && d.checksum === checksum);
    const index = booted >= 0 ? booted : list.findIndex((d) => d.checksum === checksum);
    if (index < 0) throw new Error(`no deployment of ${checksum.slice(0, 12)} on disk`);
    if (list[index].pinned === pinned) return;
    await this.admin(["pin", ...(pinned ? [] : ["--unpin"]), String(index)]);
  }

  private ostree(args: string[], options: { timeoutSeconds?: number; signal?: AbortSignal } = {}) {
    return this.run("ostree", [...args, `--repo=${this.repo}`], {
      timeoutSeconds: options.timeoutSeconds ?? QUICK_TIMEOUT_SECONDS,
      signal: options.signal,
    });
  }

  private admin(args: string[], timeoutSeconds = QUICK_TIMEOUT_SECONDS) {
    return this.run("ostree", ["admin", ...args, `--sysroot=${this.sysroot}`], { timeoutSeconds });
  }
}

/** The body of an origin file: what `ostree admin status` shows as `origin refspec`. */
export function originFileText(refspec: string): string {
  return `[origin]\nrefspec=${refspec}\n`;
}
