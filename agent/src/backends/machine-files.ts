// What every backend on a real machine reads the same way: the kernel's boot
// id and /etc/os-release.
import { readFile } from "node:fs/promises";
import type { OsInfo } from "../backend.ts";

export interface MachineFiles {
  bootIdFile: string;
  osReleaseFile: string;
}

export const machineFiles: MachineFiles = {
  bootIdFile: "/proc/sys/kernel/random/boot_id",
  osReleaseFile: "/etc/os-release",
};

export async function readBootId(files: MachineFiles): Promise<string> {
  return (await readFile(files.bootIdFile, "utf8")).trim();
}

export async function readOsInfo(osReleaseFile: string, fallbackVersion: string | null): Promise<OsInfo> {
  const fields = parseOsRelease(await readFile(osReleaseFile, "utf8"));
  return { id: fields.ID, versionId: fields.VERSION_ID ?? fallbackVersion ?? undefined, arch: machineArch() };
}

export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) fields[match[1]] = match[2].replace(/^(["'])(.*)\1$/, "$2");
  }
  return fields;
}

/** The architecture as the OS names it (x86_64, aarch64), not as Node does (x64, arm64). */
export function machineArch(): string {
  const names: Record<string, string> = { x64: "x86_64", arm64: "aarch64", ia32: "i686", ppc64: "ppc64le", s390x: "s390x" };
  return names[process.arch] ?? process.arch;
}
