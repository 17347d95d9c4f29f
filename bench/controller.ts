// The rollout controller's step over N machines in one ring, next to a plain
// SQL count over the same rows in the same run: the step that opens a first
// wave of a tenth of the ring, steps with nothing changed, the step after
// that wave reported success (a long soak keeps the second wave shut); then,
// the soak cut short, the step that opens the rest of the ring and steps with
// nothing changed over every machine.
import { cliActor } from "../server/audit/audit";
import { addRelease } from "../server/releases/releases";
import { createRing, setRingRelease } from "../server/rings/rings";
import { startRollout } from "../server/rollouts/rollouts";
import { median, timed, withBenchConsole } from "./support";

const A = "a".repeat(64);
const B = "b".repeat(64);

export async function benchController(options: { machines: number }) {
  return withBenchConsole("ctl", {}, async (app) => {
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
      waves: [10, 100],
      singleFirst: false,
      soakSeconds: 3600,
    });
    const [openMs] = await timed(() => app.controller.stepRollout(rollout.id)); // opens the first wave: assigns a tenth
    const waveSize = Number((await app.db.pool.query("SELECT count(*) FROM rollout_machines WHERE rollout_id = $1", [rollout.id])).rows[0].count);
    const idleMs = await median(5, () => app.controller.stepRollout(rollout.id)); // tracks them, nothing changed
    // The first wave (a tenth of the ring) reports the release booted and healthy.
    await app.db.pool.query(
      `UPDATE machines SET booted_checksum = $1, update_state = 'succeeded', update_target = $1,
                          state_version = nextval('machine_state_version')
        WHERE ring_id = $2 AND cohort < 0.1`,
      [A, ring.id],
    );
    const [progressMs] = await timed(() => app.controller.stepRollout(rollout.id));
    const idleAfterMs = await median(5, () => app.controller.stepRollout(rollout.id));
    // The soak cut short: the next step opens the last wave (the rest of the ring), then every machine is in the rollout.
    await app.db.pool.query("UPDATE rollout_rings SET soak_seconds = 0 WHERE rollout_id = $1", [rollout.id]);
    const [openAllMs] = await timed(() => app.controller.stepRollout(rollout.id));
    const allMachines = Number((await app.db.pool.query("SELECT count(*) FROM rollout_machines WHERE rollout_id = $1", [rollout.id])).rows[0].count);
    const idleAllMs = await median(5, () => app.controller.stepRollout(rollout.id));
    const table = {
      machines: options.machines,
      seedMs: Math.round(seedMs),
      plainSqlCountMs: Number(countMs.toFixed(1)),
      waveMachines: waveSize,
      stepOpeningTheWaveMs: Math.round(openMs),
      stepNothingChangedMs: Math.round(idleMs),
      stepTenPercentSucceededMs: Math.round(progressMs),
      stepNothingChangedAfterMs: Math.round(idleAfterMs),
      allMachines,
      stepOpeningTheRestMs: Math.round(openAllMs),
      stepNothingChangedAllMs: Math.round(idleAllMs),
      ratioStepToCount: Number((idleMs / countMs).toFixed(1)),
      ratioStepAllToCount: Number((idleAllMs / countMs).toFixed(1)),
    };
    console.log(`\nController step, one ring of ${options.machines.toLocaleString()} machines (same run, same database)`);
    const line = (label: string, ms: number, note = "") => console.log(`  ${label.padEnd(62)} ${ms} ms${note}`);
    line("plain SQL count over the ring's rows", table.plainSqlCountMs, " (baseline)");
    line(`step that opens the 10 % wave (assigns ${waveSize.toLocaleString()})`, table.stepOpeningTheWaveMs);
    line("step with nothing changed (median of 5)", table.stepNothingChangedMs, `  (${table.ratioStepToCount}× the count)`);
    line("step after the 10 % wave reported success", table.stepTenPercentSucceededMs);
    line("step with nothing changed after it (median of 5)", table.stepNothingChangedAfterMs);
    line(`step that opens the last wave (${allMachines.toLocaleString()} machines in all)`, table.stepOpeningTheRestMs);
    line("step with nothing changed, all in the rollout (median of 5)", table.stepNothingChangedAllMs, `  (${table.ratioStepAllToCount}× the count)\n`);
    return table;
  });
}
