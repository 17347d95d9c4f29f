// The rpm-ostree backend (Fedora IoT, CentOS Stream and RHEL for Edge):
// `rpm-ostree status --json` read with zod, `rpm-ostree deploy` (same ref) or
// `rebase` (another ref) to stage, `rpm-ostree rollback` or `cleanup
// --pending` to change the default, `rpm-ostree cleanup --pending` or
// `--rollback` to discard a deployment, `ostree admin pin`, `systemctl reboot`.
// Deployments are reported by their base commit: with packages layered on
// top, `checksum` is a commit made on this machine, which the console has
// never heard of, and `base-checksum` the one it released.
import { z } from "zod";
import type { Deployment } from "../../../server/protocol/v1.ts";
import { type Backend, discardable, type MachineStatus, type OsInfo } from "../backend.ts";
import type { Run } from "../command.ts";
import { systemctlRebooter } from "../reboot.ts";
import type { UpdateTarget } from "../store.ts";
import { type MachineFiles, readBootId, readOsInfo } from "./machine-files.ts";
import { OstreeCli } from "./ostree-cli.ts";
import { splitRefspec } from "./ostree-status.ts";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

const rpmDeploymentSchema = z.object({
  osname: z.string(),
  serial: z.number(),
  checksum: hex64,
  "base-checksum": hex64.optional(),
  version: z.string().optional(),
  timestamp: z.number(),
  "base-timestamp": z.number().optional(),
  /** `remote:ref`; absent for a deployment of a container image. */
  origin: z.string().optional(),
  "container-image-reference": z.string().optional(),
  booted: z.boolean(),
  staged: z.boolean().optional(),
  pinned: z.boolean().optional(),
});
export type RpmOstreeDeployment = z.infer<typeof rpmDeploymentSchema>;

export const rpmOstreeStatusSchema = z.object({ deployments: z.array(rpmDeploymentSchema) });

export interface RpmOstreeOptions {
  run: Run;
  files: MachineFiles;
}

const TIMEOUT_SECONDS = 3 * 3600;

export class RpmOstreeBackend implements Backend {
  readonly kind = "rpm-ostree" as const;
  private readonly ostree: OstreeCli;
  private readonly rebooter;

  constructor(private readonly options: RpmOstreeOptions) {
    this.ostree = new OstreeCli(options.run, "/");
    this.rebooter = systemctlRebooter(options.run);
  }

  /** The deployments as rpm-ostree lists them (boot order; a staged one first). */
  async deployments(): Promise<RpmOstreeDeployment[]> {
    const { stdout } = await this.options.run("rpm-ostree", ["status", "--json"], { timeoutSeconds: 120 });
    return rpmOstreeStatusSchema.parse(JSON.parse(stdout)).deployments;
  }

  async status(): Promise<MachineStatus> {
    const list = await this.deployments();
    const bootedAt = list.findIndex((d) => d.booted);
    return {
      bootId: await readBootId(this.options.files),
      deployments: list.map((d, i) => toDeployment(d, i < bootedAt)),
    };
  }

  async osInfo(): Promise<OsInfo> {
    const booted = (await this.deployments()).find((d) => d.booted);
    return readOsInfo(this.options.files.osReleaseFile, booted?.version ?? null);
  }

  async isOlderThanBooted(target: UpdateTarget, signal: AbortSignal): Promise<boolean> {
    const booted = await this.booted();
    await this.ostree.pull(remoteOf(booted), target.ref, target.checksum, { metadataOnly: true, signal });
    const built = await this.ostree.commitTime(target.checksum);
    return built.getTime() < (booted["base-timestamp"] ?? booted.timestamp) * 1000;
  }

  async stage(target: UpdateTarget, onProgress: (fraction: number) => void, signal: AbortSignal): Promise<void> {
    onProgress(0);
    await this.deploy(await this.booted(), target, signal);
    onProgress(1);
  }

  async makeDefault(checksum: string): Promise<void> {
    const list = await this.deployments();
    const at = list.findIndex((d) => baseChecksum(d) === checksum);
    if (at < 0) throw new Error(`no deployment of ${checksum.slice(0, 12)} on disk`);
    if (at === 0) return;
    const bootedAt = list.findIndex((d) => d.booted);
    if (at === bootedAt) {
      await this.putBootedFirst(list, bootedAt);
    } else if (at === bootedAt + 1) {
      // The rollback deployment: rpm-ostree puts it first (and keeps the others).
      await this.rpmOstree(["rollback"]);
    } else {
      // Further back: deploying it again takes its objects from the local repository.
      const d = list[at];
      await this.deploy(list[bootedAt], { ref: refOf(d), checksum, version: d.version ?? null });
    }
  }

  /**
   * `cleanup --pending` for one in front of the booted deployment,
   * `cleanup --rollback` for one behind it (rpm-ostree(1), "cleanup": "-p
   * to remove the pending deployment, and -r to remove the rollback").
   * Each removes every unpinned deployment of the booted OS on its side of
   * the booted one (rpm-ostree-sysroot-core.cxx,
   * rpmostree_syscore_filter_deployments): rpm-ostree keeps at most one
   * there, besides pinned ones.
   */
  async discard(checksum: string): Promise<boolean> {
    const list = await this.deployments();
    const bootedAt = list.findIndex((d) => d.booted);
    const at = discardable(
      list.map((d) => ({ checksum: baseChecksum(d), booted: d.booted, pinned: d.pinned ?? false })),
      checksum,
    );
    if (at.length === 0) return false;
    if (at.some((i) => i < bootedAt)) await this.rpmOstree(["cleanup", "--pending"]);
    if (at.some((i) => i > bootedAt)) await this.rpmOstree(["cleanup", "--rollback"]);
    return true;
  }

  async pin(checksum: string, pinned: boolean): Promise<void> {
    const list = (await this.deployments()).map((d) => ({ ...d, checksum: baseChecksum(d), pinned: d.pinned ?? false }));
    await this.ostree.pinChecksum(list, checksum, pinned);
  }

  reboot(signal: AbortSignal): Promise<void> {
    return this.rebooter.reboot(signal);
  }

  /**
   * Makes the booted deployment the default again, keeping the one in front
   * of it on disk where rpm-ostree can. `rpm-ostree rollback` moves the
   * first deployment behind the booted one to the front, or, when there is
   * none, the booted one (rpmostreed-transaction-types.cxx,
   * rollback_transaction_execute): so once, or twice when one stands
   * behind. It refuses a staged deployment ("remove with cleanup -p"),
   * which is new anyway: that one is removed.
   */
  private async putBootedFirst(list: RpmOstreeDeployment[], bootedAt: number) {
    if (list.slice(0, bootedAt).some((d) => d.staged)) {
      await this.rpmOstree(["cleanup", "--pending"]);
      return;
    }
    const osname = list[bootedAt].osname;
    const behind = list.slice(bootedAt + 1).some((d) => d.osname === osname);
    await this.rpmOstree(["rollback"]);
    if (behind) await this.rpmOstree(["rollback"]);
  }

  private async booted(): Promise<RpmOstreeDeployment> {
    const booted = (await this.deployments()).find((d) => d.booted);
    if (!booted) throw new Error("rpm-ostree lists no booted deployment");
    return booted;
  }

  /** `deploy` keeps the booted deployment's ref; another ref needs `rebase`. */
  private async deploy(booted: RpmOstreeDeployment, target: UpdateTarget, signal?: AbortSignal) {
    const remote = remoteOf(booted);
    const sameRef = booted.origin !== undefined && splitRefspec(booted.origin).ref === target.ref;
    const args = sameRef ? ["deploy", target.checksum] : ["rebase", `${remote}:${target.ref}`, target.checksum];
    await this.rpmOstree(args, signal);
  }

  private async rpmOstree(args: string[], signal?: AbortSignal) {
    await this.options.run("rpm-ostree", args, { timeoutSeconds: TIMEOUT_SECONDS, signal });
  }
}

function baseChecksum(d: RpmOstreeDeployment): string {
  return d["base-checksum"] ?? d.checksum;
}

function refOf(d: RpmOstreeDeployment): string {
  return d.origin ? splitRefspec(d.origin).ref : d.osname;
}

function remoteOf(booted: RpmOstreeDeployment): string {
  const remote = booted.origin ? splitRefspec(booted.origin).remote : null;
  if (!remote) {
    throw new Error(
      booted["container-image-reference"]
        ? `the machine boots the container image ${booted["container-image-reference"]}: use the bootc backend`
        : "the booted deployment's origin names no remote",
    );
  }
  return remote;
}

export function toDeployment(d: RpmOstreeDeployment, beforeBooted: boolean): Deployment {
  return {
    checksum: baseChecksum(d),
    ref: refOf(d),
    version: d.version ?? null,
    booted: d.booted,
    staged: (d.staged ?? false) || beforeBooted,
    pinned: d.pinned ?? false,
  };
}
