// A wave's ramp: the machines a wave adds start updating spread over time,
// ORCHARD_WAVE_STARTS a second, in cohort order, instead of all at the next
// check-in. A wave of 90,000 machines would otherwise start as fast as its
// machines check in (100 a second at a 900 s interval), and every machine at
// work asks several check-ins and a reboot slot: more than a console's
// replicas serve. FCOS's update graph ramps a release the same way (a
// rollout's start percentage grows over its duration).
//
// Pure functions, shared by the controller (a machine's dark deadline counts
// from its start) and the answer (desired.ts: not yet started, it is told
// when to ask again). A machine's start time is a function of its cohort and
// of the ramp the controller stored when it opened the wave, so every console
// process gives the same answer without counting anything.

/** Machines one open wave starts a second, across every console process (ORCHARD_WAVE_STARTS). */
export const DEFAULT_WAVE_STARTS = 50;

/** A wave whose machines would all start within this many seconds starts them at once. */
export const MIN_RAMP_SECONDS = 10;

export interface Ramp {
  /** When the first of the wave's new machines starts (moved on by time spent paused). */
  startedAt: Date;
  /** Over how long they start. */
  seconds: number;
  /** The wave's new machines are those with from ≤ cohort < to. */
  from: number;
  to: number;
}

/** Over how many seconds a wave that adds `machines` starts them; 0: at once. */
export function rampSecondsFor(machines: number, startsPerSecond: number): number {
  const seconds = Math.ceil(machines / startsPerSecond);
  return seconds > MIN_RAMP_SECONDS ? seconds : 0;
}

/** How far into the ramp a machine of this cohort starts, 0 to 1. */
export function rampShare(ramp: Pick<Ramp, "from" | "to">, cohort: number): number {
  if (ramp.to <= ramp.from) return 0;
  return Math.min(1, Math.max(0, (cohort - ramp.from) / (ramp.to - ramp.from)));
}

/** When a machine of this cohort may start (the first machines of a ring never wait: they are not in a ramped wave). */
export function startsAt(ramp: Ramp, cohort: number): Date {
  return new Date(ramp.startedAt.getTime() + Math.round(ramp.seconds * 1000 * rampShare(ramp, cohort)));
}
