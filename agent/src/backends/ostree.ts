// The ostree backend: drives `ostree` on a sysroot (/ on a machine, a folder
// in tests). Deployments are exactly what `ostree admin status` lists, in its
// order; an update is `ostree pull REMOTE REF@CHECKSUM` (signatures checked
// by the remote's settings) then `ostree admin deploy`; a rollback re-deploys
// or undeploys, since this ostree (2022.7) has no `admin set-default`; a
// deployment is discarded with `ostree admin undeploy INDEX`.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Deployment } from "../../../server/protocol/v1.ts";
import { type Backend, discardable, type MachineStatus, type OsInfo } from "../backend.ts";
import type { Run } from "../command.ts";
import { ConfigError } from "../config.ts";
import { markerRebooter, type RebootMode, type Rebooter, systemctlRebooter } from "../reboot.ts";
import { type UpdateTarget, writeFileAtomic } from "../store.ts";
import { machineFiles, readBootId, readOsInfo } from "./machine-files.ts";
import { OstreeCli, originFileText, type RemoteConfig } from "./ostree-cli.ts";
import { type OstreeDeployment, splitRefspec } from "./ostree-status.ts";
import { deploymentKey, type SimulatedBootRecord, simulatedBoot } from "./simulated-boot.ts";

export interface OstreeOptions {
  /** "/" on a machine; a folder made with `ostree admin init-fs` in tests. */
  sysroot: string;
  /** The OS (stateroot) to deploy into; by default the booted deployment's. */
  osName?: string;
  /** A remote the agent (re)creates at start; without it, the booted deployment's remote is used as it is. */
  remote?: RemoteConfig;
  /** The agent's state dir: origin files, and the boot of a sysroot in a folder. */
  stateDir: string;
  reboot: RebootMode;
  run: Run;
}

export const SIMULATED_BOOT_FILE = "ostree-simulated-boot.json";
export const REBOOT_MARKER_FILE = "reboot-requested";

export class OstreeBackend implements Backend {
  readonly kind = "ostree" as const;

  private constructor(
    private readonly cli: OstreeCli,
    private readonly options: OstreeOptions,
    private readonly rebooter: Rebooter,
    /** Set for a sysroot in a folder: its boot is kept by the agent. */
    private readonly simulated: SimulatedBootRecord | null,
  ) {}

  /** Checks that the configuration fits the sysroot, and sets up the configured remote. */
  static async open(options: OstreeOptions): Promise<OstreeBackend> {
    const cli = new OstreeCli(options.run, options.sysroot);
    const deployments = await cli.adminStatus();
    if (deployments.length === 0) throw new ConfigError(`bad configuration: ostree.sysroot: ${options.sysroot} has no deployment yet`);
    const booted = deployments.some((d) => d.booted);
    if (booted && options.reboot === "marker") {
      throw new ConfigError(`bad configuration: reboot: "marker" is for a sysroot in a folder, and ${options.sysroot} is the booted system`);
    }
    if (!booted && options.reboot === "systemctl") {
      throw new ConfigError(
        `bad configuration: reboot: ${options.sysroot} is not the booted system, so rebooting this machine would not boot it; use "marker"`,
      );
    }
    if (options.remote?.ed25519KeyFile && !(await cli.features()).includes("sign-ed25519")) {
      throw new ConfigError(
        "bad configuration: ostree.remote.ed25519KeyFile: this ostree was built without sign-ed25519 (see `ostree --version`); use gpgKeyFile",
      );
    }
    if (options.remote) await cli.setRemote(options.remote);
    const rebooter = booted ? systemctlRebooter(options.run) : markerRebooter(path.join(options.stateDir, REBOOT_MARKER_FILE));
    // A sysroot in a folder boots from a file in the state dir, which the
    // first enrollment has not created yet.
    if (!booted) await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const simulated = booted
      ? null
      : await simulatedBoot(
          path.join(options.stateDir, SIMULATED_BOOT_FILE),
          path.join(options.stateDir, REBOOT_MARKER_FILE),
          deployments,
        );
    return new OstreeBackend(cli, options, rebooter, simulated);
  }

  async status(): Promise<MachineStatus> {
    const list = await this.list();
    const bootedAt = list.findIndex((d) => d.booted);
    return {
      bootId: this.simulated?.bootId ?? (await readBootId(machineFiles)),
      deployments: list.map(
        (d, i): Deployment => ({
          checksum: d.checksum,
          // A deployment whose origin is not a refspec (a container image) goes by its OS name.
          ref: d.refspec ? splitRefspec(d.refspec).ref : d.osname,
          version: d.version,
          booted: d.booted,
          // Pending (`ostree admin status` says so on a machine; in a folder, before the booted one) or staged.
          staged: d.staged || d.pending || (this.simulated !== null && i < bootedAt),
          pinned: d.pinned,
        }),
      ),
    };
  }

  async osInfo(): Promise<OsInfo> {
    const booted = await this.booted();
    return readOsInfo(path.join(this.deploymentDir(booted), "usr/lib/os-release"), booted.version);
  }

  async isOlderThanBooted(target: UpdateTarget, signal: AbortSignal): Promise<boolean> {
    const booted = await this.booted();
    await this.cli.pull(this.remoteOf(booted), target.ref, target.checksum, { metadataOnly: true, signal });
    const [built, bootedBuilt] = await Promise.all([this.cli.commitTime(target.checksum), this.cli.commitTime(booted.checksum)]);
    return built < bootedBuilt;
  }

  async stage(target: UpdateTarget, onProgress: (fraction: number) => void, signal: AbortSignal): Promise<void> {
    const booted = await this.booted();
    const remote = this.remoteOf(booted);
    // ostree prints progress only to a terminal: the fraction is 0 until the pull is done.
    onProgress(0);
    await this.cli.pull(remote, target.ref, target.checksum, { signal });
    await this.deploy(booted.osname, target.checksum, `${remote}:${target.ref}`);
    onProgress(1);
  }

  async makeDefault(checksum: string): Promise<void> {
    const list = await this.list();
    const at = list.findIndex((d) => d.checksum === checksum);
    if (at < 0) throw new Error(`no deployment of ${checksum.slice(0, 12)} on disk`);
    if (at === 0) return;
    const bootedAt = list.findIndex((d) => d.booted);
    if (at <= bootedAt) {
      // Only deployments that were never booted stand before it: remove them.
      for (let i = 0; i < at; i++) await this.cli.undeploy(0);
      return;
    }
    // It stands behind the booted one, which ostree cannot undeploy: deploy
    // the same commit again on top (its /etc merged from the booted one),
    // and keep the one behind, so that undoing this (a cancelled rollback)
    // leaves that deployment on disk.
    const target = list[at];
    await this.deploy(target.osname, target.checksum, target.refspec ?? target.checksum, deploymentKey(target));
  }

  async discard(checksum: string): Promise<boolean> {
    const indexes = discardable(await this.list(), checksum);
    for (const index of indexes) await this.cli.undeploy(index);
    return indexes.length > 0;
  }

  async pin(checksum: string, pinned: boolean): Promise<void> {
    await this.cli.pinChecksum(await this.list(), checksum, pinned);
  }

  reboot(signal: AbortSignal): Promise<void> {
    return this.rebooter.reboot(signal);
  }

  /** `ostree admin status`, with the booted deployment marked (by the simulated boot in a folder). */
  private async list(): Promise<OstreeDeployment[]> {
    const list = await this.cli.adminStatus();
    const simulated = this.simulated;
    if (!simulated) return list;
    const marked = list.map((d) => ({ ...d, booted: deploymentKey(d) === simulated.deployment }));
    if (!marked.some((d) => d.booted)) throw new Error(`the booted deployment ${simulated.deployment} is gone from ${this.cli.sysroot}`);
    return marked;
  }

  private async booted(): Promise<OstreeDeployment> {
    return (await this.list()).find((d) => d.booted)!;
  }

  private remoteOf(booted: OstreeDeployment): string {
    const remote = this.options.remote?.name ?? (booted.refspec ? splitRefspec(booted.refspec).remote : null);
    if (!remote) throw new Error("the booted deployment's origin names no remote: configure ostree.remote");
    return remote;
  }

  private deploymentDir(d: OstreeDeployment): string {
    return path.join(this.cli.sysroot, "ostree/deploy", d.osname, "deploy", `${d.checksum}.${d.serial}`);
  }

  /** Deploys `checksum` as the new default; `keep` (a deployment's key) stays on disk beside the booted and pinned ones. */
  private async deploy(osname: string, checksum: string, refspec: string, keep: string | null = null) {
    const originFile = path.join(this.options.stateDir, "ostree-deploy.origin");
    await writeFileAtomic(originFile, originFileText(refspec));
    const os = this.options.osName ?? osname;
    if (!this.simulated && keep === null) {
      await this.cli.deploy(os, checksum, originFile);
      return;
    }
    // In a folder, ostree does not know which deployment is booted and would
    // keep the previous default instead; and ostree keeps no deployment it
    // is told to keep. So: keep everything, then drop what a booted machine
    // drops (all but the new, the booted and pinned ones), except `keep`.
    await this.cli.deploy(os, checksum, originFile, { retain: true });
    const list = await this.list();
    for (let i = list.length - 1; i > 0; i--) {
      const d = list[i];
      if (!d.booted && !d.pinned && d.osname === os && deploymentKey(d) !== keep) await this.cli.undeploy(i);
    }
  }
}
