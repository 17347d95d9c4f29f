// A wave's ramp: the machines a wave adds start updating spread over time,
// ORCHARD_WAVE_STARTS a second, in cohort order, instead of all at the next
// check-in. A wave of 90,000 machines would otherwise start as fast as its
// machines check in (100 a second at a 900 s interval), and every machine at
// work asks several check-ins and a reboot slot: more than a console's
// replicas serve. FCOS's update graph ramps a release the same way (a
// rollout's start percentage grows over its duration).
//
// The ramp's clock also stands still while the ring has ORCHARD_WAVE_AT_WORK
// machines at work (downloading, staged, rebooting, verifying): starting
// faster than machines finish would only pile them up, each checking in
// every busy interval, until the consoles are swamped (docs/scaling.md,
// runs 5 and 6). The controller holds the wave when the ring reaches that
// many and lets it go on when half are left, so the wave goes as fast as its
// machines finish, and no faster than ORCHARD_WAVE_STARTS. A held wave starts
// no machine that has not begun, whether its turn has come or not: a turn
// comes on the clock, but a machine takes it only at its next check-in, up to
// a whole interval later, so a wave whose turns have all come (a ramp shorter
// than the interval, or one that has ended) would otherwise start machines as
// fast as they check in (run 8). While held, the waiting machines are told to
// come back at their turn at the soonest, and no sooner than the wave's
// stretched interval (desired.ts): a hold keeps within the wave's check-ins.
//
// Pure functions, shared by the controller (a machine's dark deadline counts
// from its start) and the answer (desired.ts: not yet started, it is told
// when to ask again). A machine's start time is a function of its cohort and
// of the ramp the controller stored, so every console process gives the same
// answer without counting anything.

/** Machines one open wave starts a second, across every console process (ORCHARD_WAVE_STARTS). */
export const DEFAULT_WAVE_STARTS = 50;

/** A wave whose machines would all start within this many seconds starts them at once. */
export const MIN_RAMP_SECONDS = 10;

/** Machines of a ring at work at once at which its wave's ramp stands still (ORCHARD_WAVE_AT_WORK). */
export const DEFAULT_WAVE_AT_WORK = 1000;

export interface Ramp {
  /** When the first of the wave's new machines starts (moved on by time spent paused). */
  startedAt: Date;
  /** Over how long they start. */
  seconds: number;
  /** The wave's new machines are those with from ≤ cohort < to. */
  from: number;
  to: number;
  /** Held since then: too many of the ring's machines are at work. */
  heldAt?: Date | null;
}

/** The ramp a ring's row stores, for its open wave; null: its machines all start at once. */
export function rampOf(
  stored: { startedAt: Date | null; seconds: number; heldAt: Date | null },
  waves: readonly { threshold: number }[],
  openWave: number,
): Ramp | null {
  if (!stored.startedAt || stored.seconds <= 0) return null;
  return {
    startedAt: stored.startedAt,
    seconds: stored.seconds,
    from: waves[openWave - 1]?.threshold ?? 0,
    to: waves[openWave]?.threshold ?? 1,
    heldAt: stored.heldAt,
  };
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

/** When, on the ramp's clock, a machine of this cohort starts. */
export function startsAt(ramp: Ramp, cohort: number): Date {
  return new Date(ramp.startedAt.getTime() + Math.round(ramp.seconds * 1000 * rampShare(ramp, cohort)));
}

/**
 * When a machine of this cohort starts, or started: while the ramp is held,
 * a turn after the hold is at the soonest as far from now as it was from the
 * hold's start, and one that came before it is at the soonest now (and a machine
 * that has not begun waits for the hold's end, whatever its turn).
 */
export function turnAt(ramp: Ramp, cohort: number, now: Date): Date {
  const at = startsAt(ramp, cohort);
  if (!ramp.heldAt) return at;
  const from = Math.max(now.getTime(), ramp.heldAt.getTime());
  return new Date(at > ramp.heldAt ? from + (at.getTime() - ramp.heldAt.getTime()) : from);
}

/** How long until a machine of this cohort starts, from `now` (0: it has). */
export function untilTurn(ramp: Ramp, cohort: number, now: Date): number {
  return Math.max(0, turnAt(ramp, cohort, now).getTime() - now.getTime());
}

/** Held at `atWork` machines at work, or let go on at half as many: the ramp's next hold, or undefined to leave it be. */
export function nextHold(heldAt: Date | null, atWork: number, limit: number, now: Date): Date | null | undefined {
  if (!heldAt && atWork >= limit) return now;
  if (heldAt && atWork <= limit / 2) return null;
  return undefined;
}
