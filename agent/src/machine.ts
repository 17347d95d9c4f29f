// The backend and the health checks the configuration asks for, checked
// against the machine before the agent starts.
import { AppHealth } from "./apps/app-health.ts";
import type { AppChecks, AppDriver } from "./apps/driver.ts";
import { FlatpakDriver } from "./apps/flatpak.ts";
import type { Backend, HealthSource } from "./backend.ts";
import { BootcBackend } from "./backends/bootc.ts";
import { machineFiles } from "./backends/machine-files.ts";
import { OstreeBackend } from "./backends/ostree.ts";
import { RpmOstreeBackend } from "./backends/rpm-ostree.ts";
import { SimBackend, simMachineFile } from "./backends/sim.ts";
import { type Run, runCommand } from "./command.ts";
import { type AgentConfig, ConfigError } from "./config.ts";
import { MachineHealth } from "./health/machine-health.ts";

export interface Machine {
  backend: Backend;
  health: HealthSource;
  /** v1.2: the machine's apps; absent when apps are turned off. */
  apps?: { driver: AppDriver; checks: AppChecks; timing: { graceSeconds: number } };
}

/** The Flatpak installation and app checks the configuration names. */
export function openApps(config: AgentConfig, run: Run = runCommand): Machine["apps"] {
  if (!config.apps.enabled) return undefined;
  const { installation, checksDir, probes, timeoutSeconds, commandTimeoutSeconds, graceSeconds } = config.apps;
  return {
    driver: new FlatpakDriver({ installation, run, commandTimeoutSeconds }),
    checks: new AppHealth({ checksDir, probes, timeoutSeconds, run }),
    timing: { graceSeconds },
  };
}

export async function openMachine(config: AgentConfig, run: Run = runCommand): Promise<Machine> {
  const kind = config.backend;
  if (!kind) {
    throw new ConfigError("bad configuration: backend: required: one of ostree, rpm-ostree, bootc, sim (--backend, ORCHARD_BACKEND or the config file)");
  }
  if (kind === "sim") {
    const sim = await SimBackend.open({ ...config.sim, file: simMachineFile(config.stateDir) });
    const apps = config.apps.enabled ? { driver: sim, checks: sim, timing: { graceSeconds: config.apps.graceSeconds } } : undefined;
    return { backend: sim, health: sim, apps };
  }
  if (config.reboot === "marker" && kind !== "ostree") {
    throw new ConfigError(`bad configuration: reboot: "marker" works with the ostree backend on a sysroot in a folder, not with ${kind}`);
  }
  const health = new MachineHealth({ ...config.health, run });
  const apps = openApps(config, run);
  if (kind === "ostree") {
    const backend = await OstreeBackend.open({ ...config.ostree, stateDir: config.stateDir, reboot: config.reboot, run });
    return { backend, health, apps };
  }
  if (kind === "rpm-ostree") return { backend: new RpmOstreeBackend({ run, files: machineFiles }), health, apps };
  return { backend: new BootcBackend({ run, files: machineFiles, ...config.bootc }), health, apps };
}
