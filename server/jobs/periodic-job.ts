// The one way the console runs work on a timer (version snapshots, the
// rollout controller, the last-seen flush, pruning, webhook deliveries,
// release source polls, sweeps). A step runs at most once at a time; the next
// is scheduled when it ends, an interval later with a little jitter (so that
// several console processes started together drift apart). A step that fails
// is retried sooner, with a backoff that doubles up to a ceiling, and its
// failure is logged once — with the error — until it works again, which is
// logged once too: a database that is away for an hour costs two log lines,
// not eighteen hundred. stop() waits for a step under way.
//
// Background work runs on the console's connections, never on the agent
// protocol's (server/db/client.ts): `backgroundConnections` is what a job is
// given, so that no snapshot, sweep or prune can keep a check-in waiting.
import type { Connections, Database } from "../db/client";
import type { Logger } from "../logger";

export interface PeriodicJobOptions {
  /** What the log calls it: "version snapshot", "pruning". */
  name: string;
  intervalMs: number;
  /** The step; its result is ignored, its failure retried. */
  step: () => Promise<unknown>;
  log: Logger;
  /** Run a step at start (default true) rather than an interval after it. */
  runAtStart?: boolean;
  /** Spread of each wait, as a fraction of it either way (default 0.1). */
  jitter?: number;
  /** The first retry's delay (default: the interval, at most 1 s); it doubles with each failure. */
  retryMs?: number;
  /** The longest wait between retries (default: the interval, at least 30 s). */
  maxRetryMs?: number;
}

/** The connections a background job uses: the console's, never the agent protocol's. */
export function backgroundConnections(db: Database): Connections {
  return { prisma: db.prisma, pool: db.pool };
}

export class PeriodicJob {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private started = false;
  private failures = 0;
  private firstFailureAt = 0;
  /** Steps that ended, worked or not (tests wait on it). */
  steps = 0;

  constructor(private readonly options: PeriodicJobOptions) {}

  /** Failures in a row since the last step that worked. */
  get failing(): number {
    return this.failures;
  }

  start() {
    if (this.started) return;
    this.started = true;
    this.schedule(this.options.runAtStart === false ? this.options.intervalMs : 0);
  }

  /**
   * Runs a step now, or joins the one under way; resolves when it has ended
   * (a failure is handled here as on the timer: logged once, not thrown).
   */
  runNow(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop() {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** How long after a step to run the next: the interval, or the backoff after a failure. */
  nextDelay(): number {
    const { intervalMs } = this.options;
    if (this.failures === 0) return this.jittered(intervalMs);
    const first = this.options.retryMs ?? Math.min(intervalMs, 1000);
    const ceiling = this.options.maxRetryMs ?? Math.max(intervalMs, 30_000);
    return this.jittered(Math.min(ceiling, first * 2 ** Math.min(this.failures - 1, 30)));
  }

  private jittered(ms: number) {
    const spread = this.options.jitter ?? 0.1;
    return Math.max(0, Math.round(ms * (1 + spread * (2 * Math.random() - 1))));
  }

  private schedule(ms: number) {
    if (!this.started) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runNow().then(() => this.schedule(this.nextDelay()));
    }, ms);
    this.timer.unref();
  }

  private async run() {
    const { name, log } = this.options;
    try {
      await this.options.step();
      if (this.failures > 0) {
        log.info({ job: name, failures: this.failures, failingForMs: Date.now() - this.firstFailureAt }, `${name} works again`);
      }
      this.failures = 0;
    } catch (error) {
      if (this.failures === 0) {
        this.firstFailureAt = Date.now();
        log.warn({ err: error, job: name }, `${name} failed; retrying with backoff (logged again when it works)`);
      }
      this.failures++;
    } finally {
      this.steps++;
    }
  }
}
