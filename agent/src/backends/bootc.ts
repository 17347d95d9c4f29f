// The bootc backend (image mode): `bootc status --format json` read with zod
// (apiVersion org.containers.bootc/v1, kind BootcHost), `bootc switch` to an
// image by digest, `bootc rollback`, `ostree admin pin` and `undeploy`,
// `systemctl reboot`.
// An image maps onto protocol v1 as: ref = the image's repository
// (`quay.io/example/os`, no tag), checksum = its manifest digest without
// `sha256:`. The agent always switches to `repository@sha256:digest`, so a
// machine runs exactly the image the console released, whatever a tag says.
import { z } from "zod";
import { type Deployment, refSchema } from "../../../server/protocol/v1.ts";
import { type Backend, discardable, type MachineStatus, type OsInfo } from "../backend.ts";
import type { Run } from "../command.ts";
import { systemctlRebooter } from "../reboot.ts";
import type { UpdateTarget } from "../store.ts";
import { type MachineFiles, readBootId, readOsInfo } from "./machine-files.ts";
import { OstreeCli } from "./ostree-cli.ts";

const imageStatusSchema = z.object({
  image: z.object({ image: z.string(), transport: z.string() }),
  version: z.string().nullable().optional(),
  /** The image's creation time (RFC 3339), from its configuration. */
  timestamp: z.string().nullable().optional(),
  imageDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
});

const bootEntrySchema = z.object({
  image: imageStatusSchema.nullable(),
  pinned: z.boolean().optional(),
});
type BootEntry = z.infer<typeof bootEntrySchema>;

export const bootcHostSchema = z.object({
  apiVersion: z.literal("org.containers.bootc/v1"),
  kind: z.literal("BootcHost"),
  status: z.object({
    staged: bootEntrySchema.nullable(),
    booted: bootEntrySchema.nullable(),
    rollback: bootEntrySchema.nullable(),
    /** The rollback deployment is the default for the next boot. */
    rollbackQueued: z.boolean().optional().default(false),
  }),
});
export type BootcHost = z.infer<typeof bootcHostSchema>;

export interface BootcOptions {
  run: Run;
  files: MachineFiles;
  /** Pass --enforce-container-sigpolicy: the image must satisfy /etc/containers/policy.json (signatures). */
  enforceSignaturePolicy: boolean;
}

/** A deployment with an image, by its place in bootc's status. */
interface Entry {
  role: "staged" | "booted" | "rollback";
  image: NonNullable<BootEntry["image"]>;
  pinned: boolean;
  /** The default for the next boot without being booted (staged, or a queued rollback). */
  pending: boolean;
}

const TIMEOUT_SECONDS = 3 * 3600;

export class BootcBackend implements Backend {
  readonly kind = "bootc" as const;
  private readonly ostree: OstreeCli;
  private readonly rebooter;

  constructor(private readonly options: BootcOptions) {
    this.ostree = new OstreeCli(options.run, "/");
    this.rebooter = systemctlRebooter(options.run);
  }

  async host(): Promise<BootcHost> {
    const { stdout } = await this.options.run("bootc", ["status", "--format", "json"], { timeoutSeconds: 120 });
    return bootcHostSchema.parse(JSON.parse(stdout));
  }

  async status(): Promise<MachineStatus> {
    return { bootId: await readBootId(this.options.files), deployments: bootOrder(await this.host()).map(toDeployment) };
  }

  async osInfo(): Promise<OsInfo> {
    const booted = (await this.host()).status.booted?.image;
    return readOsInfo(this.options.files.osReleaseFile, booted?.version ?? null);
  }

  async isOlderThanBooted(target: UpdateTarget, signal: AbortSignal): Promise<boolean> {
    const booted = (await this.host()).status.booted?.image;
    if (!booted?.timestamp) return false;
    // skopeo ships with bootc (it fetches images through skopeo's image proxy).
    const { stdout } = await this.options.run(
      "skopeo",
      ["inspect", "--no-tags", `docker://${imageByDigest(target.ref, target.checksum)}`],
      { timeoutSeconds: 300, signal },
    );
    const created = z.object({ Created: z.string() }).parse(JSON.parse(stdout)).Created;
    return Date.parse(created) < Date.parse(booted.timestamp);
  }

  async stage(target: UpdateTarget, onProgress: (fraction: number) => void, signal: AbortSignal): Promise<void> {
    onProgress(0);
    await this.switchTo(target.ref, target.checksum, signal);
    onProgress(1);
  }

  async makeDefault(checksum: string): Promise<void> {
    const host = await this.host();
    const order = bootOrder(host);
    const target = order.find((e) => digestOf(e) === checksum);
    if (!target) throw new Error(`no deployment of ${checksum.slice(0, 12)} on disk`);
    if (target === order[0]) return;
    const swaps = target.role === "rollback" || (target.role === "booted" && !host.status.staged);
    if (swaps) {
      // `bootc rollback` swaps the booted and rollback deployments in the boot order (and drops a staged one).
      await this.bootc(["rollback"]);
      return;
    }
    // The booted image behind a staged one: stage it again (from the local store, nothing is downloaded).
    await this.switchTo(toDeployment(target).ref, checksum);
  }

  /**
   * bootc has no verb that only drops a staged deployment ("Unstage via
   * spec", bootc-dev/bootc issue 406, is still open). What its manual
   * offers, bootc-rollback(8): "If there is a staged entry (an unapplied,
   * queued upgrade) then it will be discarded", while the rollback
   * deployment is queued for the next boot; run again, `bootc rollback`
   * reverts that queued rollback ("Reverting queued rollback state",
   * crates/lib/src/deploy.rs), so twice leaves the booted deployment the
   * default and the rollback one behind it. Without a rollback deployment
   * `bootc rollback` fails ("No rollback available"): then `bootc switch` to
   * the booted image by digest replaces the staged deployment (a new staged
   * deployment replaces the previous one, docs/src/upgrades.md), and the
   * next boot is the booted image again. A rollback deployment has no bootc
   * verb at all: it goes with `ostree admin undeploy INDEX`, the command
   * bootc's documentation names for removing a deployment
   * (docs/src/experimental-install-reset.md).
   */
  async discard(checksum: string): Promise<boolean> {
    const host = await this.host();
    const order = bootOrder(host);
    const at = discardable(order.map(toDeployment), checksum);
    if (at.length === 0) return false;
    for (const index of at) {
      const entry = order[index];
      if (entry.role === "rollback") {
        await this.ostree.undeploy(index);
      } else if (host.status.rollback?.image) {
        await this.bootc(["rollback"]);
        await this.bootc(["rollback"]);
      } else {
        const booted = order.find((e) => e.role === "booted")!;
        await this.switchTo(toDeployment(booted).ref, digestOf(booted));
      }
    }
    return true;
  }

  async pin(checksum: string, pinned: boolean): Promise<void> {
    await this.ostree.pinChecksum(bootOrder(await this.host()).map(toDeployment), checksum, pinned);
  }

  reboot(signal: AbortSignal): Promise<void> {
    return this.rebooter.reboot(signal);
  }

  private async switchTo(repository: string, checksum: string, signal?: AbortSignal) {
    const policy = this.options.enforceSignaturePolicy ? ["--enforce-container-sigpolicy"] : [];
    await this.bootc(["switch", ...policy, imageByDigest(repository, checksum)], signal);
  }

  private async bootc(args: string[], signal?: AbortSignal) {
    await this.options.run("bootc", args, { timeoutSeconds: TIMEOUT_SECONDS, signal });
  }
}

/** The deployments in boot order, as ostree keeps them: a staged one, then the default, then the other. */
export function bootOrder(host: BootcHost): Entry[] {
  const { staged, booted, rollback, rollbackQueued } = host.status;
  const entry = (e: BootEntry | null, role: Entry["role"], pending: boolean): Entry[] =>
    e?.image ? [{ role, image: e.image, pinned: e.pinned ?? false, pending }] : [];
  const bootedEntry = entry(booted, "booted", false);
  const rollbackEntry = entry(rollback, "rollback", rollbackQueued && !staged);
  return [
    ...entry(staged, "staged", true),
    ...(rollbackQueued ? [...rollbackEntry, ...bootedEntry] : [...bootedEntry, ...rollbackEntry]),
  ];
}

function digestOf(e: Entry): string {
  return e.image.imageDigest.slice("sha256:".length);
}

export function toDeployment(e: Entry): Deployment {
  return {
    checksum: digestOf(e),
    ref: imageRepository(e.image.image.image),
    version: e.image.version ?? null,
    booted: e.role === "booted",
    staged: e.pending,
    pinned: e.pinned,
  };
}

/** `quay.io/example/os:41` or `quay.io/example/os@sha256:…` → `quay.io/example/os`, checked as a protocol ref. */
export function imageRepository(image: string): string {
  const withoutDigest = image.split("@")[0];
  const lastSlash = withoutDigest.lastIndexOf("/");
  const tagAt = withoutDigest.indexOf(":", lastSlash + 1);
  const repository = tagAt < 0 ? withoutDigest : withoutDigest.slice(0, tagAt);
  if (!refSchema.safeParse(repository).success) {
    throw new Error(
      `the image ${image} has no name protocol v1 can carry as a ref (a registry with a port, say): serve it from a registry on the default port`,
    );
  }
  return repository;
}

export function imageByDigest(repository: string, checksum: string): string {
  return `${repository}@sha256:${checksum}`;
}
