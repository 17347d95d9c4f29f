// Server time of the console's heaviest reads at N machines: the machines
// page query (with its count) and the dashboard's aggregates, each next to
// the raw SQL of the same query in the same run.
import { cliActor } from "../server/audit/audit";
import { fleetSummary } from "../server/dashboard/dashboard";
import { listMachines } from "../server/machines/machines";
import { addRelease } from "../server/releases/releases";
import { createRing, setRingRelease } from "../server/rings/rings";
import { median, withBenchConsole } from "./support";

/** Each read: warmed up once, then the median of 7. */
const median7 = (fn: () => Promise<unknown>) => median(7, fn, { warmUp: true });

export async function benchPages(options: { machines: number }) {
  return withBenchConsole("pages", {}, async (app) => {
    const db = app.db.prisma;
    await addRelease(db, cliActor, { ref: "exampleos/x86_64/stable", checksum: "a".repeat(64), version: "2026.11.1" });
    const rings = [];
    for (const ring of ["canary", "beta", "stable"]) {
      rings.push((await createRing(db, cliActor, { name: ring, branch: "exampleos/x86_64/stable" })).id);
      await setRingRelease(db, cliActor, { ring, version: "2026.11.1" });
    }
    await app.db.pool.query(
      `INSERT INTO machines (id, machine_id, hostname, backend, agent_version, ring_id, booted_checksum, booted_version,
                             booted_ref, health_status, update_state, last_seen_at, last_seq, updated_at, cohort, deployments, labels)
       SELECT 'm' || g, 'machine-' || md5(g::text), 'kiosk-' || lpad(g::text, 6, '0'), 'sim', '1.0.0',
              ($1::text[])[1 + (g % 10 > 0)::int + (g % 10 > 2)::int],
              md5('v' || (g % 4)), '2026.1' || (g % 4), 'exampleos/x86_64/stable',
              (ARRAY['healthy','healthy','healthy','healthy','healthy','healthy','degraded','unhealthy','unknown','healthy'])[1 + g % 10]::"HealthStatus",
              (ARRAY['idle','idle','succeeded','succeeded','downloading','staged','rebooting','verifying','failed','rolled-back'])[1 + (g / 7) % 10]::"UpdateState",
              now() - (g % 1000) * interval '1 second', 1, now(), random(), '[]'::jsonb,
              jsonb_build_object('site', (ARRAY['ams-1','fra-1','lon-1'])[1 + g % 3])
         FROM generate_series(1, $2) AS g`,
      [rings, options.machines],
    );
    await app.db.pool.query("ANALYZE machines");

    const raw = (sql: string, params: unknown[] = []) => () => app.db.pool.query(sql, params);
    const measured = {
      machinesFirstPage: await median7(() => listMachines(db, { page: 0, pageSize: 50, sort: "hostname" })),
      machinesFirstPageRawSql: await median7(
        raw(`SELECT m.*, r.name FROM machines m LEFT JOIN rings r ON r.id = m.ring_id WHERE m.retired_at IS NULL ORDER BY m.hostname, m.machine_id LIMIT 50;
             SELECT count(*) FROM machines WHERE retired_at IS NULL`),
      ),
      machinesFiltered: await median7(() =>
        listMachines(db, { ring: "stable", health: "unhealthy", sort: "lastSeenAt", dir: "desc", page: 3, pageSize: 50 }),
      ),
      machinesFilteredRawSql: await median7(
        raw(
          `SELECT m.*, r.name FROM machines m JOIN rings r ON r.id = m.ring_id WHERE m.retired_at IS NULL AND r.name = 'stable' AND m.health_status = 'unhealthy'
            ORDER BY m.last_seen_at DESC NULLS FIRST, m.machine_id LIMIT 50 OFFSET 150;
           SELECT count(*) FROM machines m JOIN rings r ON r.id = m.ring_id WHERE m.retired_at IS NULL AND r.name = 'stable' AND m.health_status = 'unhealthy'`,
        ),
      ),
      machinesSearch: await median7(() => listMachines(db, { q: "kiosk-0421", page: 0, pageSize: 50 })),
      machinesSearchRawSql: await median7(
        raw(`SELECT m.* FROM machines m WHERE m.retired_at IS NULL AND (m.hostname ILIKE '%kiosk-0421%' OR m.machine_id ILIKE '%kiosk-0421%')
              ORDER BY m.hostname LIMIT 50;
             SELECT count(*) FROM machines m WHERE m.retired_at IS NULL AND (m.hostname ILIKE '%kiosk-0421%' OR m.machine_id ILIKE '%kiosk-0421%')`),
      ),
      dashboard: await median7(() => fleetSummary(db)),
      dashboardRawSql: await median7(
        raw(`SELECT m.health_status, m.update_state, m.last_seen_at > now() - interval '15 minutes', count(*) FROM machines m
               LEFT JOIN rings r ON r.id = m.ring_id WHERE m.retired_at IS NULL GROUP BY 1, 2, 3;
             SELECT r.name, m.booted_version, count(*) FROM machines m LEFT JOIN rings r ON r.id = m.ring_id
              WHERE m.retired_at IS NULL GROUP BY 1, 2`),
      ),
    };
    const ms = (x: number) => x.toFixed(1).padStart(8);
    console.log(`\nConsole reads at ${options.machines.toLocaleString()} machines (median of 7, same run, same database)`);
    console.log("                                          console ms   raw SQL ms   ratio");
    for (const [label, a, b] of [
      ["machines page, first page + count", measured.machinesFirstPage, measured.machinesFirstPageRawSql],
      ["machines page, ring + health, by last seen", measured.machinesFiltered, measured.machinesFilteredRawSql],
      ["machines page, text search", measured.machinesSearch, measured.machinesSearchRawSql],
      ["dashboard aggregates", measured.dashboard, measured.dashboardRawSql],
    ] as const) {
      console.log(`${label.padEnd(44)}${ms(a)}     ${ms(b)}   ${(a / b).toFixed(2)}`);
    }
    console.log("");
    return Object.fromEntries(Object.entries(measured).map(([k, v]) => [k, Number(v.toFixed(1))]));
  });
}
