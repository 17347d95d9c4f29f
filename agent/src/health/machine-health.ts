// The machine's health checks, greenboot-style: executable scripts in
// `<checksDir>/required.d/` (a failure rolls an update back) and
// `<checksDir>/wanted.d/` (a failure is a warning), run in name order;
// systemd units in the failed state; and HTTP probes from the configuration.
// Every check has a timeout, and its output is kept, cut short, for the report.
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import type { Deployment, HealthCheck } from "../../../server/protocol/v1.ts";
import { type HealthReport, type HealthSource, healthStatusOf } from "../backend.ts";
import { CommandError, type Run } from "../command.ts";
import { clip } from "../events.ts";
import { describeNetworkError, httpRequest } from "../http.ts";
import { errorMessage } from "../log.ts";

export interface HttpProbe {
  name: string;
  url: string;
  /** A required probe that fails rolls an update back; a wanted one is a warning. */
  required: boolean;
  timeoutSeconds?: number;
}

export interface MachineHealthOptions {
  checksDir: string;
  /** What a unit in the failed state counts as; "ignore" skips the check (no systemd). */
  failedUnits: "required" | "wanted" | "ignore";
  probes: HttpProbe[];
  timeoutSeconds: number;
  run: Run;
  /** More environment for the check scripts (an app's checks get the app's ref and commit). */
  env?: Record<string, string>;
}

/** What a check's report keeps of its output (the protocol takes up to 4096 characters). */
export const OUTPUT_LIMIT = 2048;
/** The protocol takes up to 64 checks; the rest are left out. */
const MAX_CHECKS = 64;

export class MachineHealth implements HealthSource {
  constructor(private readonly options: MachineHealthOptions) {}

  async healthChecks(booted: Deployment | null, signal: AbortSignal): Promise<HealthReport> {
    const checks = [
      ...(await this.scripts("required.d", true, booted, signal)),
      ...(await this.scripts("wanted.d", false, booted, signal)),
      ...(this.options.failedUnits === "ignore" ? [] : [await this.failedUnits(this.options.failedUnits === "required", signal)]),
      ...(await Promise.all(this.options.probes.map((probe) => this.probe(probe, signal)))),
    ].slice(0, MAX_CHECKS);
    return { status: healthStatusOf(checks), checks };
  }

  private async scripts(folder: string, required: boolean, booted: Deployment | null, signal: AbortSignal) {
    const dir = path.join(this.options.checksDir, folder);
    const checks: HealthCheck[] = [];
    for (const file of await executablesIn(dir)) {
      const name = `${folder}/${file}`.slice(0, 128);
      const env = {
        ...process.env,
        ORCHARD_BOOTED_CHECKSUM: booted?.checksum ?? "",
        ORCHARD_BOOTED_REF: booted?.ref ?? "",
        ORCHARD_BOOTED_VERSION: booted?.version ?? "",
        ...this.options.env,
      };
      try {
        const { stdout, stderr } = await this.options.run(path.join(dir, file), [], {
          timeoutSeconds: this.options.timeoutSeconds,
          signal,
          env,
        });
        checks.push({ name, status: "pass", output: outputOf(stdout + stderr) });
      } catch (error) {
        signal.throwIfAborted();
        checks.push({ name, status: required ? "fail" : "warn", output: failureOutput(error) });
      }
    }
    return checks;
  }

  private async failedUnits(required: boolean, signal: AbortSignal): Promise<HealthCheck> {
    const name = "systemd: failed units";
    try {
      const { stdout } = await this.options.run(
        "systemctl",
        ["list-units", "--state=failed", "--plain", "--no-legend", "--no-pager"],
        { timeoutSeconds: this.options.timeoutSeconds, signal },
      );
      const units = stdout
        .split("\n")
        .map((line) => line.trim().split(/\s+/)[0])
        .filter(Boolean);
      if (units.length === 0) return { name, status: "pass", output: null };
      return { name, status: required ? "fail" : "warn", output: clip(`failed: ${units.join(" ")}`, OUTPUT_LIMIT) };
    } catch (error) {
      signal.throwIfAborted();
      return { name, status: required ? "fail" : "warn", output: failureOutput(error) };
    }
  }

  private async probe(probe: HttpProbe, signal: AbortSignal): Promise<HealthCheck> {
    const seconds = probe.timeoutSeconds ?? this.options.timeoutSeconds;
    const failed = probe.required ? "fail" : "warn";
    const timeout = AbortSignal.timeout(seconds * 1000);
    try {
      const response = await httpRequest(probe.url, { method: "GET", signal: AbortSignal.any([signal, timeout]), maxBodyBytes: OUTPUT_LIMIT * 4 });
      const output = outputOf(`GET ${probe.url}: ${response.status} ${response.statusText}${response.body ? `\n${response.body}` : ""}`);
      const ok = response.status >= 200 && response.status < 300;
      return { name: probe.name, status: ok ? "pass" : failed, output };
    } catch (error) {
      signal.throwIfAborted();
      const why = timeout.aborted ? `timed out after ${seconds} s` : describeNetworkError(error);
      return { name: probe.name, status: failed, output: `GET ${probe.url}: ${why}` };
    }
  }
}

/** Executable regular files in `dir`, by name; none when the folder does not exist. */
async function executablesIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const executable: string[] = [];
  for (const name of names) {
    const info = await stat(path.join(dir, name));
    if (info.isFile() && (info.mode & 0o111) !== 0) executable.push(name);
  }
  return executable;
}

function outputOf(text: string): string | null {
  const trimmed = text.trim();
  return trimmed ? clipEnd(trimmed) : null;
}

/** The end of a long output, where scripts say why they failed. */
function clipEnd(text: string): string {
  return text.length <= OUTPUT_LIMIT ? text : `…${text.slice(text.length - OUTPUT_LIMIT + 1)}`;
}

function failureOutput(error: unknown): string {
  if (!(error instanceof CommandError)) return clip(errorMessage(error), OUTPUT_LIMIT);
  const output = (error.stdout + error.stderr).trim();
  return clipEnd(output ? `${output}\n(${error.reason})` : error.reason);
}

