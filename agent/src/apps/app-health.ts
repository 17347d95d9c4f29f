// An app's own health checks: the machine's kinds (scripts in required.d/ and
// wanted.d/, HTTP probes), configured per app ID on the machine. Scripts get
// ORCHARD_APP_REF, ORCHARD_APP_ID and ORCHARD_APP_COMMIT in their environment.
import path from "node:path";
import type { HealthReport } from "../backend.ts";
import type { Run } from "../command.ts";
import { type HttpProbe, MachineHealth } from "../health/machine-health.ts";
import { type AppChecks, appIdOf } from "./driver.ts";

export interface AppHealthOptions {
  /** Each app's scripts are in `<checksDir>/<APP_ID>/{required.d,wanted.d}`. */
  checksDir: string;
  probes: Record<string, HttpProbe[]>;
  timeoutSeconds: number;
  run: Run;
}

export class AppHealth implements AppChecks {
  constructor(private readonly options: AppHealthOptions) {}

  appHealth(app: { ref: string; commit: string }, signal: AbortSignal): Promise<HealthReport> {
    const id = appIdOf(app.ref);
    const checks = new MachineHealth({
      checksDir: path.join(this.options.checksDir, id),
      failedUnits: "ignore",
      probes: this.options.probes[id] ?? [],
      timeoutSeconds: this.options.timeoutSeconds,
      run: this.options.run,
      env: { ORCHARD_APP_REF: app.ref, ORCHARD_APP_ID: id, ORCHARD_APP_COMMIT: app.commit },
    });
    return checks.healthChecks(null, signal);
  }
}
