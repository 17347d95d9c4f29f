// Zincati nodes against a real console on real PostgreSQL, spoken to the way
// Zincati speaks (test/helpers/zincati-client.ts, after coreos/zincati's
// sources and docs/development/{cincinnati,fleetlock}/protocol.md): the whole
// FleetLock cycle on the agent's reboot slots, a node before, during and after
// its wave in a three-ring rollout, bad input named with its kind, and the
// enrollment token in the URL never in a log line.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { createEnrollmentToken, revokeEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { allowReenroll, retireMachine } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { forceReleaseLease } from "../../server/rings/leases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { getRollout, pauseRollout, resumeRollout, revertRollout, startRollout } from "../../server/rollouts/rollouts";
import { call, enrollBody, hex } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { ZincatiClient } from "../helpers/zincati-client";

const REF = "fedora/x86_64/coreos/stable";
const R1 = hex("1");
const R2 = hex("2");
const lines: string[] = [];
const tokens: string[] = [];
let app: TestConsole;
let nodes = 0;

beforeAll(async () => {
  // Every line the console writes, at debug (every request), to look for tokens in.
  const log = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
  app = await startTestConsole({}, { controller: false, log });
  await addRelease(app.db.prisma, cliActor, { ref: REF, checksum: R1, version: "41.20261101.3.0" });
  await addRelease(app.db.prisma, cliActor, { ref: REF, checksum: R2, version: "41.20261115.3.0" });
});

afterAll(async () => {
  await app?.stop();
});

const db = () => app.db.prisma;

async function ring(name: string, policy: Record<string, unknown> = {}) {
  await createRing(db(), cliActor, { name, branch: REF, ...policy });
  await setRingRelease(db(), cliActor, { ring: name, version: "41.20261101.3.0" });
  const token = await enrollmentToken(app, { ring: name });
  tokens.push(token);
  return `${app.url}/api/zincati/${token}/`;
}

/** A fresh node booted on R1. */
function node(base: string, extra: { group?: string; allowDowngrade?: boolean } = {}) {
  nodes++;
  const nodeUuid = (nodes.toString(16) + "e0f3745b108f471cbd4883c6fbed8cdd").slice(0, 32);
  return new ZincatiClient(base, { nodeUuid, group: extra.group, rolloutWariness: 0.5, booted: { checksum: R1, version: "41.20261101.3.0" } }, { allowDowngrade: extra.allowDowngrade });
}

const machine = (id: string) =>
  db().machine.findUniqueOrThrow({
    where: { machineId: id },
    select: { backend: true, ringId: true, labels: true, bootedChecksum: true, bootedVersion: true, updateState: true, updateTarget: true, updateError: true, healthStatus: true, lastSeenAt: true },
  });
const stepOf = async (id: string) => (await db().rolloutMachine.findFirst({ where: { machine: { machineId: id } }, orderBy: { assignedAt: "desc" }, select: { step: true } }))?.step;

/** What Zincati would stage from its graph now. */
async function offered(z: ZincatiClient) {
  const graph = await z.fetchGraph();
  if (!graph.ok) throw new Error(`graph refused: ${graph.kind}: ${graph.value}`);
  return z.nextUpdate(graph.body);
}

/** Zincati's whole update: graph, stage, lock, reboot, steady state, graph again. */
async function update(z: ZincatiClient) {
  const next = await offered(z);
  if (!next) throw new Error("no update offered");
  const lock = await z.preReboot();
  if (!lock.ok) throw new Error(`lock refused: ${lock.kind}`);
  z.boot(next);
  expect((await z.steadyState()).ok).toBe(true);
  expect(await offered(z)).toBeNull();
}

describe("a node is a machine", () => {
  it("enrolls at its first request (steady-state at start), in the token's ring, counted, audited, labelled with its group", async () => {
    const base = await ring("zin-enroll", { failureDomainLabel: "group" });
    const z = node(base, { group: "workers" });
    const unlock = await z.steadyState();
    expect(unlock).toMatchObject({ ok: true, status: 200 });
    const m = await machine(z.identity.nodeUuid);
    expect(m).toMatchObject({ backend: "zincati", labels: { group: "workers" }, healthStatus: "unknown" });
    expect(await db().auditLog.count({ where: { action: "machine.enroll", targetId: z.identity.nodeUuid } })).toBe(1);

    // Its graph request is its check-in: booted deployment and version, update state, stream and platform.
    expect(await offered(z)).toBeNull(); // the ring runs what it booted
    expect(await machine(z.identity.nodeUuid)).toMatchObject({ bootedChecksum: R1, bootedVersion: "41.20261101.3.0", updateState: "idle" });
    expect(await db().auditLog.count({ where: { action: "machine.enroll", targetId: z.identity.nodeUuid } })).toBe(1);
    // The console counts its check-ins for it (the seq the timeline counts by): two graph requests, seq 0 and 1.
    await offered(z);
    await app.agents.flushLastSeen();
    expect(Number((await db().machine.findUniqueOrThrow({ where: { machineId: z.identity.nodeUuid }, select: { lastSeq: true } })).lastSeq)).toBe(1);
  });

  it("counts a use of the token: a used-up token enrolls no new node but serves the one it enrolled; a revoked one serves none", async () => {
    await createRing(db(), cliActor, { name: "zin-uses", branch: REF });
    const created = await createEnrollmentToken(db(), cliActor, { name: "zincati", ring: "zin-uses", maxUses: 1 });
    tokens.push(created.token);
    const base = `${app.url}/api/zincati/${created.token}/`;
    const first = node(base);
    expect((await first.fetchGraph()).ok).toBe(true);
    const second = await node(base).fetchGraph();
    expect(second).toMatchObject({ ok: false, status: 401, kind: "unknown_token" });
    expect((await first.fetchGraph()).ok).toBe(true);
    await revokeEnrollmentToken(db(), cliActor, created.record.id);
    expect(await first.fetchGraph()).toMatchObject({ ok: false, status: 401, kind: "unknown_token" });
  });

  it("refuses a retired node (410 machine_retired) until an operator allows it back", async () => {
    const base = await ring("zin-retire");
    const z = node(base);
    expect((await z.fetchGraph()).ok).toBe(true);
    await retireMachine(db(), cliActor, { machineId: z.identity.nodeUuid });
    expect(await z.fetchGraph()).toMatchObject({ ok: false, status: 410, kind: "machine_retired" });
    expect(await z.preReboot()).toMatchObject({ ok: false, status: 410, kind: "machine_retired" });
    await allowReenroll(db(), cliActor, { machineId: z.identity.nodeUuid, reason: "re-imaged" });
    expect((await z.fetchGraph()).ok).toBe(true);
  });

  it("never speaks for a machine our agent updates (403 forbidden)", async () => {
    await ring("zin-agent");
    const token = await enrollmentToken(app, { ring: "zin-agent" });
    tokens.push(token);
    const id = "aaaabbbbccccdddd0000111122223333";
    expect((await call(app.url, "POST", "/enroll", { token, body: enrollBody(id) })).status).toBe(201);
    const z = new ZincatiClient(`${app.url}/api/zincati/${token}/`, { nodeUuid: id, booted: { checksum: R1, version: "1" } });
    expect(await z.fetchGraph()).toMatchObject({ ok: false, status: 403, kind: "forbidden" });
  });
});

describe("FleetLock on the ring's reboot slots", () => {
  it("runs the whole lock cycle: granted, full, recursive, only the owner unlocks, lease expiry, force-free", async () => {
    const base = await ring("zin-lock", { rebootSlots: 1, rebootLeaseSeconds: 60 });
    const [a, b] = [node(base), node(base)];
    for (const z of [a, b]) expect((await z.steadyState()).ok).toBe(true);
    // Nothing to reboot for: no update was given.
    expect(await a.preReboot()).toMatchObject({ ok: false, status: 409, kind: "reboot_not_wanted" });

    const rollout = await startRollout(db(), cliActor, { version: "41.20261115.3.0", rings: ["zin-lock"], singleFirst: false, waves: [100], soakSeconds: 0, minSample: 1, maxFailureRate: 0.5, darkAfterSeconds: 3600 }, app.clock);
    await app.controller.stepRollout(rollout.id);
    for (const z of [a, b]) expect((await offered(z))?.payload).toBe(R2);
    expect(await machine(a.identity.nodeUuid)).toMatchObject({ updateState: "downloading", updateTarget: R2 });

    expect(await a.preReboot()).toMatchObject({ ok: true, status: 200 });
    expect(await machine(a.identity.nodeUuid)).toMatchObject({ updateState: "rebooting", updateTarget: R2 });
    expect(await a.preReboot()).toMatchObject({ ok: true, status: 200 }); // recursive
    const full = await b.preReboot();
    expect(full).toMatchObject({ ok: false, status: 409, kind: "failed_lock_semaphore_full" });
    expect(await machine(b.identity.nodeUuid)).toMatchObject({ updateState: "staged", updateTarget: R2 });

    // Only the owner unlocks: b's steady-state answers 200 and frees nothing.
    expect((await b.steadyState()).ok).toBe(true);
    expect((await b.preReboot()).ok).toBe(false);
    expect((await a.steadyState()).ok).toBe(true);
    expect(await b.preReboot()).toMatchObject({ ok: true, status: 200 });

    // A lease not given back is freed at its expiry (the test clock).
    expect((await a.preReboot()).ok).toBe(false);
    app.clock.advance(61_000);
    expect(await a.preReboot()).toMatchObject({ ok: true, status: 200 });

    // An operator frees it by force: it stays free of that node for this update.
    await forceReleaseLease(db(), cliActor, { machineId: a.identity.nodeUuid, reason: "stuck" });
    expect(await a.preReboot()).toMatchObject({ ok: false, status: 409, kind: "reboot_not_wanted" });
    expect(await b.preReboot()).toMatchObject({ ok: true, status: 200 });
    await db().rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });

  it("counts slots per Zincati group when the ring's failure domain is the group label", async () => {
    const base = await ring("zin-groups", { rebootSlots: 1, failureDomainLabel: "group" });
    const [a1, a2, b1] = [node(base, { group: "rack-a" }), node(base, { group: "rack-a" }), node(base, { group: "rack-b" })];
    const rollout = await startRollout(db(), cliActor, { version: "41.20261115.3.0", rings: ["zin-groups"], singleFirst: false, waves: [100], soakSeconds: 0, minSample: 1, maxFailureRate: 0.5, darkAfterSeconds: 3600 }, app.clock);
    await app.controller.stepRollout(rollout.id);
    for (const z of [a1, a2, b1]) expect((await offered(z))?.payload).toBe(R2);
    expect((await a1.preReboot()).ok).toBe(true);
    expect(await a2.preReboot()).toMatchObject({ ok: false, kind: "failed_lock_semaphore_full" });
    expect((await b1.preReboot()).ok).toBe(true);
    await db().rollout.update({ where: { id: rollout.id }, data: { state: "aborted" } });
  });
});

describe("a node before, during and after its wave", () => {
  it("gets no edge before its ring's wave opens nor while paused, an edge once open, counts booted when it reports the target, and the rollout completes with the dark deadline rule", async () => {
    const canaryBase = await ring("zin-canary");
    const betaBase = await ring("zin-beta");
    const prodBase = await ring("zin-prod");
    const canary = node(canaryBase);
    const beta = node(betaBase);
    const [prod, silent] = [node(prodBase), node(prodBase)];
    for (const z of [canary, beta, prod, silent]) expect(await offered(z)).toBeNull();

    const rollout = await startRollout(
      db(),
      cliActor,
      { version: "41.20261115.3.0", rings: ["zin-canary", "zin-beta", "zin-prod"], singleFirst: false, waves: [100], soakSeconds: 0, minSample: 1, maxFailureRate: 0.5, darkAfterSeconds: 1800 },
      app.clock,
    );
    const step = () => app.controller.stepRollout(rollout.id);
    await step();
    // Before its wave: only the canary's is open.
    expect((await offered(canary))?.payload).toBe(R2);
    expect(await offered(beta)).toBeNull();
    expect(await offered(prod)).toBeNull();

    // The canary reports the target booted: a success (Zincati reports no health), and the next ring opens.
    await update(canary);
    expect(await machine(canary.identity.nodeUuid)).toMatchObject({ bootedChecksum: R2, updateState: "idle", healthStatus: "unknown" });
    await step();
    expect(await stepOf(canary.identity.nodeUuid)).toBe("succeeded");
    await step();

    // During its wave: an edge; paused: none (it had not started), resumed: the edge again.
    expect((await offered(beta))?.payload).toBe(R2);
    await db().machine.update({ where: { machineId: beta.identity.nodeUuid }, data: { updateState: "idle", updateTarget: null } });
    await pauseRollout(db(), cliActor, { rolloutId: rollout.id, reason: "looking" }, app.clock);
    expect(await offered(beta)).toBeNull();
    // Paused after it staged: no edge either, and the lock says why.
    await resumeRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
    expect((await offered(beta))?.payload).toBe(R2);
    await pauseRollout(db(), cliActor, { rolloutId: rollout.id, reason: "looking again" }, app.clock);
    expect(await offered(beta)).toBeNull();
    expect(await beta.preReboot()).toMatchObject({ ok: false, status: 409, kind: "rollout_held" });
    await resumeRollout(db(), cliActor, { rolloutId: rollout.id }, app.clock);
    await update(beta);
    await step();
    expect(await stepOf(beta.identity.nodeUuid)).toBe("succeeded");
    await step();

    // The last ring: one node updates, the other never does and goes dark at the deadline; 1 of 2 failed is within 50 %.
    expect((await offered(silent))?.payload).toBe(R2);
    await update(prod);
    await step();
    expect(await stepOf(prod.identity.nodeUuid)).toBe("succeeded");
    expect(await stepOf(silent.identity.nodeUuid)).toBe("downloading");
    expect((await getRollout(db(), rollout.id, app.clock)).state).toBe("running");
    app.clock.advance(1801_000);
    await step();
    expect(await stepOf(silent.identity.nodeUuid)).toBe("dark");
    await step();
    expect((await getRollout(db(), rollout.id, app.clock)).state).toBe("completed");

    // After its wave: nothing more to do.
    expect(await offered(prod)).toBeNull();

    // A revert is a downgrade for Zincati: the edge is there, Zincati takes it only with allow_downgrade, and the console says so.
    await revertRollout(db(), cliActor, { rolloutId: rollout.id, ring: "zin-prod" }, app.clock);
    const graph = await prod.fetchGraph();
    expect(graph.ok && graph.body.edges).toEqual([[0, 1]]);
    expect(graph.ok && prod.nextUpdate(graph.body)).toBeNull();
    const willing = new ZincatiClient(prod.baseUrl, prod.identity, { allowDowngrade: true });
    expect(graph.ok && willing.nextUpdate(graph.body)?.payload).toBe(R1);
    expect((await machine(prod.identity.nodeUuid)).updateError).toMatch(/allow_downgrade = true/);
  });
});

describe("bad input is named, with its kind, never a 500", () => {
  it("answers 400 bad_request naming the field, and 401/404 for a bad token or route", async () => {
    const base = await ring("zin-bad");
    const z = node(base);
    const post = (path: string, init: RequestInit) => fetch(new URL(path, base), { method: "POST", ...init }).then(async (r) => ({ status: r.status, body: (await r.json()) as { kind: string; value: string } }));
    const cases: [Promise<{ status: number; body: { kind: string; value: string } }>, number, string, RegExp][] = [
      [post("v1/pre-reboot", { body: z.fleetLockBody() }), 400, "bad_request", /^fleet-lock-protocol: /],
      [post("v1/pre-reboot", { headers: { "fleet-lock-protocol": "false" }, body: z.fleetLockBody() }), 400, "bad_request", /^fleet-lock-protocol: /],
      [post("v1/pre-reboot", { headers: { "fleet-lock-protocol": "true" }, body: "{" }), 400, "bad_request", /^body: /],
      [post("v1/steady-state", { headers: { "fleet-lock-protocol": "true" }, body: "{}" }), 400, "bad_request", /^client_params: required/],
      [post("v1/steady-state", { headers: { "fleet-lock-protocol": "true" }, body: JSON.stringify({ client_params: { id: "n1" } }) }), 400, "bad_request", /^client_params\.group: required/],
      [post("v1/steady-state", { headers: { "fleet-lock-protocol": "true" }, body: JSON.stringify({ client_params: { id: "n1", group: "a b" } }) }), 400, "bad_request", /^client_params\.group: /],
      [post("v1/steady-state", { headers: { "fleet-lock-protocol": "true" }, body: "x".repeat(10_000) }), 413, "bad_request", /^body: over/],
      [post("v1/nope", { headers: { "fleet-lock-protocol": "true" }, body: z.fleetLockBody() }), 404, "not_found", /no route/],
    ];
    const graph = (mutate: (params: URLSearchParams) => void) => {
      const url = z.graphUrl();
      mutate(url.searchParams);
      return fetch(url, { headers: { accept: "application/json" } }).then(async (r) => ({ status: r.status, body: (await r.json()) as { kind: string; value: string } }));
    };
    cases.push(
      [graph((p) => p.delete("os_checksum")), 400, "bad_request", /^os_checksum: required/],
      [graph((p) => p.set("os_checksum", "abc")), 400, "bad_request", /^os_checksum: /],
      [graph((p) => p.delete("node_uuid")), 400, "bad_request", /^node_uuid: required/],
      [graph((p) => p.delete("stream")), 400, "bad_request", /^stream: required/],
      [graph((p) => p.set("rollout_wariness", "2.5")), 400, "bad_request", /^rollout_wariness: /],
      [graph((p) => p.set("oci", "true")), 400, "bad_request", /^oci: /],
    );
    for (const [answer, status, kind, value] of cases) {
      const { status: got, body } = await answer;
      expect({ got, kind: body.kind }).toEqual({ got: status, kind });
      expect(body.value).toMatch(value);
    }
    // base_url without its trailing slash: URL joining drops the token.
    const noSlash = new ZincatiClient(base.slice(0, -1), z.identity);
    expect(await noSlash.fetchGraph()).toMatchObject({ ok: false, status: 400, kind: "bad_request", value: expect.stringMatching(/^base_url: must end in a slash/) });
    expect(await new ZincatiClient(`${app.url}/api/zincati/orch_e_nope/`, z.identity).fetchGraph()).toMatchObject({ ok: false, status: 401, kind: "unknown_token" });
    expect(await new ZincatiClient(`${app.url}/api/zincati/${"%41".repeat(3)}/`, z.identity).preReboot()).toMatchObject({ ok: false, status: 401, kind: "unknown_token" });
  });
});

describe("the token in the URL", () => {
  it("appears in no log line: paths are logged with it cut out", async () => {
    expect(tokens.length).toBeGreaterThan(3);
    const zincatiLines = lines.filter((l) => l.includes("/api/zincati/"));
    expect(zincatiLines.length).toBeGreaterThan(20);
    for (const token of tokens) expect(lines.filter((l) => l.includes(token))).toEqual([]);
    expect(zincatiLines.every((l) => l.includes("/api/zincati/…/"))).toBe(true);
  });
});
