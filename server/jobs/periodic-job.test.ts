import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { PeriodicJob } from "./periodic-job";

function capturingLog() {
  const lines: { level: number; msg: string; job?: string; failures?: number }[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

async function until(what: string, check: () => boolean) {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("PeriodicJob", () => {
  it("retries a failing step with backoff, logging the failure once and the recovery once", async () => {
    const { log, lines } = capturingLog();
    let calls = 0;
    const job = new PeriodicJob({
      name: "version snapshot",
      intervalMs: 600_000,
      retryMs: 5,
      log,
      step: async () => {
        calls++;
        if (calls <= 4) throw new Error("Transaction already closed: a 5000 ms timeout was exceeded");
      },
    });
    job.start();
    try {
      // Four failures, then a success: retried well inside the ten-minute interval.
      await until("the step to work again", () => calls >= 5 && job.failing === 0);
      expect(job.steps).toBe(5);
      const warnings = lines.filter((l) => l.level === 40);
      const infos = lines.filter((l) => l.level === 30);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ job: "version snapshot", msg: expect.stringContaining("version snapshot failed") });
      expect(infos).toHaveLength(1);
      expect(infos[0]).toMatchObject({ job: "version snapshot", failures: 4, msg: "version snapshot works again" });
      // Back on its interval: nothing more runs soon.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(calls).toBe(5);
    } finally {
      await job.stop();
    }
  });

  it("backs off by doubling, up to a ceiling, with jitter either side", async () => {
    const { log } = capturingLog();
    const job = new PeriodicJob({ name: "t", intervalMs: 10_000, retryMs: 100, maxRetryMs: 1000, jitter: 0.1, log, step: () => Promise.reject(new Error("down")) });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await job.runNow();
      delays.push(job.nextDelay());
    }
    const expected = [100, 200, 400, 800, 1000, 1000];
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(expected[i] * 0.9);
      expect(delay).toBeLessThanOrEqual(expected[i] * 1.1);
    });
  });

  it("runs one step at a time, and stop() waits for the one under way", async () => {
    const { log } = capturingLog();
    let release!: () => void;
    let running = 0;
    let most = 0;
    const job = new PeriodicJob({
      name: "t",
      intervalMs: 1,
      log,
      step: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        running--;
      },
    });
    job.start();
    await until("a step to start", () => running === 1);
    const joined = job.runNow();
    let stopped = false;
    const stopping = job.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stopped).toBe(false);
    release();
    await stopping;
    await joined;
    expect(stopped).toBe(true);
    expect(most).toBe(1);
    expect(job.steps).toBe(1);
  });
});
