// The machines list's total: exact from the kept counts for filters on ring,
// health, update state and version (in the caller's rings); counted up to
// TOTAL_CAP for any other filter, the answer saying it is not exact; every
// match counted when the caller asks (exactTotal), through tRPC and the REST
// API alike. Cursor pages walk past the cap.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { listMachines } from "../../server/machines/machines";
import { TOTAL_CAP } from "../../server/machines/schemas";
import { createRing } from "../../server/rings/rings";
import { startTestConsole, type TestConsole } from "../helpers/console";

const REF = "exampleos/x86_64/stable";
const MANY = TOTAL_CAP + 37;
let app: TestConsole;

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false, prune: false });
  const canary = await createRing(app.db.prisma, cliActor, { name: "canary", branch: REF });
  const stable = await createRing(app.db.prisma, cliActor, { name: "stable", branch: REF });
  // Machine g in canary when g % 10 = 0; a site label on every other one; unhealthy every fourth.
  await app.db.pool.query(
    `INSERT INTO machines (id, machine_id, hostname, backend, agent_version, ring_id, booted_version, health_status,
                           update_state, last_seen_at, updated_at, labels)
     SELECT 'cap-' || g, 'cap-' || lpad(g::text, 6, '0'), 'host-' || lpad(g::text, 6, '0'), 'sim', '1.0.0',
            CASE WHEN g % 10 = 0 THEN $1 ELSE $2 END, '1',
            CASE WHEN g % 4 = 0 THEN 'unhealthy' ELSE 'healthy' END::"HealthStatus", 'idle', now(), now(),
            jsonb_build_object('site', CASE WHEN g % 2 = 0 THEN 'ams-1' ELSE 'fra-1' END)
       FROM generate_series(1, $3) AS g`,
    [canary.id, stable.id, MANY],
  );
});

afterAll(async () => {
  await app?.stop();
});

describe("the machines list's total", () => {
  it("is exact, from the kept counts, for ring, health, update state and version, within the caller's rings", async () => {
    const db = app.db.prisma;
    expect(await listMachines(db, { pageSize: 10 })).toMatchObject({ total: MANY, totalExact: true });
    expect(await listMachines(db, { ring: "canary", health: "unhealthy" })).toMatchObject({
      total: await db.machine.count({ where: { ring: { name: "canary" }, healthStatus: "unhealthy" } }),
      totalExact: true,
    });
    expect(await listMachines(db, { version: "1", updateState: "idle" })).toMatchObject({ total: MANY, totalExact: true });
    expect(await listMachines(db, { version: "2" })).toMatchObject({ total: 0, totalExact: true, rows: [] });
    // A caller of canary only: its machines, and none of a ring outside it.
    const canary = await db.machine.count({ where: { ring: { name: "canary" } } });
    expect(await listMachines(db, {}, app.clock, ["canary"])).toMatchObject({ total: canary, totalExact: true });
    expect(await listMachines(db, { ring: "stable" }, app.clock, ["canary"])).toMatchObject({ total: 0, totalExact: true });
  });

  it("is counted up to the cap for other filters, and past it on request", async () => {
    const db = app.db.prisma;
    const capped = await listMachines(db, { q: "host-", pageSize: 50 });
    expect(capped).toMatchObject({ total: TOTAL_CAP, totalExact: false });
    expect(capped.rows).toHaveLength(50);
    expect(await listMachines(db, { q: "host-", exactTotal: true, pageSize: 1 })).toMatchObject({ total: MANY, totalExact: true });
    // Under the cap: exact without asking.
    const ams = await listMachines(db, { label: "site=ams-1", ring: "canary", pageSize: 1 });
    expect(ams).toMatchObject({ total: Math.floor(MANY / 10), totalExact: true });
    expect(await listMachines(db, { q: "host-00001", pageSize: 1 })).toMatchObject({ total: 10, totalExact: true });
  });

  it("comes the same way through the REST API, and cursor pages walk every match past the cap", async () => {
    const { token } = await createApiToken(app.db.prisma, cliActor, { name: "totals", role: "viewer" });
    const get = async (query: string) => {
      const res = await fetch(`${app.url}/api/v1/machines?${query}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as { total: number; totalExact: boolean; rows: { machineId: string }[]; nextCursor: string | null };
    };
    expect(await get("label=site%3Dfra-1&pageSize=1")).toMatchObject({ total: Math.ceil(MANY / 2), totalExact: true });
    expect(await get("q=host-&pageSize=1")).toMatchObject({ total: TOTAL_CAP, totalExact: false });
    expect(await get("q=host-&pageSize=1&exactTotal=true")).toMatchObject({ total: MANY, totalExact: true });
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page = await get(`q=host-&pageSize=200&sort=hostname${cursor ? `&cursor=${cursor}` : ""}`);
      for (const row of page.rows) seen.add(row.machineId);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.size).toBe(MANY);
  });
});
