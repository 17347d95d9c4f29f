// Request limits, kept in the console process's memory (so with several
// console processes each allows the limit: set them per process). A limit
// of 0 turns it off.
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";

export class Limit {
  private readonly limiter: RateLimiterMemory | null;

  /** `points` requests per `durationSeconds` per key. */
  constructor(points: number, durationSeconds: number) {
    this.limiter = points > 0 ? new RateLimiterMemory({ points, duration: durationSeconds }) : null;
  }

  /** Counts one request for `key`; returns the seconds to wait when over the limit, else null. */
  async take(key: string): Promise<number | null> {
    if (!this.limiter) return null;
    try {
      await this.limiter.consume(key);
      return null;
    } catch (error) {
      if (error instanceof RateLimiterRes) return Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw error;
    }
  }
}

/**
 * Failed sign-ins per account, with backoff: after `free` failures each
 * further one locks the account for twice as long as the last (from 2 s up
 * to 15 minutes). A success clears it.
 */
export class SignInBackoff {
  private readonly failures = new Map<string, { count: number; lockedUntil: number }>();

  constructor(private readonly free: number) {}

  /** Seconds the account is still locked, or null. */
  lockedFor(account: string, now = Date.now()): number | null {
    const entry = this.failures.get(account);
    if (!entry || entry.lockedUntil <= now) return null;
    return Math.ceil((entry.lockedUntil - now) / 1000);
  }

  fail(account: string, now = Date.now()) {
    const entry = this.failures.get(account) ?? { count: 0, lockedUntil: 0 };
    entry.count++;
    if (entry.count > this.free) {
      const seconds = Math.min(15 * 60, 2 ** (entry.count - this.free));
      entry.lockedUntil = now + seconds * 1000;
    }
    this.failures.set(account, entry);
    if (this.failures.size > 100_000) this.failures.delete(this.failures.keys().next().value as string);
  }

  succeed(account: string) {
    this.failures.delete(account);
  }
}
