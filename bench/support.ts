// What the benchmarks share: timing, and a console of its own on a fresh
// PostgreSQL database (TEST_DATABASE_URL's server, default the local one),
// created, migrated, and dropped afterwards. BENCH_KEEP=<seconds> keeps the
// database that long after the run for a look with psql.
import os from "node:os";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { loadConfig } from "../server/config";
import { type RunningConsole, startConsole } from "../server/console";
import { migrate } from "../server/db/migrate";
import { logger } from "../server/logger";

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await fn();
  return [performance.now() - started, result];
}

/** Median time of `times` runs of `fn`, in milliseconds; `warmUp` runs it once first, untimed. */
export async function median(times: number, fn: () => Promise<unknown>, options: { warmUp?: boolean } = {}) {
  if (options.warmUp) await fn();
  const samples: number[] = [];
  for (let i = 0; i < times; i++) samples.push((await timed(fn))[0]);
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** Runs `run` against a console (APIs only, no controller timer) on a database of its own. */
export async function withBenchConsole<T>(
  name: string,
  options: { env?: Record<string, string> },
  run: (app: RunningConsole, databaseUrl: string) => Promise<T>,
): Promise<T> {
  const adminUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
  const database = `orchard_bench_${name}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const log = logger.child({ bench: true });
  log.level = "warn";
  try {
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    await migrate(pool, url.toString());
    await pool.end();
    const app = await startConsole(
      loadConfig({
        PORT: "0",
        HOST: "127.0.0.1",
        DATABASE_URL: url.toString(),
        ORCHARD_DEMO_AGENTS: "0",
        ORCHARD_DATA_DIR: os.tmpdir(),
        ORCHARD_SECRET: "x".repeat(40),
        ORCHARD_ADMIN_PASSWORD: "bench-admin-password",
        NODE_ENV: "test",
        ...options.env,
      }),
      { next: false, log, controller: false },
    );
    try {
      const result = await run(app, url.toString());
      if (process.env.BENCH_KEEP) {
        console.log(`database kept: ${url}`);
        await new Promise((r) => setTimeout(r, Number(process.env.BENCH_KEEP) * 1000));
      }
      return result;
    } finally {
      await app.stop();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  }
}
