// A simulated A/B machine: deployments in boot order, a staged download that
// takes time, reboots that swap the booted deployment and change the boot id
// (without ending the process), and health checks that pass or fail by the
// knobs below. Its state lives in a file beside the agent's, so a restarted
// sim machine remembers what it booted. Its releases were built in version
// order (2026.10.3 before 2026.11.1), standing in for commit timestamps.
// It has Flatpak apps too (protocol 1.2): installed from the console's
// remotes in a moment, each bringing one shared runtime, ordered by their
// versions as well; an app release named by `failAppRelease` fails its app
// check, and a new one fails it with probability `failAppRate`.
import { createHash, randomUUID } from "node:crypto";
import path from "node:path";
import { z } from "zod";
import { checksumSchema, flatpakRefSchema, type HealthCheck, refSchema } from "../../../server/protocol/v1.ts";
import { type AppChecks, type AppDriver, type AppRemote, type AppTarget, appIdOf, type InstalledRef } from "../apps/driver.ts";
import {
  type Backend,
  deploymentOf,
  discardable,
  type HealthReport,
  type HealthSource,
  healthStatusOf,
  MachineHalted,
  type MachineStatus,
  type OsInfo,
} from "../backend.ts";
import { StateFile, type UpdateTarget } from "../store.ts";
import { type Random, sleep } from "../timing.ts";

export interface SimOptions {
  /** Where the machine's state is kept. */
  file: string;
  /** The one deployment a new machine boots. */
  factory: UpdateTarget;
  /** How long pulling a new deployment takes. */
  stageSeconds: number;
  /** How long the machine is down during a reboot. */
  rebootSeconds: number;
  /** Probability that a boot into a deployment not yet proven here fails its health checks. */
  failRate: number;
  /** A version whose boot always fails its health checks. */
  failRelease: string | null;
  /** Probability that the machine never comes back from a reboot. */
  darkRate: number;
  /** Probability that a health check run shows a warning (the machine reports degraded). */
  degradedRate: number;
  /** Probability that the boot loader falls back to the previous deployment when a new one is the default. */
  fallbackRate: number;
  /** An app release (version or commit) whose app check always fails. */
  failAppRelease?: string | null;
  /** Probability that an app commit new to this machine fails its app check here. */
  failAppRate?: number;
  /** How long installing or updating an app takes. */
  appInstallSeconds?: number;
  random?: Random;
}

export const simDefaults = {
  stageSeconds: 20,
  rebootSeconds: 10,
  failRate: 0,
  failRelease: null,
  darkRate: 0,
  degradedRate: 0,
  fallbackRate: 0,
  failAppRelease: null,
  failAppRate: 0,
  appInstallSeconds: 2,
} satisfies Partial<SimOptions>;

const simDeploymentSchema = z.object({
  checksum: checksumSchema,
  ref: refSchema,
  version: z.string().nullable(),
  pinned: z.boolean(),
});
type SimDeployment = z.infer<typeof simDeploymentSchema>;

const simMachineSchema = z.object({
  bootId: z.string(),
  booted: checksumSchema,
  /** In boot order: the first is the default for the next boot. */
  deployments: z.array(simDeploymentSchema).min(1),
  /** Deployments that booted healthy here: booting back into one never fails. */
  provenGood: z.array(checksumSchema),
  /** The check this boot fails, if it does. */
  failing: z.object({ name: z.string(), output: z.string() }).nullable(),
  /** The machine went down for good. */
  dark: z.boolean(),
  /** Installed apps and runtimes. */
  apps: z
    .array(z.object({ ref: flatpakRefSchema, commit: checksumSchema, origin: z.string(), runtime: flatpakRefSchema.nullable() }))
    .default([]),
  /** Flatpak remotes by name: their URL. */
  remotes: z.record(z.string(), z.string()).default({}),
  /** The versions of the app commits seen, by commit. */
  appVersions: z.record(z.string(), z.string()).default({}),
  /** App commits seen here, and those of them that fail their check here (by failAppRate). */
  appSeen: z.array(checksumSchema).default([]),
  appFailing: z.array(checksumSchema).default([]),
});
type SimMachine = z.infer<typeof simMachineSchema>;

const APP_CHECK = "kiosk-app.service";

/** The sim machine's file in a state dir, beside the agent's own state. */
export function simMachineFile(stateDir: string): string {
  return path.join(stateDir, "sim-machine.json");
}

/** The runtime every sim app brings, on the app's architecture. */
function simRuntimeOf(appRef: string) {
  const arch = appRef.split("/")[2] ?? "x86_64";
  return { ref: `runtime/org.example.Platform/${arch}/1.0`, commit: createHash("sha256").update(`sim runtime ${arch}`).digest("hex") };
}

export class SimBackend implements Backend, HealthSource, AppDriver, AppChecks {
  readonly kind = "sim" as const;
  private readonly random: Random;

  private constructor(
    private readonly options: SimOptions,
    private readonly machine: StateFile<SimMachine>,
  ) {
    this.random = options.random ?? Math.random;
  }

  /** The sim machine in `options.file`, or a new one booted into the factory deployment. */
  static async open(options: SimOptions): Promise<SimBackend> {
    const machine =
      (await StateFile.open(options.file, simMachineSchema)) ??
      (await StateFile.create<SimMachine>(options.file, {
        bootId: randomUUID(),
        booted: options.factory.checksum,
        deployments: [{ ...options.factory, pinned: false }],
        provenGood: [options.factory.checksum],
        failing: null,
        dark: false,
        apps: [],
        remotes: {},
        appVersions: {},
        appSeen: [],
        appFailing: [],
      }));
    return new SimBackend(options, machine);
  }

  async status(): Promise<MachineStatus> {
    const m = this.alive();
    const bootedAt = m.deployments.findIndex((d) => d.checksum === m.booted);
    return {
      bootId: m.bootId,
      // Those in front of the booted one are pending: the default for the next boot, not booted yet.
      deployments: m.deployments.map((d, i) => ({ ...d, booted: i === bootedAt, staged: i < bootedAt })),
    };
  }

  async osInfo(): Promise<OsInfo> {
    const m = this.alive();
    const booted = m.deployments.find((d) => d.checksum === m.booted);
    // Refs follow ostree's `<os>/<arch>/<stream>` convention.
    const [id, arch] = booted?.ref.split("/") ?? [];
    return { id, arch, versionId: booted?.version ?? undefined };
  }

  async isOlderThanBooted(target: UpdateTarget): Promise<boolean> {
    const m = this.alive();
    const booted = m.deployments.find((d) => d.checksum === m.booted);
    // Only versions that are numbers tell an order ("factory", the default sim image, tells none).
    const numbered = (v: string | null | undefined): v is string => /^\d/.test(v ?? "");
    if (!numbered(target.version) || !numbered(booted?.version)) return false;
    return compareVersions(target.version, booted.version) < 0;
  }

  async stage(target: UpdateTarget, onProgress: (fraction: number) => void, signal: AbortSignal): Promise<void> {
    const m = this.alive();
    if (!m.deployments.some((d) => d.checksum === target.checksum)) {
      const steps = 10;
      for (let step = 1; step <= steps; step++) {
        await sleep(this.options.stageSeconds / steps, signal);
        onProgress(step / steps);
      }
    } else {
      onProgress(1);
    }
    await this.machine.update((state) => {
      const existing = state.deployments.find((d) => d.checksum === target.checksum);
      const next: SimDeployment = existing ?? { ...target, pinned: false };
      // Like `ostree admin deploy`: a new deployment keeps only the booted one and pinned ones beside it.
      const kept = state.deployments.filter(
        (d) => d.checksum !== target.checksum && (existing !== undefined || d.checksum === state.booted || d.pinned),
      );
      state.deployments = [next, ...kept];
    });
  }

  async makeDefault(checksum: string): Promise<void> {
    deploymentOf(await this.status(), checksum);
    await this.machine.update((state) => {
      const chosen = state.deployments.find((d) => d.checksum === checksum)!;
      state.deployments = [chosen, ...state.deployments.filter((d) => d !== chosen)];
    });
  }

  async discard(checksum: string): Promise<boolean> {
    if (discardable((await this.status()).deployments, checksum).length === 0) return false;
    await this.machine.update((state) => {
      state.deployments = state.deployments.filter((d) => d.checksum !== checksum);
    });
    return true;
  }

  async pin(checksum: string, pinned: boolean): Promise<void> {
    deploymentOf(await this.status(), checksum);
    await this.machine.update((state) => {
      for (const d of state.deployments) if (d.checksum === checksum) d.pinned = pinned;
    });
  }

  async reboot(signal: AbortSignal): Promise<void> {
    this.alive();
    await sleep(this.options.rebootSeconds, signal);
    if (this.random() < this.options.darkRate) {
      await this.machine.update((state) => {
        state.dark = true;
      });
      throw new MachineHalted();
    }
    await this.machine.update((state) => {
      const chosen = state.deployments[0];
      // Boot counting (greenboot-style): a new default that does not come up falls back to the one that
      // did, and stays the default (the boot order is left as it was).
      const fellBack = chosen.checksum !== state.booted && this.random() < this.options.fallbackRate;
      const booted = fellBack ? state.deployments.find((d) => d.checksum === state.booted)! : chosen;
      state.booted = booted.checksum;
      state.bootId = randomUUID();
      state.failing = this.bootFailure(state, booted);
      if (!state.failing && !state.provenGood.includes(booted.checksum)) state.provenGood.push(booted.checksum);
    });
  }

  async healthChecks(): Promise<HealthReport> {
    const m = this.alive();
    const checks: HealthCheck[] = [
      { name: "sshd.service", status: "pass", output: null },
      m.failing
        ? { name: m.failing.name, status: "fail", output: m.failing.output }
        : { name: APP_CHECK, status: "pass", output: null },
      this.random() < this.options.degradedRate
        ? { name: "disk:/var", status: "warn", output: "/var is 93% full" }
        : { name: "disk:/var", status: "pass", output: null },
    ];
    return { status: healthStatusOf(checks), checks };
  }

  // ---------------------------------------------------------------- apps

  async list(): Promise<InstalledRef[]> {
    return this.alive().apps.map((a) => ({ ...a }));
  }

  async ensureRemote(remote: AppRemote): Promise<void> {
    if (this.alive().remotes[remote.name] === remote.url) return;
    await this.machine.update((state) => {
      state.remotes[remote.name] = remote.url;
    });
  }

  async install(remote: string, ref: string, target: AppTarget, signal: AbortSignal): Promise<void> {
    const m = this.alive();
    if (!(remote in m.remotes)) throw new Error(`error: No remote ${remote}`);
    if (m.apps.some((a) => a.ref === ref)) throw new Error(`${ref} is already installed`);
    await sleep(this.options.appInstallSeconds ?? simDefaults.appInstallSeconds, signal);
    const runtime = simRuntimeOf(ref);
    await this.machine.update((state) => {
      if (!state.apps.some((a) => a.ref === runtime.ref)) state.apps.push({ ...runtime, origin: remote, runtime: null });
      state.apps.push({ ref, commit: target.commit, origin: remote, runtime: runtime.ref });
      this.seeApp(state, target);
    });
  }

  async update(ref: string, target: AppTarget, signal: AbortSignal): Promise<void> {
    if (!this.alive().apps.some((a) => a.ref === ref)) throw new Error(`error: ${ref} not installed`);
    await sleep(this.options.appInstallSeconds ?? simDefaults.appInstallSeconds, signal);
    await this.machine.update((state) => {
      for (const a of state.apps) if (a.ref === ref) a.commit = target.commit;
      this.seeApp(state, target);
    });
  }

  async uninstall(ref: string): Promise<void> {
    const m = this.alive();
    if (!m.apps.some((a) => a.ref === ref)) throw new Error(`error: ${ref} not installed`);
    const user = m.apps.find((a) => a.runtime === ref);
    if (user) throw new Error(`error: ${ref} is needed by the installed app ${user.ref}`);
    await this.machine.update((state) => {
      state.apps = state.apps.filter((a) => a.ref !== ref);
    });
  }

  /** Notes an app commit's version, and (the first time) whether it fails here by failAppRate. */
  private seeApp(state: SimMachine, target: AppTarget) {
    if (target.version) state.appVersions[target.commit] = target.version;
    if (state.appSeen.includes(target.commit)) return;
    state.appSeen.push(target.commit);
    if (this.random() < (this.options.failAppRate ?? 0)) state.appFailing.push(target.commit);
  }

  async isOlder(_remote: string, _ref: string, target: AppTarget, active: string): Promise<boolean> {
    const activeVersion = this.alive().appVersions[active];
    const numbered = (v: string | null | undefined): v is string => /^\d/.test(v ?? "");
    if (!numbered(target.version) || !numbered(activeVersion)) return false;
    return compareVersions(target.version, activeVersion) < 0;
  }

  async appHealth(app: { ref: string; commit: string }): Promise<HealthReport> {
    const m = this.alive();
    const version = m.appVersions[app.commit] ?? null;
    const failing = this.options.failAppRelease ?? null;
    const name = `${appIdOf(app.ref)}: running`;
    const doomed = (failing !== null && (failing === app.commit || failing === version)) || m.appFailing.includes(app.commit);
    const checks: HealthCheck[] = [
      doomed
        ? { name, status: "fail", output: `${appIdOf(app.ref)} exited with status 1 (release ${version ?? app.commit.slice(0, 12)})` }
        : { name, status: "pass", output: null },
    ];
    return { status: healthStatusOf(checks), checks };
  }

  private bootFailure(m: SimMachine, booted: SimDeployment): SimMachine["failing"] {
    if (m.provenGood.includes(booted.checksum)) return null;
    const doomed = booted.version !== null && booted.version === this.options.failRelease;
    if (!doomed && !(this.random() < this.options.failRate)) return null;
    const release = booted.version ?? booted.checksum.slice(0, 12);
    return { name: APP_CHECK, output: `${APP_CHECK}: Main process exited, code=exited, status=1/FAILURE (release ${release})` };
  }

  private alive(): Readonly<SimMachine> {
    const m = this.machine.state;
    if (m.dark) throw new MachineHalted("the simulated machine went dark (it never came back from a reboot)");
    return m;
  }
}

/** Versions compared the way people read them: numbers as numbers (2026.9 < 2026.10), the rest as text. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.match(/\d+|[^\d.\-_+~]+/g) ?? [];
  const [left, right] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const [x, y] = [left[i], right[i]];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}
