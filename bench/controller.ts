// The rollout controller's step over N machines in one ring, next to a plain
// SQL count over the same rows in the same run.
import os from "node:os";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { cliActor } from "../server/audit/audit";
import { OffsetClock } from "../server/clock";
import { loadConfig } from "../server/config";
import { startConsole } from "../server/console";
import { migrate } from "../server/db/migrate";
import { logger } from "../server/logger";
import { addRelease } from "../server/releases/releases";
import { createRing, setRingRelease } from "../server/rings/rings";
import { startRollout } from "../server/rollouts/rollouts";

const A = "a".repeat(64);
const B = "b".repeat(64);

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await fn();
  return [performance.now() - started, result];
}

async function median(times: number, fn: () => Promise<unknown>) {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) samples.push((await timed(fn))[0]);
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

export async function benchController(options: { machines: number }) {
  const adminUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
  const name = `orchard_bench_ctl_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const log = logger.child({ bench: true });
  log.level = "warn";
  try {
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    await migrate(pool, url.toString());
    await pool.end();
    const clock = new OffsetClock();
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
      }),
      { next: false, log, clock, controller: false },
    );
    try {
      const db = app.db.prisma;
      await addRelease(db, cliActor, { ref: "exampleos/x86_64/stable", checksum: B, version: "1" });
      await addRelease(db, cliActor, { ref: "exampleos/x86_64/stable", checksum: A, version: "2" });
      const ring = await createRing(db, cliActor, { name: "big", branch: "exampleos/x86_64/stable" });
      await setRingRelease(db, cliActor, { ring: "big", version: "1" });
      // Machines straight into the table (as enrolled and checked in), cohorts as the migration computes them.
      const [seedMs] = await timed(() =>
        app.db.pool.query(
          `INSERT INTO machines (id, machine_id, hostname, backend, agent_version, ring_id, booted_checksum, booted_version,
                                 booted_ref, health_status, update_state, last_seen_at, last_seq, updated_at, cohort, deployments)
           SELECT 'm' || g, 'bench-' || g, 'bench-' || g, 'sim', '1.0.0', $1, $2, '1', 'exampleos/x86_64/stable',
                  'healthy', 'idle', now(), 1, now(),
                  ('x' || substr(encode(sha256(convert_to(':bench-' || g, 'UTF8')), 'hex'), 1, 13))::bit(52)::bigint::float8 / 4503599627370496,
                  '[]'::jsonb
             FROM generate_series(1, $3) AS g`,
          [ring.id, B, options.machines],
        ),
      );
      await app.db.pool.query("ANALYZE machines");
      const countSql = () => app.db.pool.query("SELECT count(*) FROM machines WHERE ring_id = $1 AND retired_at IS NULL", [ring.id]);
      await countSql();
      const countMs = await median(5, countSql);

      const rollout = await startRollout(db, cliActor, {
        version: "2",
        rings: ["big"],
        waves: [100],
        singleFirst: false,
        soakSeconds: 0,
      });
      const [openMs] = await timed(() => app.controller.stepRollout(rollout.id)); // opens the wave: assigns every machine
      const idleMs = await median(3, () => app.controller.stepRollout(rollout.id)); // tracks them, nothing changed
      // A tenth of the ring reports the release booted and healthy.
      await app.db.pool.query(
        `UPDATE machines SET booted_checksum = $1, update_state = 'succeeded', update_target = $1,
                            state_version = nextval('machine_state_version')
          WHERE ring_id = $2 AND cohort < 0.1`,
        [A, ring.id],
      );
      const [progressMs] = await timed(() => app.controller.stepRollout(rollout.id));
      const table = {
        machines: options.machines,
        seedMs: Math.round(seedMs),
        plainSqlCountMs: Number(countMs.toFixed(1)),
        stepOpeningTheWaveMs: Math.round(openMs),
        stepNothingChangedMs: Math.round(idleMs),
        stepTenPercentSucceededMs: Math.round(progressMs),
        ratioStepToCount: Number((idleMs / countMs).toFixed(1)),
      };
      console.log(`\nController step, one ring of ${options.machines.toLocaleString()} machines (same run, same database)`);
      console.log(`  plain SQL count over the ring's rows           ${table.plainSqlCountMs} ms (baseline)`);
      console.log(`  step that opens the 100 % wave (assigns all)   ${table.stepOpeningTheWaveMs} ms`);
      console.log(`  step with nothing changed (tracks all)         ${table.stepNothingChangedMs} ms  (${table.ratioStepToCount}× the count)`);
      console.log(`  step after 10 % reported success               ${table.stepTenPercentSucceededMs} ms\n`);
      if (process.env.BENCH_KEEP) {
        console.log(`database kept: ${url}`);
        await new Promise((r) => setTimeout(r, Number(process.env.BENCH_KEEP) * 1000));
      }
      return table;
    } finally {
      await app.stop();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}
