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
    return (await this.count(key)).wait;
  }

  /**
   * Counts one request for `key`: the seconds to wait when over the limit
   * (else null), what is left of it and when it resets, for RateLimit-* headers.
   */
  async count(key: string): Promise<{ wait: number | null; limit: number; remaining: number; resetSeconds: number }> {
    if (!this.limiter) return { wait: null, limit: 0, remaining: 0, resetSeconds: 0 };
    const limit = this.limiter.points;
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
