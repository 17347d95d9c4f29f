// Agent protocol v1 over HTTP against a running console on real PostgreSQL:
// every status and error code of the spec, the seq rule, event
// de-duplication, the body limit, reboot slots and their expiry.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { createEnrollmentToken, revokeEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { MAX_EVENTS_PER_MACHINE } from "../../server/agents/agent-service";
import { allowReenroll, retireMachine } from "../../server/machines/machines";
import { enrollProof, generateMachineKey } from "../../agent/src/identity";
import { databaseFingerprint } from "../helpers/db-fingerprint";
import { forceReleaseLease } from "../../server/rings/leases";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease, updateRingPolicy } from "../../server/rings/rings";
import { call, checkinBody, enrollBody, hex } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";

let app: TestConsole;
let url: string;
const REF = "exampleos/x86_64/stable";

beforeAll(async () => {
  app = await startTestConsole();
  url = app.url;
  const db = app.db.prisma;
  await createRing(db, cliActor, { name: "canary", branch: REF });
  await createRing(db, cliActor, { name: "stable", branch: REF });
  await addRelease(db, cliActor, { ref: REF, checksum: hex("a"), version: "2026.11.1" });
  await setRingRelease(db, cliActor, { ring: "canary", version: "2026.11.1" });
});

afterAll(async () => {
  await app?.stop();
});

async function enrolled(machineId: string, ring = "canary") {
  const token = await enrollmentToken(app, { ring });
  const res = await call<{ token: string }>(url, "POST", "/enroll", { token, body: enrollBody(machineId) });
  expect(res.status).toBe(201);
  return res.body.token;
}

async function tokenWithLabels(ring: string, labels: Record<string, string>) {
  return (await createEnrollmentToken(app.db.prisma, cliActor, { name: "labelled", ring, labels })).token;
}

function expectError(res: { status: number; body: unknown }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
}

describe("enroll", () => {
  it("creates a machine (201), then re-enrolls it (200) with its key's proof and retires the old token", async () => {
    const token = await enrollmentToken(app, { ring: "stable", maxUses: 2 });
    const key = generateMachineKey();
    const first = await call<{ token: string; ring: string; machineId: string; checkInIntervalSeconds: number }>(
      url, "POST", "/enroll", { token, body: enrollBody("enroll-1", { labels: { site: "ams-1" }, publicKey: key.publicKey }) });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ machineId: "enroll-1", ring: "stable", checkInIntervalSeconds: 300 });
    expect(first.body.token).toMatch(/^orch_m_/);

    const proof = enrollProof(key, "enroll-1", app.clock.now());
    const second = await call<{ token: string }>(url, "POST", "/enroll", { token, body: enrollBody("enroll-1", { publicKey: key.publicKey, proof }) });
    expect(second.status).toBe(200);
    expectError(await call(url, "POST", "/checkin", { token: first.body.token, body: checkinBody(1) }), 401, "unauthorized");
    expect((await call(url, "POST", "/checkin", { token: second.body.token, body: checkinBody(1) })).status).toBe(200);

    // The token had two uses.
    expectError(await call(url, "POST", "/enroll", { token, body: enrollBody("enroll-2") }), 401, "unauthorized");
    const stored = await app.db.prisma.machineToken.findMany({ where: { machine: { machineId: "enroll-1" } } });
    expect(stored.every((t) => !t.tokenHash.includes(first.body.token) && t.tokenHash.length === 64)).toBe(true);
  });

  it("never lets an enrollment token alone take over a machine that exists: a proof by its key, or an operator's re-image", async () => {
    await createRing(app.db.prisma, cliActor, { name: "elsewhere", branch: REF });
    const key = generateMachineKey();
    const ownToken = await enrollmentToken(app, { ring: "stable" });
    const first = await call<{ token: string }>(url, "POST", "/enroll", { token: ownToken, body: enrollBody("victim-1", { labels: { team: "a" }, publicKey: key.publicKey }) });
    expect(first.status).toBe(201);
    const thief = await enrollmentToken(app, { ring: "elsewhere" });
    const before = await databaseFingerprint(app.db.pool);
    const stranger = generateMachineKey();
    for (const [body, why] of [
      [enrollBody("victim-1", { hostname: "thief", labels: { team: "b" } }), /needs proof by its key/],
      [enrollBody("victim-1", { hostname: "thief", publicKey: stranger.publicKey, proof: enrollProof(stranger, "victim-1", app.clock.now()) }), /does not verify/],
      [enrollBody("victim-1", { proof: enrollProof(key, "victim-1", new Date(app.clock.now().getTime() - 3600_000)) }), /ten minutes/],
      [enrollBody("victim-1", { proof: enrollProof(key, "another-id", app.clock.now()) }), /does not verify/],
    ] as const) {
      const refused = await call<{ error: { message: string } }>(url, "POST", "/enroll", { token: thief, body });
      expectError(refused, 403, "forbidden");
      expect(refused.body.error.message).toMatch(why);
    }
    // Nothing changed: not its ring, its name, its labels, its token.
    expect(await databaseFingerprint(app.db.pool)).toBe(before);
    expect((await call(url, "POST", "/checkin", { token: first.body.token, body: checkinBody(1) })).status).toBe(200);

    // A machine enrolled before machines had keys cannot be taken either; it registers one at check-in.
    const old = await call<{ token: string }>(url, "POST", "/enroll", { token: ownToken, body: enrollBody("keyless-1") });
    expectError(await call(url, "POST", "/enroll", { token: thief, body: enrollBody("keyless-1") }), 403, "forbidden");
    const later = generateMachineKey();
    const bad = await call<{ error: { message: string } }>(url, "POST", "/checkin", { token: old.body.token, body: { ...checkinBody(1), publicKey: "bm90IGEga2V5" } });
    expectError(bad, 400, "invalid_request");
    expect(bad.body.error.message).toMatch(/^publicKey: /);
    expect((await call(url, "POST", "/checkin", { token: old.body.token, body: { ...checkinBody(1), publicKey: later.publicKey } })).status).toBe(200);
    expect((await call(url, "POST", "/checkin", { token: old.body.token, body: { ...checkinBody(2), publicKey: stranger.publicKey } })).status).toBe(200);
    const again = await call(url, "POST", "/enroll", { token: ownToken, body: enrollBody("keyless-1", { proof: enrollProof(later, "keyless-1", app.clock.now()) }) });
    expect(again.status).toBe(200); // the first key it registered, not one sent later

    // A retired machine stays retired: 410, unless an operator allows it back (a re-image: a new key, no proof).
    await retireMachine(app.db.prisma, cliActor, { machineId: "victim-1" });
    expectError(await call(url, "POST", "/enroll", { token: ownToken, body: enrollBody("victim-1", { proof: enrollProof(key, "victim-1", app.clock.now()) }) }), 410, "machine_retired");
    await allowReenroll(app.db.prisma, cliActor, { machineId: "victim-1", reason: "re-imaged" }, app.clock);
    const reimaged = generateMachineKey();
    const back = await call(url, "POST", "/enroll", { token: ownToken, body: enrollBody("victim-1", { publicKey: reimaged.publicKey }) });
    expect(back.status).toBe(200);
    const machine = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "victim-1" } });
    expect(machine).toMatchObject({ retiredAt: null, publicKey: reimaged.publicKey, reenrollAllowedUntil: null });
    // The allowance is used up: the old key no longer proves it, the new one does.
    expectError(await call(url, "POST", "/enroll", { token: ownToken, body: enrollBody("victim-1", { proof: enrollProof(key, "victim-1", app.clock.now()) }) }), 403, "forbidden");
    expect((await call(url, "POST", "/enroll", { token: ownToken, body: enrollBody("victim-1", { proof: enrollProof(reimaged, "victim-1", app.clock.now()) }) })).status).toBe(200);
  });

  it("counts a token's uses exactly when many machines enroll with it at once", async () => {
    const token = await enrollmentToken(app, { ring: "stable", maxUses: 7 });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(url, "POST", "/enroll", { token, body: enrollBody(`burst-${i}`) })),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(7);
    for (const a of answers.filter((x) => x.status !== 201)) expectError(a, 401, "unauthorized");
    expect(await app.db.prisma.machine.count({ where: { machineId: { startsWith: "burst-" } } })).toBe(7);
    const record = await app.db.prisma.enrollmentToken.findFirstOrThrow({ where: { maxUses: 7 } });
    expect(record.uses).toBe(7);
  });

  it("answers 401 for missing, unknown, expired and revoked tokens", async () => {
    expectError(await call(url, "POST", "/enroll", { body: enrollBody("x") }), 401, "unauthorized");
    expectError(await call(url, "POST", "/enroll", { token: "orch_e_nope", body: enrollBody("x") }), 401, "unauthorized");

    const expiring = await enrollmentToken(app, { expiresInSeconds: 60 });
    app.clock.advance(61_000);
    expectError(await call(url, "POST", "/enroll", { token: expiring, body: enrollBody("x") }), 401, "unauthorized");

    const token = await enrollmentToken(app);
    const record = await app.db.prisma.enrollmentToken.findFirstOrThrow({ orderBy: { createdAt: "desc" } });
    await revokeEnrollmentToken(app.db.prisma, cliActor, record.id);
    expectError(await call(url, "POST", "/enroll", { token, body: enrollBody("x") }), 401, "unauthorized");
  });

  it("answers 403 for a machine token and 400 naming the bad field", async () => {
    const machineToken = await enrolled("enroll-3");
    expectError(await call(url, "POST", "/enroll", { token: machineToken, body: {} }), 403, "forbidden");
    const token = await enrollmentToken(app);
    const bad = await call<{ error: { message: string } }>(url, "POST", "/enroll", {
      token,
      body: enrollBody("has space"),
    });
    expectError(bad, 400, "invalid_request");
    expect(bad.body.error.message).toMatch(/^machineId: /);
    const badBackend = await call<{ error: { message: string } }>(url, "POST", "/enroll", {
      token,
      body: enrollBody("ok-id", { backend: "windows" }),
    });
    expect(badBackend.body.error.message).toMatch(/^backend: /);
    // A rejected request used nothing up and created nothing.
    expect(await app.db.prisma.machine.count({ where: { machineId: "ok-id" } })).toBe(0);
  });
});

describe("check-in", () => {
  it("answers the ring's release as the desired state", async () => {
    const token = await enrolled("checkin-1");
    const res = await call(url, "POST", "/checkin", { token, body: checkinBody(1) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      action: "update",
      desired: { ref: REF, checksum: hex("a"), version: "2026.11.1", reason: expect.stringContaining("canary") },
    });
    expect(Number.isNaN(Date.parse(res.body.serverTime as string))).toBe(false);
    // Asking twice gives the same answer.
    const again = await call(url, "POST", "/checkin", { token, body: checkinBody(2) });
    expect({ ...again.body, serverTime: 0 }).toEqual({ ...res.body, serverTime: 0 });

    const there = await call(url, "POST", "/checkin", { token, body: checkinBody(3, { booted: hex("a") }) });
    expect(there.body).toMatchObject({ action: "none", desired: { checksum: hex("a") } });
  });

  it("answers action none and desired null when the ring has no release", async () => {
    const token = await enrolled("checkin-2", "stable");
    const res = await call(url, "POST", "/checkin", { token, body: checkinBody(1) });
    expect(res.body).toMatchObject({ action: "none", desired: null, checkInIntervalSeconds: 300 });
  });

  it("applies state only for a higher seq; older or repeated seqs change nothing", async () => {
    const token = await enrolled("checkin-3");
    const read = () =>
      app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "checkin-3" }, select: { healthStatus: true, lastSeq: true, updateState: true } });
    expect((await call(url, "POST", "/checkin", { token, body: checkinBody(5, { health: "degraded" }) })).status).toBe(200);
    expect(await read()).toMatchObject({ healthStatus: "degraded", lastSeq: 5n });
    // Older and repeated seqs: 200, current desired state, no change.
    const older = await call(url, "POST", "/checkin", { token, body: checkinBody(4, { health: "unhealthy" }) });
    expect(older.status).toBe(200);
    expect(older.body).toMatchObject({ action: "update" });
    expect((await call(url, "POST", "/checkin", { token, body: checkinBody(5, { health: "unhealthy" }) })).status).toBe(200);
    expect(await read()).toMatchObject({ healthStatus: "degraded", lastSeq: 5n });
    await call(url, "POST", "/checkin", { token, body: checkinBody(6, { health: "unhealthy", state: "downloading" }) });
    expect(await read()).toMatchObject({ healthStatus: "unhealthy", updateState: "downloading", lastSeq: 6n });
  });

  it("starts a new seq count when the machine enrolls again (an agent that lost its state)", async () => {
    const token = await enrolled("checkin-reset");
    await call(url, "POST", "/checkin", { token, body: checkinBody(40, { health: "degraded" }) });
    // Its state (and key) gone, it enrolls again once an operator allows it: a re-image.
    await allowReenroll(app.db.prisma, cliActor, { machineId: "checkin-reset" }, app.clock);
    const again = await call<{ token: string }>(url, "POST", "/enroll", {
      token: await enrollmentToken(app),
      body: enrollBody("checkin-reset"),
    });
    await call(url, "POST", "/checkin", { token: again.body.token, body: checkinBody(1, { health: "healthy" }) });
    const m = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "checkin-reset" } });
    expect(m).toMatchObject({ healthStatus: "healthy", lastSeq: 1n });
  });

  it("writes nothing for an unchanged check-in until the last-seen flush", async () => {
    const token = await enrolled("checkin-4");
    await call(url, "POST", "/checkin", { token, body: checkinBody(1) });
    const before = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "checkin-4" } });
    app.clock.advance(5000);
    await call(url, "POST", "/checkin", { token, body: checkinBody(2) });
    const unflushed = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "checkin-4" } });
    expect(unflushed.updatedAt).toEqual(before.updatedAt);
    expect(unflushed.lastSeenAt).toEqual(before.lastSeenAt);
    await app.agents.flushLastSeen();
    const flushed = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "checkin-4" } });
    expect(flushed.lastSeq).toBe(2n);
    expect(flushed.lastSeenAt!.getTime()).toBeGreaterThan(before.lastSeenAt!.getTime());
    expect(flushed.updatedAt).toEqual(before.updatedAt);
    // The flush records the machine token's last use too.
    const tokenRow = await app.db.prisma.machineToken.findFirstOrThrow({ where: { machine: { machineId: "checkin-4" }, revokedAt: null } });
    expect(tokenRow.lastUsedAt?.getTime()).toBe(flushed.lastSeenAt!.getTime());
  });

  it("rejects bad bodies with 400 naming the first bad field, and changes nothing", async () => {
    const token = await enrolled("checkin-5");
    await call(url, "POST", "/checkin", { token, body: checkinBody(1) });
    const body = checkinBody(2, { health: "unhealthy" });
    body.deployments[0].checksum = "abc";
    const res = await call<{ error: { message: string } }>(url, "POST", "/checkin", { token, body });
    expectError(res, 400, "invalid_request");
    expect(res.body.error.message).toBe("deployments[0].checksum: expected 64 hex characters");
    const two = checkinBody(2);
    two.deployments.push({ ...two.deployments[0], checksum: hex("c") });
    const twice = await call<{ error: { message: string } }>(url, "POST", "/checkin", { token, body: two });
    expect(twice.body.error.message).toMatch(/^deployments: exactly one/);
    expectError(await call(url, "POST", "/checkin", { token, raw: "{not json" }), 400, "invalid_request");
    expectError(await call(url, "POST", "/checkin", { token, raw: "seq=1", contentType: "application/x-www-form-urlencoded" }), 400, "invalid_request");
    const m = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "checkin-5" } });
    expect(m.healthStatus).toBe("healthy");
    expect(m.lastSeq).toBe(1n);
  });

  it("answers 401 without a token and 403 for an enrollment token", async () => {
    expectError(await call(url, "POST", "/checkin", { body: checkinBody(1) }), 401, "unauthorized");
    expectError(await call(url, "POST", "/checkin", { token: "orch_m_unknown", body: checkinBody(1) }), 401, "unauthorized");
    const token = await enrollmentToken(app);
    expectError(await call(url, "POST", "/checkin", { token, body: checkinBody(1) }), 403, "forbidden");
  });

  it("answers 410 on every route once the machine is retired, enrolling again included, until an operator allows it back", async () => {
    const token = await enrolled("retire-1");
    await retireMachine(app.db.prisma, cliActor, { machineId: "retire-1" });
    expectError(await call(url, "POST", "/checkin", { token, body: checkinBody(1) }), 410, "machine_retired");
    expectError(await call(url, "POST", "/events", { token, body: { events: [] } }), 410, "machine_retired");
    expectError(await call(url, "POST", "/reboot-lock", { token }), 410, "machine_retired");
    expectError(await call(url, "DELETE", "/reboot-lock", { token }), 410, "machine_retired");
    expectError(await call(url, "POST", "/enroll", { token: await enrollmentToken(app), body: enrollBody("retire-1") }), 410, "machine_retired");
    await allowReenroll(app.db.prisma, cliActor, { machineId: "retire-1" }, app.clock);
    const again = await call<{ token: string }>(url, "POST", "/enroll", {
      token: await enrollmentToken(app),
      body: enrollBody("retire-1"),
    });
    expect(again.status).toBe(200);
    expect((await call(url, "POST", "/checkin", { token: again.body.token, body: checkinBody(1) })).status).toBe(200);
  });
});

describe("events", () => {
  it("stores each event id once per machine, across and within batches", async () => {
    const token = await enrolled("events-1");
    const event = (id: string) => ({ id, at: "2026-11-25T17:03:10Z", type: "update.staged", checksum: hex("a"), detail: "staged in 41 s" });
    expect((await call(url, "POST", "/events", { token, body: { events: [event("e1"), event("e2")] } })).body).toEqual({ accepted: 2, duplicates: 0 });
    expect((await call(url, "POST", "/events", { token, body: { events: [event("e2"), event("e3"), event("e3")] } })).body).toEqual({ accepted: 1, duplicates: 2 });
    // The same ids from another machine are its own.
    const other = await enrolled("events-2");
    expect((await call(url, "POST", "/events", { token: other, body: { events: [event("e1")] } })).body).toEqual({ accepted: 1, duplicates: 0 });
    const stored = await app.db.prisma.agentEvent.count({ where: { machine: { machineId: "events-1" } } });
    expect(stored).toBe(3);
  });

  it("refuses more than 100 events and unknown types", async () => {
    const token = await enrolled("events-3");
    const events = Array.from({ length: 101 }, (_, i) => ({ id: `e${i}`, at: "2026-11-25T17:03:10Z", type: "agent.started" }));
    expectError(await call(url, "POST", "/events", { token, body: { events } }), 400, "invalid_request");
    const bad = await call<{ error: { message: string } }>(url, "POST", "/events", {
      token,
      body: { events: [{ id: "x", at: "2026-11-25T17:03:10Z", type: "update.exploded" }] },
    });
    expect(bad.body.error.message).toMatch(/^events\[0\]\.type: /);
    expect(await app.db.prisma.agentEvent.count({ where: { machine: { machineId: "events-3" } } })).toBe(0);
  });
});

describe("events with the check-in (v1.3)", () => {
  const event = (id: string) => ({ id, at: "2026-11-25T17:03:10Z", type: "update.staged", checksum: hex("a"), detail: "staged in 41 s" });

  it("stores them before the answer, which says what became of them; a resent one is a duplicate, whatever the seq", async () => {
    const token = await enrolled("checkin-events-1");
    const first = await call(url, "POST", "/checkin", { token, body: { ...checkinBody(1, { state: "downloading" }), events: [event("s1"), event("s2")] } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ action: "update", events: { accepted: 2, duplicates: 0 } });
    // The answer was lost: the same check-in again, and then a newer one carrying one of them.
    const again = await call(url, "POST", "/checkin", { token, body: { ...checkinBody(1, { state: "downloading" }), events: [event("s1"), event("s2")] } });
    expect(again.body).toMatchObject({ events: { accepted: 0, duplicates: 2 } });
    const newer = await call(url, "POST", "/checkin", { token, body: { ...checkinBody(2, { state: "downloading" }), events: [event("s2"), event("s3")] } });
    expect(newer.body).toMatchObject({ events: { accepted: 1, duplicates: 1 } });
    const stored = await app.db.prisma.agentEvent.findMany({ where: { machine: { machineId: "checkin-events-1" } }, select: { eventId: true, type: true } });
    expect(stored.map((e) => e.eventId).sort()).toEqual(["s1", "s2", "s3"]);
    expect(stored.every((e) => e.type === "update_staged")).toBe(true);
    // Without events, the answer has no `events`: as a v1.2 console answers.
    expect((await call(url, "POST", "/checkin", { token, body: checkinBody(3) })).body).not.toHaveProperty("events");
  });

  it("refuses more than 20, or a bad one, with 400 naming it, and changes nothing", async () => {
    const token = await enrolled("checkin-events-2");
    await call(url, "POST", "/checkin", { token, body: checkinBody(1) });
    const many = Array.from({ length: 21 }, (_, i) => event(`m${i}`));
    const tooMany = await call<{ error: { message: string } }>(url, "POST", "/checkin", { token, body: { ...checkinBody(2, { health: "unhealthy" }), events: many } });
    expectError(tooMany, 400, "invalid_request");
    expect(tooMany.body.error.message).toBe("events: at most 20 events per check-in");
    const bad = await call<{ error: { message: string } }>(url, "POST", "/checkin", {
      token,
      body: { ...checkinBody(2, { health: "unhealthy" }), events: [event("ok"), { ...event("x"), type: "update.exploded" }] },
    });
    expect(bad.body.error.message).toMatch(/^events\[1\]\.type: /);
    const m = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "checkin-events-2" } });
    expect(m).toMatchObject({ healthStatus: "healthy", lastSeq: 1n });
    expect(await app.db.prisma.agentEvent.count({ where: { machineId: m.id } })).toBe(0);
  });
});

describe("transport", () => {
  it("answers 413 for a body over 64 KiB and 404 for unknown routes", async () => {
    const token = await enrolled("transport-1");
    const big = JSON.stringify({ ...checkinBody(1), padding: "x".repeat(64 * 1024) });
    expectError(await call(url, "POST", "/checkin", { token, raw: big }), 413, "payload_too_large");
    expectError(await call(url, "GET", "/checkin", { token }), 404, "not_found");
    expectError(await call(url, "POST", "/nope", { token, body: {} }), 404, "not_found");
    // Exactly 64 KiB is allowed.
    const body = JSON.stringify(checkinBody(2));
    const padded = body.replace(/}$/, `,"pad":"${"x".repeat(64 * 1024 - body.length - 9)}"}`);
    expect(Buffer.byteLength(padded)).toBe(64 * 1024);
    expect((await call(url, "POST", "/checkin", { token, raw: padded })).status).toBe(200);
  });
});

describe("reboot slots", () => {
  /** A ring that runs release 2026.11.1 (a…a), so that its machines booted on b…b are sent an update. */
  async function ringWithRelease(name: string, policy: { rebootSlots?: number; failureDomainLabel?: string } = {}) {
    await createRing(app.db.prisma, cliActor, { name, branch: REF, ...policy });
    await setRingRelease(app.db.prisma, cliActor, { ring: name, version: "2026.11.1" });
  }

  /** The machine reports the ring's release staged (as a 1.0 agent does before it asks for a slot). */
  async function staged(token: string, seq = 1) {
    const body = checkinBody(seq, { state: "staged" });
    body.update.targetChecksum = hex("a") as never;
    expect((await call(url, "POST", "/checkin", { token, body })).status).toBe(200);
    return token;
  }

  it("grants the ring's slots, idempotently, and frees them on release", async () => {
    await ringWithRelease("slots");
    const a = await staged(await enrolled("slot-a", "slots"));
    const b = await staged(await enrolled("slot-b", "slots"));
    const granted = await call<{ granted: boolean; expiresAt: string }>(url, "POST", "/reboot-lock", { token: a });
    expect(granted.status).toBe(200);
    expect(granted.body.granted).toBe(true);
    const refused = await call<{ granted: boolean; retryAfterSeconds: number }>(url, "POST", "/reboot-lock", { token: b });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({ granted: false, retryAfterSeconds: expect.any(Number), reason: "ring_full" });
    expect(refused.body.retryAfterSeconds).toBeGreaterThan(0);
    expect((await call(url, "POST", "/reboot-lock", { token: a })).status).toBe(200);
    expect((await call(url, "DELETE", "/reboot-lock", { token: a })).status).toBe(200);
    expect((await call(url, "DELETE", "/reboot-lock", { token: a })).status).toBe(200);
    expect((await call(url, "POST", "/reboot-lock", { token: b })).status).toBe(200);
  });

  it("allows as many holders as the ring has slots", async () => {
    await ringWithRelease("wide", { rebootSlots: 2 });
    const tokens = [await enrolled("wide-a", "wide"), await enrolled("wide-b", "wide"), await enrolled("wide-c", "wide")];
    for (const token of tokens) await staged(token);
    const answers = await Promise.all(tokens.map((token) => call(url, "POST", "/reboot-lock", { token })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 409]);
  });

  it("grants a wave's burst of asks through two consoles: exactly the ring's slots, with the waiting asks queued in memory, not on connections", async () => {
    await ringWithRelease("wave", { rebootSlots: 20 });
    const second = await startTestConsole({ DATABASE_URL: app.databaseUrl, ORCHARD_DB_AGENT_POOL: "4" });
    try {
      const tokens: string[] = [];
      for (let i = 0; i < 120; i++) tokens.push(await staged(await enrolled(`wave-${i}`, "wave")));
      const bystander = await enrolled("wave-bystander", "canary");
      // Sessions waiting for an advisory lock (the ring's), sampled while the asks are under way.
      let sampling = true;
      let mostWaiting = 0;
      const sampler = (async () => {
        while (sampling) {
          const { rows } = await app.db.pool.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
          );
          mostWaiting = Math.max(mostWaiting, rows[0].n);
        }
      })();
      const asks = tokens.map((token, i) => call(i % 2 ? second.url : url, "POST", "/reboot-lock", { token }));
      const checkin = call(url, "POST", "/checkin", { token: bystander, body: checkinBody(1) });
      const answers = await Promise.all(asks);
      sampling = false;
      await sampler;
      expect(answers.filter((a) => a.status === 200)).toHaveLength(20);
      expect(answers.filter((a) => a.status === 409).map((a) => (a.body as { reason: string }).reason)).toEqual(Array(100).fill("ring_full"));
      expect((await checkin).status).toBe(200);
      // One ask per console at most waits for the other's, in PostgreSQL.
      expect(mostWaiting).toBeLessThanOrEqual(2);
      expect(await app.db.prisma.rebootLease.count({ where: { ring: { name: "wave" } } })).toBe(20);
    } finally {
      await second.stop();
    }
  });

  it("counts slots per failure domain when the ring names a label for it", async () => {
    await ringWithRelease("sites", { rebootSlots: 1, failureDomainLabel: "site" });
    // Each site's machines enroll with their site's token: the operator gives the failure domain.
    const machine = async (id: string, site?: string) => {
      const token = site ? await tokenWithLabels("sites", { site }) : await enrollmentToken(app, { ring: "sites" });
      return staged((await call<{ token: string }>(url, "POST", "/enroll", { token, body: enrollBody(id) })).body.token);
    };
    const [ams1, ams2, fra, none] = [await machine("site-ams-1", "ams"), await machine("site-ams-2", "ams"), await machine("site-fra", "fra"), await machine("site-none")];
    const ask = async (t: string) => (await call(url, "POST", "/reboot-lock", { token: t })).status;
    expect(await ask(ams1)).toBe(200);
    expect(await ask(ams2)).toBe(409); // ams has its one slot taken
    expect(await ask(fra)).toBe(200); // fra has a slot of its own
    expect(await ask(none)).toBe(200); // machines without the label share one more
    expect(await ask(ams2)).toBe(409);
    expect((await call(url, "DELETE", "/reboot-lock", { token: ams1 })).status).toBe(200);
    expect(await ask(ams2)).toBe(200);
    expect(await ask(ams1)).toBe(409);
  });

  it("frees a slot at its expiry, so a machine that never comes back cannot block its ring", async () => {
    await ringWithRelease("expiry");
    await updateRingPolicy(app.db.prisma, cliActor, { ring: "expiry", rebootLeaseSeconds: 60 });
    const dead = await staged(await enrolled("expiry-dead", "expiry"));
    const next = await staged(await enrolled("expiry-next", "expiry"));
    expect((await call(url, "POST", "/reboot-lock", { token: dead })).status).toBe(200);
    expect((await call(url, "POST", "/reboot-lock", { token: next })).status).toBe(409);
    app.clock.advance(61_000);
    expect((await call(url, "POST", "/reboot-lock", { token: next })).status).toBe(200);
    const holders = await app.db.prisma.rebootLease.findMany({ where: { ring: { name: "expiry" } }, select: { machine: { select: { machineId: true } } } });
    expect(holders.map((h) => h.machine.machineId)).toEqual(["expiry-next"]);
  });

  it("holds a slot at most two leases in all: renewing is not keeping", async () => {
    await ringWithRelease("renewals");
    await updateRingPolicy(app.db.prisma, cliActor, { ring: "renewals", rebootLeaseSeconds: 60 });
    const token = await staged(await enrolled("renew-1", "renewals"));
    expect((await call(url, "POST", "/reboot-lock", { token })).status).toBe(200);
    app.clock.advance(50_000);
    expect((await call(url, "POST", "/reboot-lock", { token })).status).toBe(200); // renewed
    app.clock.advance(50_000);
    expect((await call(url, "POST", "/reboot-lock", { token })).status).toBe(200); // renewed, 100 s held
    app.clock.advance(25_000);
    const refused = await call<{ reason: string; retryAfterSeconds: number }>(url, "POST", "/reboot-lock", { token });
    expect(refused.status).toBe(409); // 125 s held: not renewed; the lease runs out in 35 s
    expect(refused.body).toMatchObject({ reason: "ring_full", retryAfterSeconds: 35 });
  });

  it("a slot an operator forced free stays free of that machine until its target changes", async () => {
    await ringWithRelease("forced");
    const token = await staged(await enrolled("forced-1", "forced"));
    expect((await call(url, "POST", "/reboot-lock", { token })).status).toBe(200);
    await forceReleaseLease(app.db.prisma, cliActor, { machineId: "forced-1", reason: "stuck" });
    expect((await call(url, "POST", "/reboot-lock", { token })).body).toMatchObject({ granted: false, reason: "not_wanted" });
    // The ring moves on to another release: a new target, a slot again.
    await addRelease(app.db.prisma, cliActor, { ref: REF, checksum: hex("d"), version: "2026.12.1" });
    await setRingRelease(app.db.prisma, cliActor, { ring: "forced", version: "2026.12.1" });
    const body = checkinBody(2, { state: "staged" });
    body.update.targetChecksum = hex("d") as never;
    expect((await call(url, "POST", "/checkin", { token, body })).status).toBe(200);
    expect((await call(url, "POST", "/reboot-lock", { token, body: { checksum: hex("d") } })).status).toBe(200);
  });

  it("takes a machine's failure domain from its enrollment token, never from the agent", async () => {
    await createRing(app.db.prisma, cliActor, { name: "domains", branch: REF, failureDomainLabel: "site" });
    const own = await enrollmentToken(app, { ring: "domains" });
    await call(url, "POST", "/enroll", { token: own, body: enrollBody("domain-1", { labels: { site: "quiet-site", team: "kiosks" } }) });
    const fromToken = (await call<{ token: string }>(url, "POST", "/enroll", { token: await tokenWithLabels("domains", { site: "ams" }), body: enrollBody("domain-2", { labels: { site: "quiet-site" } }) }));
    expect(fromToken.status).toBe(201);
    const labels = async (machineId: string) => (await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId } })).labels;
    expect(await labels("domain-1")).toEqual({ team: "kiosks" });
    expect(await labels("domain-2")).toEqual({ site: "ams" });
  });

  it("grants a slot only for the reboot the console wants now (v1.1): never to a machine with nothing to install", async () => {
    await ringWithRelease("wanted", { rebootSlots: 5 });
    const token = await enrolled("wanted-1", "wanted");
    // Booted on the ring's release: nothing to install, whatever it asks for.
    const idle = checkinBody(1, { booted: hex("a") });
    expect((await call(url, "POST", "/checkin", { token, body: idle })).status).toBe(200);
    for (const body of [undefined, {}, { checksum: hex("a") }, { checksum: hex("c") }]) {
      const refused = await call(url, "POST", "/reboot-lock", { token, body });
      expect(refused.status).toBe(409);
      expect(refused.body).toEqual({ granted: false, retryAfterSeconds: expect.any(Number), reason: "not_wanted" });
    }
    expect(await app.db.prisma.rebootLease.count({ where: { machine: { machineId: "wanted-1" } } })).toBe(0);

    // Sent an update: a v1.1 agent names the deployment; only that one is granted.
    const other = await enrolled("wanted-2", "wanted");
    expect((await call(url, "POST", "/reboot-lock", { token: other, body: { checksum: hex("c") } })).body).toMatchObject({ reason: "not_wanted" });
    expect((await call(url, "POST", "/reboot-lock", { token: other, body: { checksum: hex("a") } })).status).toBe(200);
    // A malformed body is the protocol's 400, naming the field.
    const bad = await call(url, "POST", "/reboot-lock", { token: other, body: { checksum: "nope" } });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: { code: "invalid_request", message: expect.stringMatching(/^checksum: /) } });
  });
});

describe("bounded events", () => {
  it("keeps the newest events of a machine, up to its bound", async () => {
    const token = await enrolled("events-flood");
    const batches = Math.ceil((MAX_EVENTS_PER_MACHINE + 150) / 100);
    for (let b = 0; b < batches; b++) {
      const events = Array.from({ length: 100 }, (_, i) => ({ id: `flood-${b}-${i}`, at: new Date().toISOString(), type: "agent.started" }));
      expect((await call(url, "POST", "/events", { token, body: { events } })).status).toBe(200);
      app.clock.advance(1000);
    }
    const kept = await app.db.prisma.agentEvent.findMany({ where: { machine: { machineId: "events-flood" } }, select: { eventId: true } });
    expect(kept.length).toBeLessThanOrEqual(MAX_EVENTS_PER_MACHINE);
    expect(kept.length).toBeGreaterThan(MAX_EVENTS_PER_MACHINE - 100);
    expect(kept.map((e) => e.eventId)).toContain(`flood-${batches - 1}-99`);
    expect(kept.map((e) => e.eventId)).not.toContain("flood-0-0");
  });
});

describe("clocks", () => {
  it("takes an agent's clock as a hint only: a day off changes no deadline and no order", async () => {
    const token = await enrolled("skewed-1");
    const dayAhead = new Date(Date.now() + 86_400_000).toISOString();
    const dayBehind = new Date(Date.now() - 86_400_000).toISOString();
    const ahead = await call<{ serverTime: string }>(url, "POST", "/checkin", { token, body: { ...checkinBody(1), sentAt: dayAhead } });
    expect(ahead.status).toBe(200);
    expect(Math.abs(Date.parse(ahead.body.serverTime) - app.clock.now().getTime())).toBeLessThan(5000);
    expect((await call(url, "POST", "/checkin", { token, body: { ...checkinBody(2, { health: "degraded" }), sentAt: dayBehind } })).status).toBe(200);
    const m = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "skewed-1" } });
    expect(m.healthStatus).toBe("degraded"); // ordered by seq, not by the agent's clock
    expect(Math.abs(m.lastSeenAt!.getTime() - app.clock.now().getTime())).toBeLessThan(5000);
    await call(url, "POST", "/events", { token, body: { events: [{ id: "skew", at: dayAhead, type: "agent.started" }] } });
    const event = await app.db.prisma.agentEvent.findFirstOrThrow({ where: { eventId: "skew" } });
    expect(event.at.toISOString()).toBe(dayAhead);
    expect(Math.abs(event.receivedAt.getTime() - app.clock.now().getTime())).toBeLessThan(5000);
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After and the spec's body past the per-token limit", async () => {
    const limited = await startTestConsole({ ORCHARD_AGENT_RATE_PER_TOKEN: "5" });
    try {
      await createRing(limited.db.prisma, cliActor, { name: "canary", branch: REF });
      const token = await enrollmentToken(limited, { ring: "canary" });
      const res = await call<{ token: string }>(limited.url, "POST", "/enroll", { token, body: enrollBody("limited-1") });
      const machine = res.body.token;
      const answers = [];
      for (let i = 1; i <= 6; i++) answers.push(await call(limited.url, "POST", "/checkin", { token: machine, body: checkinBody(i) }));
      expect(answers.slice(0, 5).map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
      expectError(answers[5], 429, "rate_limited");
      expect(Number(answers[5].headers.get("retry-after"))).toBeGreaterThan(0);
      // The limited request changed nothing.
      await limited.agents.flushLastSeen();
      const m = await limited.db.prisma.machine.findUniqueOrThrow({ where: { machineId: "limited-1" } });
      expect(m.lastSeq).toBe(5n);
    } finally {
      await limited.stop();
    }
  });

  it("limits enrollments per enrollment token on their own: every machine of an image shares one", async () => {
    const limited = await startTestConsole({ ORCHARD_AGENT_RATE_PER_TOKEN: "2", ORCHARD_ENROLL_RATE_PER_TOKEN: "4" });
    try {
      const token = await enrollmentToken(limited);
      const answers = [];
      for (let i = 1; i <= 5; i++) answers.push(await call(limited.url, "POST", "/enroll", { token, body: enrollBody(`image-${i}`) }));
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 429]);
      expectError(answers[4], 429, "rate_limited");
      expect(await limited.db.prisma.machine.count({ where: { machineId: { startsWith: "image-" } } })).toBe(4);
    } finally {
      await limited.stop();
    }
  });
});
