// Stable cohorts: a hash of the machine id (and the ring's seed) places each
// machine at a fixed point of [0, 1). A wave of p % takes the machines below
// p / 100, so the same machines go first in every rollout of a ring until an
// operator reshuffles (changes the seed). The migration that introduced it
// computes the same value in SQL: keep the two in step.
import { createHash } from "node:crypto";

export function cohortOf(machineId: string, seed = ""): number {
  const digest = createHash("sha256").update(`${seed}:${machineId}`).digest();
  // 52 bits fit a double exactly.
  const high = digest.readUInt32BE(0);
  const low = digest.readUInt32BE(4) >>> 12;
  return (high * 2 ** 20 + low) / 2 ** 52;
}
