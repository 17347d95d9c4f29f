// Request limits, kept in the console process's memory (so with several
// console processes each allows the limit: set them per process). A limit
// of 0 turns it off.
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";

export class Limit {
  private readonly limiter: RateLimiterMemory | BurstyRateLimiter | null;
  /** The steady limit, for RateLimit-Limit. */
  private readonly points: number;

  /**
   * `points` requests per `durationSeconds` per key; with `burst`, a request
   * over that takes one of the burst's points instead (its own window) before
   * it is refused, so that a short burst passes and a steady rate does not.
   */
  constructor(points: number, durationSeconds: number, burst?: { points: number; durationSeconds: number }) {
    this.points = points;
    if (points <= 0) this.limiter = null;
    else {
      const steady = new RateLimiterMemory({ points, duration: durationSeconds });
      this.limiter = burst && burst.points > 0 ? new BurstyRateLimiter(steady, new RateLimiterMemory({ points: burst.points, duration: burst.durationSeconds })) : steady;
    }
  }

  /** `perSecond` requests per second per key, and ten seconds' worth more per minute for a burst. */
  static perSecondWithBurst(perSecond: number): Limit {
    return new Limit(perSecond, 1, { points: perSecond * 10, durationSeconds: 60 });
  }

  /** Counts one request for `key`; returns the seconds to wait when over the limit, else null. */
  async take(key: string): Promise<number | null> {
    return (await this.count(key)).wait;
  }

  /**
   * Counts one request for `key`: the seconds to wait when over the limit
   * (else null), what is left of it and when it resets, for RateLimit-* headers.
   */
  async count(key: string): Promise<{ wait: number | null; limit: number; remaining: number; resetSeconds: number }> {
    if (!this.limiter) return { wait: null, limit: 0, remaining: 0, resetSeconds: 0 };
    const limit = this.points;
    try {
      const res = await this.limiter.consume(key);
      return { wait: null, limit, remaining: res.remainingPoints, resetSeconds: Math.ceil(res.msBeforeNext / 1000) };
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        const wait = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
        return { wait, limit, remaining: 0, resetSeconds: wait };
      }
      throw error;
    }
  }

  /** Whether the limit is on (a limit of 0 is off). */
  get enabled(): boolean {
    return this.limiter !== null;
  }
}
