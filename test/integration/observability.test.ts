// What operators read: the dashboard's counts (checked against the database
// itself), a machine's timeline, the rollout's A/B comparison, version
// history snapshots and the audit log's CSV export.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { fleetSummary, versionHistory } from "../../server/dashboard/dashboard";
import { takeSnapshot } from "../../server/dashboard/snapshots";
import { machineTimeline } from "../../server/machines/timeline";
import { listReleasesPage } from "../../server/releases/releases";
import { healthComparison } from "../../server/rollouts/comparison";
import { pinMachine } from "../../server/rollouts/machine-actions";
import { startRollout } from "../../server/rollouts/rollouts";
import { call, hex, ProtocolMachines, type ReportOptions } from "../helpers/agent-http";
import { enrollmentToken, ringsOnRelease1, startTestConsole, type TestConsole } from "../helpers/console";
import { signedInCookie } from "../helpers/sessions";

const REF = "exampleos/x86_64/stable";
const SECRET = "o".repeat(40);
let app: TestConsole;
let machines: ProtocolMachines;
const report = (machineId: string, options: ReportOptions) => machines.report(machineId, options);

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_SECRET: SECRET });
  machines = new ProtocolMachines(app.url);
  await ringsOnRelease1(app, REF, ["canary", "stable"]);
  for (const [ring, count] of [["canary", 4], ["stable", 6]] as const) {
    const token = await enrollmentToken(app, { ring });
    for (let i = 0; i < count; i++) {
      const id = `${ring}-${i}`;
      await machines.enroll(id, token);
      await report(id, { booted: hex("1"), version: "1" });
    }
  }
  // A varied fleet: one rolled back, one unhealthy, one stuck downloading, one on the new release.
  await report("canary-0", { booted: hex("2"), version: "2", state: "succeeded", target: hex("2") });
  await report("canary-1", { booted: hex("1"), version: "1", state: "rolled-back", target: hex("2"), error: "kiosk-app.service failed" });
  await report("stable-0", { booted: hex("1"), version: "1", health: "unhealthy" });
  await report("stable-1", { booted: hex("1"), version: "1", state: "downloading", target: hex("2") });
  await app.agents.flushLastSeen();
});

afterAll(async () => {
  await app?.stop();
});

describe("dashboard", () => {
  it("counts machines by health, update state and liveness exactly as the database has them", async () => {
    const summary = await fleetSummary(app.db.prisma, app.clock);
    const db = app.db.prisma;
    expect(summary.total).toBe(await db.machine.count({ where: { retiredAt: null } }));
    for (const health of ["healthy", "degraded", "unhealthy", "unknown"] as const) {
      expect(summary.byHealth[health], health).toBe(await db.machine.count({ where: { healthStatus: health } }));
    }
    expect(summary.byUpdateState).toMatchObject({ succeeded: 1, rolled_back: 1, downloading: 1, idle: 7 });
    expect(summary.online).toBe(10);
    // Three intervals (300 s) of silence later, every machine is offline.
    app.clock.advance(901_000);
    expect((await fleetSummary(app.db.prisma, app.clock)).offline).toBe(10);
    app.clock.advance(-901_000);
    expect(summary.versionsByRing).toEqual([
      { ring: "canary", versions: { "1": 3, "2": 1 }, total: 4, online: 4 },
      { ring: "stable", versions: { "1": 6 }, total: 6, online: 6 },
    ]);
  });

  it("lists what needs attention: rolled back, failing checks, stuck in one step", async () => {
    app.clock.advance(31 * 60_000);
    const { attention } = await fleetSummary(app.db.prisma, app.clock);
    app.clock.advance(-31 * 60_000);
    expect(attention.rolledBack.map((m) => m.machineId)).toEqual(["canary-1"]);
    expect(attention.rolledBack[0].detail).toMatch(/kiosk-app/);
    expect(attention.failing).toMatchObject([{ machineId: "stable-0", detail: "kiosk-app.service" }]);
    expect(attention.stuck).toMatchObject([{ machineId: "stable-1", detail: "downloading" }]);
    expect(attention.stuckCount).toBe(1);
    expect(attention.failed).toEqual([]);
  });

  it("keeps version snapshots for the history chart", async () => {
    expect(await takeSnapshot(app.db.prisma, app.clock.now(), 60_000)).toBe(true);
    expect(await takeSnapshot(app.db.prisma, app.clock.now(), 60_000)).toBe(false); // too soon
    const history = await versionHistory(app.db.prisma, { hours: 1 }, app.clock);
    expect(history.points).toHaveLength(1);
    expect(history.points[0]).toMatchObject({ "1": 9, "2": 1 });
    expect((await versionHistory(app.db.prisma, { hours: 1, ring: "canary" }, app.clock)).points[0]).toMatchObject({ "1": 3, "2": 1 });
  });
});

describe("releases page", () => {
  it("says where each release runs: rings that have it as current, and machines that booted it", async () => {
    const page = await listReleasesPage(app.db.prisma, {});
    const byVersion = new Map(page.rows.map((r) => [r.version, r]));
    expect(byVersion.get("1")?.bootedMachines).toBe(9);
    expect(byVersion.get("2")?.bootedMachines).toBe(1);
    expect(byVersion.get("1")?.currentFor.map((r) => r.name).sort()).toEqual(["canary", "stable"]);
  });
});

describe("machine timeline", () => {
  it("merges state changes, agent events, rollout steps and operator actions, newest first", async () => {
    await call(app.url, "POST", "/events", {
      token: machines.tokens.get("canary-1"),
      body: { events: [{ id: "e1", at: new Date().toISOString(), type: "rollback.performed", detail: "back to 1" }] },
    });
    await pinMachine(app.db.prisma, cliActor, { machineId: "canary-1", version: "1", reason: "investigate" });
    const timeline = await machineTimeline(app.db.prisma, { machineId: "canary-1" });
    const kinds = timeline.items.map((i) => `${i.source}:${i.kind}`);
    expect(kinds).toContain("state:update");
    expect(kinds).toContain("event:rollback.performed");
    expect(kinds[0]).toBe("operator:machine.pin");
    const update = timeline.items.find((i) => i.source === "state" && i.kind === "update");
    expect(update).toMatchObject({ before: "idle", after: "rolled-back", detail: "kiosk-app.service failed" });
    expect(timeline.checkins.count).toBe(2);
    const times = timeline.items.map((i) => i.at.getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});

describe("rollout comparison", () => {
  it("sets the machines on the new release beside those on the old one", async () => {
    const rollout = await startRollout(app.db.prisma, cliActor, { version: "2", rings: ["stable"], waves: [100], singleFirst: false });
    await app.controller.stepRollout(rollout.id);
    await report("stable-2", { booted: hex("2"), version: "2", state: "succeeded", target: hex("2"), bootId: "stable-2-after-the-reboot" });
    await report("stable-3", { booted: hex("1"), version: "1", state: "rolled-back", target: hex("2"), error: "boom" });
    await app.controller.stepRollout(rollout.id);
    const [stable] = await healthComparison(app.db.prisma, rollout.id);
    expect(stable.newRelease).toMatchObject({ machines: 1, healthy: 1 });
    expect(stable.oldRelease).toMatchObject({ machines: 5, unhealthy: 1 });
    expect(stable.rollout).toMatchObject({ rolledBack: 1, finished: 2, rollbackRate: 0.5 });
  });
});

describe("audit export", () => {
  it("streams the filtered audit log as CSV to signed-in users only", async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const { cookie } = await signedInCookie(app.db, admin.id, SECRET);
    expect((await fetch(`${app.url}/api/export/audit.csv`)).status).toBe(401);
    const res = await fetch(`${app.url}/api/export/audit.csv?action=machine.pin`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/csv/);
    const lines = (await res.text()).trim().split("\r\n");
    expect(lines[0]).toBe("at,actor,action,target_type,target_id,reason,before,after");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/"cli","machine.pin","machine","canary-1","investigate"/);
    const bad = await fetch(`${app.url}/api/export/audit.csv?from=yesterday`, { headers: { cookie } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/from: expected a date/);
    // Text and times the database cannot take: a 400 naming the field, before any CSV header.
    for (const [query, field] of [
      ["actor=ops%00x", "actor"],
      ["targetId=%00", "targetId"],
      ["from=0000-01-01T00:00:00Z", "from"],
      ["to=99999-01-01", "to"],
      ["from=2026-02-01&to=2026-01-01", "to"],
    ]) {
      const refused = await fetch(`${app.url}/api/export/audit.csv?${query}`, { headers: { cookie } });
      expect(refused.status, query).toBe(400);
      expect(refused.headers.get("content-type"), query).toMatch(/text\/plain/);
      expect(await refused.text(), query).toMatch(new RegExp(`^${field}: `));
    }
  });
});
