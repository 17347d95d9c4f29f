// Who takes part in a rollout's ring, and in which wave: pure functions used
// alike by the dry run, the controller and the check-in answer.
import { type Wave, waveOfMachine } from "./plan";
import type { Selector } from "./schemas";

export interface Candidate {
  machineId: string;
  labels: Record<string, string>;
  cohort: number;
  pinned: boolean;
}

export function matches(machine: Pick<Candidate, "machineId" | "labels">, selector: Partial<Selector> | null | undefined) {
  if (!selector) return false;
  if (selector.machineIds?.includes(machine.machineId)) return true;
  const wanted = Object.entries(selector.labels ?? {});
  return wanted.length > 0 && wanted.every(([key, value]) => machine.labels[key] === value);
}

export interface RingMembership {
  forceFirst: Partial<Selector>;
  exclude: Partial<Selector>;
  /** The single first machine(s), once chosen. */
  firstMachineIds: string[];
  waves: Wave[];
}

/** Chosen as the ring's single first machine, or forced into its first wave. */
export function goesFirst(machine: Pick<Candidate, "machineId" | "labels">, ring: RingMembership): boolean {
  return ring.firstMachineIds.includes(machine.machineId) || matches(machine, ring.forceFirst);
}

/** The machine's wave in the ring, or null when it does not take part (pinned or excluded). */
export function waveFor(machine: Candidate, ring: RingMembership): number | null {
  if (machine.pinned || matches(machine, ring.exclude)) return null;
  return waveOfMachine({ cohort: machine.cohort, first: goesFirst(machine, ring) }, ring.waves);
}

/**
 * The single machine that goes first: the lowest cohort among the
 * candidates that take part, preferring machines seen recently (a dark
 * canary would only stall the ring).
 */
export function pickFirstMachine<T extends Candidate & { online: boolean }>(
  candidates: T[],
  ring: Omit<RingMembership, "firstMachineIds">,
): T | null {
  let best: T | null = null;
  for (const c of candidates) {
    if (c.pinned || matches(c, ring.exclude)) continue;
    if (!best || (c.online && !best.online) || (c.online === best.online && c.cohort < best.cohort)) best = c;
  }
  return best;
}
