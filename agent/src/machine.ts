// The backend and the health checks the configuration asks for, checked
// against the machine before the agent starts.
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
}

export async function openMachine(config: AgentConfig, run: Run = runCommand): Promise<Machine> {
  const kind = config.backend;
  if (!kind) {
    throw new ConfigError("bad configuration: backend: required: one of ostree, rpm-ostree, bootc, sim (--backend, ORCHARD_BACKEND or the config file)");
  }
  if (kind === "sim") {
    const sim = await SimBackend.open({ ...config.sim, file: simMachineFile(config.stateDir) });
    return { backend: sim, health: sim };
  }
  if (config.reboot === "marker" && kind !== "ostree") {
    throw new ConfigError(`bad configuration: reboot: "marker" works with the ostree backend on a sysroot in a folder, not with ${kind}`);
  }
  const health = new MachineHealth({ ...config.health, run });
  if (kind === "ostree") {
    const backend = await OstreeBackend.open({ ...config.ostree, stateDir: config.stateDir, reboot: config.reboot, run });
    return { backend, health };
  }
  if (kind === "rpm-ostree") return { backend: new RpmOstreeBackend({ run, files: machineFiles }), health };
  return { backend: new BootcBackend({ run, files: machineFiles, ...config.bootc }), health };
}
