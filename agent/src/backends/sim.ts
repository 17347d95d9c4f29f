// A simulated A/B machine: deployments in boot order, a staged download that
// takes time, reboots that swap the booted deployment and change the boot id
// (without ending the process), and health checks that pass or fail by the
// knobs below. Its state lives in a file beside the agent's, so a restarted
// sim machine remembers what it booted.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { z } from "zod";
import { checksumSchema, type HealthCheck, refSchema } from "../../../server/protocol/v1.ts";
import {
  type Backend,
  type HealthReport,
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
} satisfies Partial<SimOptions>;

const simDeploymentSchema = z.object({
  checksum: checksumSchema,
  ref: refSchema,
  version: z.string().nullable(),
  staged: z.boolean(),
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
});
type SimMachine = z.infer<typeof simMachineSchema>;

const APP_CHECK = "kiosk-app.service";

/** The sim machine's file in a state dir, beside the agent's own state. */
export function simMachineFile(stateDir: string): string {
  return path.join(stateDir, "sim-machine.json");
}

export class SimBackend implements Backend {
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
        deployments: [{ ...options.factory, staged: false, pinned: false }],
        provenGood: [options.factory.checksum],
        failing: null,
        dark: false,
      }));
    return new SimBackend(options, machine);
  }

  async status(): Promise<MachineStatus> {
    const m = this.alive();
    return {
      bootId: m.bootId,
      deployments: m.deployments.map((d) => ({ ...d, booted: d.checksum === m.booted })),
    };
  }

  async osInfo(): Promise<OsInfo> {
    const m = this.alive();
    const booted = m.deployments.find((d) => d.checksum === m.booted);
    // Refs follow ostree's `<os>/<arch>/<stream>` convention.
    const [id, arch] = booted?.ref.split("/") ?? [];
    return { id, arch, versionId: booted?.version ?? undefined };
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
      const next: SimDeployment = existing ?? { ...target, staged: true, pinned: false };
      // Like `ostree admin deploy`: a new deployment keeps only the booted one and pinned ones beside it.
      const kept = state.deployments.filter(
        (d) => d.checksum !== target.checksum && (existing !== undefined || d.checksum === state.booted || d.pinned),
      );
      state.deployments = [next, ...kept];
    });
  }

  async rollback(): Promise<void> {
    const m = this.alive();
    const previous = m.deployments.find((d) => d.checksum !== m.booted);
    if (!previous) throw new Error("there is no rollback deployment");
    await this.machine.update((state) => {
      state.deployments = [previous, ...state.deployments.filter((d) => d !== previous)];
    });
  }

  async finalizeAndReboot(signal: AbortSignal): Promise<void> {
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
      // Boot counting (greenboot-style): a new default that does not come up falls back to the one that did.
      const fellBack = chosen.checksum !== state.booted && this.random() < this.options.fallbackRate;
      const booted = fellBack ? state.deployments.find((d) => d.checksum === state.booted)! : chosen;
      state.deployments = [booted, ...state.deployments.filter((d) => d !== booted)].map((d) => ({ ...d, staged: false }));
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
