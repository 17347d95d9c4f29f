// Which deployment a sysroot in a folder "booted". ostree marks the booted
// deployment only on the machine that booted it; for a test sysroot the agent
// keeps the boot here instead: a boot id and the deployment, moved to the
// default deployment whenever the reboot marker is found at start.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { z } from "zod";
import { clearRebootMarker } from "../reboot.ts";
import { readJsonFile, writeFileAtomic } from "../store.ts";
import type { OstreeDeployment } from "./ostree-status.ts";

const bootSchema = z.object({ bootId: z.string(), deployment: z.string() });
export type SimulatedBootRecord = z.infer<typeof bootSchema>;

/** A deployment's name in the record: `osname checksum.serial`, as ostree admin status shows it. */
export function deploymentKey(d: Pick<OstreeDeployment, "osname" | "checksum" | "serial">): string {
  return `${d.osname} ${d.checksum}.${d.serial}`;
}

/**
 * The current simulated boot. A first start, or a start after a reboot
 * marker, boots the default (first) deployment with a new boot id; the
 * record is written before the marker goes, so a crash in between only
 * boots once more.
 */
export async function simulatedBoot(
  file: string,
  markerFile: string,
  deployments: OstreeDeployment[],
): Promise<SimulatedBootRecord | null> {
  const existing = await readJsonFile(file, bootSchema);
  if (existing && !existsSync(markerFile)) return existing;
  if (deployments.length === 0) return null;
  const record = { bootId: randomUUID(), deployment: deploymentKey(deployments[0]) };
  await writeFileAtomic(file, `${JSON.stringify(record)}\n`);
  await clearRebootMarker(markerFile);
  return record;
}
