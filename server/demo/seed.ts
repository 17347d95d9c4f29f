// The demo fleet's world: one branch, two releases and three rings, created
// on a database that has no rings yet. The demo machines boot the older
// release from the factory; canary and beta are set to the newer one, so the
// first minutes of `npm start` show real updates going through.
import { createHash } from "node:crypto";
import { type Actor, systemActor } from "../audit/audit";
import type { PrismaClient } from "../db/client";
import { addRelease } from "../releases/releases";
import { createRing, setRingRelease } from "../rings/rings";

export const DEMO_BRANCH = "exampleos/x86_64/stable";

export function demoChecksum(version: string) {
  return createHash("sha256").update(`exampleos ${version}`).digest("hex");
}

export const DEMO_FACTORY = {
  ref: DEMO_BRANCH,
  version: "2026.10.3",
  checksum: demoChecksum("2026.10.3"),
};

export const DEMO_RINGS = [
  { name: "canary", share: 0.1, slots: 1, release: "2026.11.1" },
  { name: "beta", share: 0.3, slots: 3, release: "2026.11.1" },
  { name: "stable", share: 0.6, slots: 5, release: "2026.10.3" },
] as const;

/** Seeds the demo rings and releases when no ring exists; true when it did. */
export async function seedDemo(db: PrismaClient, intervalSeconds: number, actor: Actor = systemActor) {
  if ((await db.ring.count()) > 0) return false;
  await addRelease(db, actor, { ...DEMO_FACTORY, notes: "Factory image of the demo fleet." });
  await addRelease(db, actor, {
    ref: DEMO_BRANCH,
    version: "2026.11.1",
    checksum: demoChecksum("2026.11.1"),
    notes: "November update: kernel 6.12, new kiosk browser.",
  });
  for (const ring of DEMO_RINGS) {
    await createRing(db, actor, {
      name: ring.name,
      branch: DEMO_BRANCH,
      rebootSlots: ring.slots,
      checkInIntervalSeconds: intervalSeconds,
    });
    await setRingRelease(db, actor, { ring: ring.name, version: ring.release, reason: "demo fleet" });
  }
  return true;
}

/** How many of `total` demo agents go to each ring (every ring gets at least one when it can). */
export function demoSplit(total: number): number[] {
  const counts = DEMO_RINGS.map((r) => Math.floor(total * r.share));
  for (let i = 0; i < counts.length && counts.reduce((a, b) => a + b, 0) < total; i++) {
    if (counts[i] === 0) counts[i] = 1;
  }
  counts[counts.length - 1] += total - counts.reduce((a, b) => a + b, 0);
  return counts;
}
