// Waiting, jitter and backoff: every delay the agent takes goes through here.
import { setTimeout as delay } from "node:timers/promises";

export type Random = () => number;

/** Sleeps `seconds`; rejects with the abort reason when `signal` aborts. */
export function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  return delay(Math.max(0, seconds * 1000), undefined, { signal });
}

/** `seconds` ± `fraction`, so that a fleet started together drifts apart. */
export function jittered(seconds: number, random: Random, fraction = 0.1): number {
  return seconds * (1 - fraction + 2 * fraction * random());
}

/**
 * Exponential backoff with full jitter: a random delay between 0 and
 * min(cap, base × 2^attempt). `attempt` counts from 0 for the first retry.
 */
export function backoffSeconds(attempt: number, baseSeconds: number, capSeconds: number, random: Random): number {
  const ceiling = Math.min(capSeconds, baseSeconds * 2 ** Math.min(attempt, 30));
  return random() * ceiling;
}

/**
 * A sleep that `wake()` can cut short (an update state changed: check in at
 * once) but never earlier than a floor set after a failure (backoff,
 * Retry-After), so that a state change cannot hammer a console that is down.
 */
export class Waker {
  private wakeUp: (() => void) | null = null;
  private woken = false;

  wake() {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Forgets earlier wake-ups: called as a check-in starts, since it reports everything up to now. */
  clear() {
    this.woken = false;
  }

  /** Waits `seconds`, or until woken when `wakeable`; rejects when `signal` aborts. */
  async wait(seconds: number, wakeable: boolean, signal: AbortSignal): Promise<void> {
    if (!wakeable) return sleep(seconds, signal);
    if (this.woken) return;
    const timer = new AbortController();
    const onAbort = () => timer.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.wakeUp = onAbort;
    try {
      await sleep(seconds, timer.signal).catch(() => signal.throwIfAborted());
    } finally {
      this.wakeUp = null;
      signal.removeEventListener("abort", onAbort);
    }
  }
}
