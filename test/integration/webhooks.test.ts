// Webhooks end to end: a real HTTP receiver on 127.0.0.1 (the console runs
// with ORCHARD_WEBHOOKS_ALLOW_PRIVATE=1) verifies every delivery with the
// Standard Webhooks reference library (npm `standardwebhooks`) and records
// what it got. A three-ring rollout driven through the domain functions and
// the controller must reach it whole and in order; a receiver that fails is
// retried; a console process killed (SIGKILL) in the middle of a delivery
// delivers it after its restart; private targets are refused unless allowed.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { systemClock } from "../../server/clock";
import { type Database, openDatabase } from "../../server/db/client";
import { retireMachine } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import {
  abortRollout,
  brakeRelease,
  getRollout,
  pauseRollout,
  resumeRollout,
  revertRollout,
  startRollout,
} from "../../server/rollouts/rollouts";
import { SecretBox } from "../../server/secret-box";
import { detailsOf } from "../../server/trpc/init";
import { createCaller } from "../../server/trpc/router";
import { WEBHOOK_EVENT_KINDS } from "../../server/vocabulary";
import { createWebhook, deleteWebhook, rotateWebhookSecret, sealClearSecrets, sendTestEvent } from "../../server/webhooks/webhooks";
import { enqueueEvents, machineKey } from "../../server/webhooks/outbox";
import { WebhookWorker } from "../../server/webhooks/worker";
import { hex } from "../helpers/agent-http";
import { freshDatabaseUrl, startTestConsole, type TestConsole, userPrincipal } from "../helpers/console";
import { consoleProcessSlot, killConsoleProcess, removeConsoleProcess, startConsoleProcess } from "../helpers/console-process";
import { waitFor } from "../helpers/fleet";
import { REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

interface Received {
  id: string;
  timestamp: number;
  at: number;
  type: string;
  data: Record<string, unknown>;
  /** What Webhook.verify said: null when the signature verified. */
  refused: string | null;
  status: number;
}

/** A webhook receiver: verifies each request with the subscription's secret; `answer` decides the status (or holds the request). */
class Receiver {
  received: Received[] = [];
  secret = "";
  answer: (message: { id: string; type: string; attempt: number }) => number | "hold" = () => 204;
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = { "webhook-id": String(req.headers["webhook-id"]), "webhook-timestamp": String(req.headers["webhook-timestamp"]), "webhook-signature": String(req.headers["webhook-signature"]) };
      let refused: string | null = null;
      let payload = { type: "?", data: {} as Record<string, unknown> };
      try {
        payload = new Webhook(this.secret).verify(body, headers) as typeof payload;
      } catch (error) {
        refused = (error as Error).message;
      }
      const attempt = this.received.filter((r) => r.id === headers["webhook-id"]).length + 1;
      const answer = this.answer({ id: headers["webhook-id"], type: payload.type, attempt });
      this.received.push({
        id: headers["webhook-id"],
        timestamp: Number(headers["webhook-timestamp"]),
        at: Date.now(),
        type: payload.type,
        data: payload.data,
        refused,
        status: answer === "hold" ? 0 : answer,
      });
      if (answer === "hold") return; // never answered: the sender is killed meanwhile
      res.writeHead(refused ? 401 : answer, { "content-type": "text/plain" });
      res.end(refused ? `bad signature: ${refused}` : answer >= 300 ? "receiver busy, try later" : "ok");
    });
  });

  async listen() {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/orchard`;
  }

  /** Delivered messages (2xx answered), first delivery of each id, in arrival order. */
  delivered() {
    const seen = new Set<string>();
    return this.received.filter((r) => r.status >= 200 && r.status < 300 && !seen.has(r.id) && seen.add(r.id));
  }

  close() {
    this.server.closeAllConnections();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const R1 = hex("1");
const R2 = hex("2");
let app: TestConsole;
let receiver: Receiver;
let receiverUrl: string;

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_WEBHOOKS_ALLOW_PRIVATE: "1", ORCHARD_WEBHOOK_POLL_MS: "100" });
  receiver = new Receiver();
  receiverUrl = await receiver.listen();
  const db = app.db.prisma;
  await addRelease(db, cliActor, { ref: REF, checksum: R1, version: "1" });
  await addRelease(db, cliActor, { ref: REF, checksum: R2, version: "2" });
});

afterAll(async () => {
  await app?.stop();
  await receiver?.close();
});

/** The tables with a row whose text holds `text` (every table of the schema, every column). */
async function tablesHolding(text: string, database: Database = app.db) {
  const { rows: tables } = await database.pool.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`);
  const holding: string[] = [];
  for (const { name } of tables) {
    const { rows } = await database.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}" t WHERE strpos(t::text, $1) > 0`, [text]);
    if (rows[0].n > 0) holding.push(name);
  }
  expect(tables.length).toBeGreaterThan(20);
  return holding;
}

/** The field a refused call names, as the tRPC error's data carries it. */
const fieldOf = (error: unknown) => detailsOf((error as { cause?: unknown }).cause).field;

async function adminCaller(allowPrivate: boolean | undefined) {
  const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" }, select: { id: true, email: true, role: true } });
  return createCaller({
    db: app.db,
    clock: systemClock,
    principal: userPrincipal(admin),
    secretBox: app.secretBox,
    ...(allowPrivate === undefined ? {} : { webhookPolicy: { allowPrivate } }),
  });
}

describe("webhooks", () => {
  it("refuses loopback and private targets naming the field, and changes nothing", async () => {
    const before = { subscriptions: await app.db.prisma.webhookSubscription.count(), audit: await app.db.prisma.auditLog.count() };
    const caller = await adminCaller(undefined);
    for (const url of ["http://127.0.0.1:8080/hook", "http://10.0.0.7/hook", "http://[::1]/hook", "http://169.254.169.254/latest", "http://localhost/hook"]) {
      const refusal = await caller.webhooks.create({ url, events: ["rollout.started"] }).catch((error: unknown) => error);
      expect(refusal, url).toMatchObject({ code: "BAD_REQUEST" });
      expect(fieldOf(refusal), url).toBe("url");
      expect((refusal as Error).message, url).toMatch(/^url: .*(loopback|private|link-local).*ORCHARD_WEBHOOKS_ALLOW_PRIVATE=1/);
    }
    expect(fieldOf(await caller.webhooks.create({ url: "ftp://example.com/x", events: ["rollout.started"] }).catch((e: unknown) => e))).toBe("url");
    expect(fieldOf(await caller.webhooks.create({ url: receiverUrl, events: [] }).catch((e: unknown) => e))).toBe("events");
    expect({ subscriptions: await app.db.prisma.webhookSubscription.count(), audit: await app.db.prisma.auditLog.count() }).toEqual(before);

    // Allowed by the operator, it is saved; a worker that does not allow it refuses again at delivery time.
    const allowed = await adminCaller(true);
    const { subscription } = await allowed.webhooks.create({ url: "http://127.0.0.1:9/nobody", events: ["machine.retired"] });
    const strict = new WebhookWorker(app.db, { log: app.log, allowPrivate: false, secrets: app.secretBox, timeoutMs: 1000, pollMs: 1000 });
    await app.webhooks.stop();
    try {
      const { id } = await allowed.webhooks.sendTest({ id: subscription.id });
      expect(await strict.drain()).toBe(1);
      const attempt = await app.db.prisma.webhookAttempt.findFirstOrThrow({ where: { deliveryId: id } });
      expect(attempt).toMatchObject({ status: null, error: expect.stringMatching(/127\.0\.0\.1, a loopback address/) });
    } finally {
      await allowed.webhooks.remove({ id: subscription.id });
      app.webhooks.start();
    }
  });

  it("is managed through the REST API too, under the console's policy", async () => {
    const { token } = await createApiToken(app.db.prisma, cliActor, { name: "webhooks-admin", role: "admin" });
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${app.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const create = (key: string) =>
      fetch(`${app.url}/api/v1/webhooks`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify({ url: receiverUrl, events: ["machine.retired"] }),
      });
    const created = await create("hook-1");
    expect(created.status).toBe(201);
    const { subscription, secret } = (await created.json()) as { subscription: { id: string }; secret: string };
    expect(secret).toMatch(/^whsec_/);
    // A retry gets the first answer, secret included, from an answer kept sealed: no table holds the secret.
    const replay = await create("hook-1");
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as { secret: string }).secret).toBe(secret);
    expect(await tablesHolding(secret.slice("whsec_".length))).toEqual([]);
    const bad = await api("POST", "/webhooks", { url: "gopher://x", events: ["machine.retired"] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: "url" });
    const listed = await (await api("GET", "/webhooks")).text();
    expect(listed).toContain(subscription.id);
    expect(listed).not.toContain(secret);
    expect((await api("DELETE", `/webhooks/${subscription.id}`)).status).toBe(200);
  });

  it("sends every event of a three-ring rollout, signed, in order, retrying the first until it is taken", async () => {
    const db = app.db.prisma;
    const caller = await adminCaller(true);
    const { subscription, secret } = await caller.webhooks.create({ url: receiverUrl, description: "ops channel", events: [...WEBHOOK_EVENT_KINDS] });
    expect(JSON.stringify(await caller.webhooks.list())).not.toContain(secret);
    receiver.secret = secret;
    // The receiver is busy at the first try of the first message: the others of the rollout wait behind it.
    receiver.answer = ({ type, attempt }) => (type === "rollout.started" && attempt === 1 ? 503 : 204);

    const sims = new SimFleet(app);
    const rings = ["canary", "beta", "stable"];
    for (const ring of rings) {
      await createRing(db, cliActor, { name: ring, branch: REF });
      await setRingRelease(db, cliActor, { ring, version: "1" });
    }
    const fleet: Record<string, SimMachine[]> = {
      canary: await sims.enroll("canary", 3, R1, "c"),
      beta: await sims.enroll("beta", 20, R1, "b"),
      stable: await sims.enroll("stable", 10, R1, "s"),
    };
    const all = Object.values(fleet).flat();
    const failing = fleet.beta[7];

    const rollout = await startRollout(db, cliActor, {
      version: "2",
      rings,
      waves: [50, 100],
      singleFirst: false,
      soakSeconds: 60,
      maxFailureRate: 0.2,
      minSample: 3,
      darkAfterSeconds: 600,
    });
    await app.controller.stepRollout(rollout.id);
    await pauseRollout(db, cliActor, { rolloutId: rollout.id, reason: "lunch" });
    await resumeRollout(db, cliActor, { rolloutId: rollout.id });
    for (let i = 0; i < 40 && (await getRollout(db, rollout.id)).state === "running"; i++) {
      await sims.round(all, (m) => (m === failing ? "roll-back" : "succeed"));
      app.clock.advance(61_000);
      await app.controller.stepRollout(rollout.id);
    }
    expect((await getRollout(db, rollout.id)).state).toBe("completed");
    await retireMachine(db, cliActor, { machineId: fleet.stable[0].machineId, reason: "broken screen" });

    const ids = new Set((await db.webhookDelivery.findMany({ where: { subscriptionId: subscription.id }, select: { eventId: true } })).map((d) => d.eventId));
    const queued = ids.size;
    const mine = () => receiver.delivered().filter((r) => ids.has(r.id));
    await waitFor("every message delivered", async () => mine().length === queued, 60_000, 100);
    expect(receiver.received.filter((r) => ids.has(r.id)).every((r) => r.refused === null)).toBe(true);

    const ofRollout = mine().filter((r) => r.data.rolloutId === rollout.id);
    const lines = ofRollout.map((r) => {
      const d = r.data as { ring?: string; wave?: number; of?: number; machineId?: string; reason?: string };
      return [r.type, d.ring, d.wave && `${d.wave}/${d.of}`, d.machineId, r.type === "rollout.paused" ? d.reason : undefined].filter(Boolean).join(" ");
    });
    // The rolled-back machine shows up once, after its ring's wave opened and before the ring's next wave.
    const rolledBack = `machine.rolled_back beta ${failing.machineId}`;
    expect(lines.filter((l) => l === rolledBack)).toHaveLength(1);
    const failingWave = lines.findIndex((l) => l.startsWith("rollout.wave_opened beta"));
    expect(lines.indexOf(rolledBack)).toBeGreaterThan(failingWave);
    expect(lines.filter((l) => l !== rolledBack)).toEqual([
      "rollout.started",
      "rollout.wave_opened canary 1/2",
      "rollout.paused paused by cli: lunch",
      "rollout.resumed",
      "rollout.wave_opened canary 2/2",
      "rollout.wave_opened beta 1/2",
      "rollout.wave_opened beta 2/2",
      "rollout.wave_opened stable 1/2",
      "rollout.wave_opened stable 2/2",
      "rollout.completed",
    ]);
    // Every message has its own id, kept across attempts: the first one was tried twice, 5 s apart.
    expect(new Set(mine().map((r) => r.id)).size).toBe(queued);
    const started = receiver.received.filter((r) => r.type === "rollout.started" && ids.has(r.id));
    expect(started.map((r) => r.status)).toEqual([503, 204]);
    expect(started[1].at - started[0].at).toBeGreaterThanOrEqual(4900);
    // A machine's events go on their own key: not held behind the rollout's retry.
    expect(mine().filter((r) => r.type === "machine.retired")).toMatchObject([
      { data: { machineId: fleet.stable[0].machineId, reason: "broken screen" } },
    ]);
    const enrolled = mine().filter((r) => r.type === "machine.enrolled");
    expect(enrolled.map((r) => r.data.machineId).sort()).toEqual(all.map((m) => m.machineId).sort());
    expect(enrolled.find((r) => r.data.machineId === failing.machineId)?.data).toMatchObject({ ring: "beta", reenrolled: false });

    // The console shows each delivery with its attempts and the receiver's answers.
    const { deliveries } = await caller.webhooks.deliveries({ id: subscription.id, limit: 200 });
    const first = deliveries.find((d) => d.kind === "rollout.started")!;
    expect(first).toMatchObject({ state: "delivered", attempts: 2 });
    expect(first.tries.map((t) => [t.status, t.response])).toEqual([
      [204, ""],
      [503, "receiver busy, try later"],
    ]);
    expect(deliveries.every((d) => d.state === "delivered")).toBe(true);
    console.log(
      `webhooks: ${queued} messages; retry after ${started[1].at - started[0].at} ms; ` +
        `the rollout's other ${ofRollout.length - 1} messages followed the retried first within ${ofRollout.at(-1)!.at - started[1].at} ms`,
    );
    await caller.webhooks.remove({ id: subscription.id });
  }, 180_000);

  it("tells of stops: machines that fail or go dark, an abort, the brake and a revert", async () => {
    const db = app.db.prisma;
    const caller = await adminCaller(true);
    const { subscription, secret } = await caller.webhooks.create({
      url: receiverUrl,
      events: WEBHOOK_EVENT_KINDS.filter((k) => k !== "machine.enrolled"),
    });
    receiver.secret = secret;
    receiver.answer = () => 200;
    const sims = new SimFleet(app);
    const R3 = hex("3");
    await addRelease(db, cliActor, { ref: REF, checksum: R3, version: "3" });
    for (const ring of ["stops-a", "stops-b"]) {
      await createRing(db, cliActor, { name: ring, branch: REF });
      await setRingRelease(db, cliActor, { ring, version: "1" });
    }
    const [dark, failed, fine] = await sims.enroll("stops-a", 3, R1, "sa");
    const ringB = await sims.enroll("stops-b", 2, R1, "sb");
    const plan = { waves: [100], singleFirst: false, soakSeconds: 3600, maxFailureRate: 1, minSample: 1, darkAfterSeconds: 600 };

    // A: one machine never comes back, one reports a failed update; then an operator aborts.
    const a = await startRollout(db, cliActor, { ...plan, version: "2", rings: ["stops-a"] });
    await app.controller.stepRollout(a.id);
    await sims.round([dark, fine], (m) => (m === dark ? "go-dark" : "succeed"));
    await sims.checkin(failed);
    Object.assign(failed, { state: "failed", target: R2, error: "no space left on device" });
    await sims.checkin(failed);
    app.clock.advance(601_000);
    await app.controller.stepRollout(a.id);
    await abortRollout(db, cliActor, { rolloutId: a.id, reason: "enough" });

    // B: the brake on its release pauses it; an operator reverts it.
    const b = await startRollout(db, cliActor, { ...plan, version: "3", rings: ["stops-b"] });
    await app.controller.stepRollout(b.id);
    await sims.round([...ringB]);
    await brakeRelease(db, cliActor, { version: "3", reason: "kiosks crash" });
    await revertRollout(db, cliActor, { rolloutId: b.id, reason: "back to 1" });

    const queued = await db.webhookDelivery.count({ where: { subscriptionId: subscription.id } });
    await waitFor("every message delivered", async () => (await db.webhookDelivery.count({ where: { subscriptionId: subscription.id, state: "delivered" } })) === queued, 30_000, 100);
    const ids = new Set((await db.webhookDelivery.findMany({ where: { subscriptionId: subscription.id }, select: { eventId: true } })).map((d) => d.eventId));
    const got = receiver.delivered().filter((r) => ids.has(r.id) && r.refused === null);
    expect(got).toHaveLength(queued);
    const of = (id: string) =>
      got
        .filter((r) => r.data.rolloutId === id)
        .map((r) => [r.type, r.data.machineId ?? r.data.ring ?? r.data.reason].filter(Boolean).join(" "));
    const linesA = of(a.id);
    expect(linesA.slice(0, 2)).toEqual(["rollout.started", "rollout.wave_opened stops-a"]);
    expect(linesA.slice(2, 4).sort()).toEqual([`machine.dark ${dark.machineId}`, `machine.failed ${failed.machineId}`]);
    expect(linesA.slice(4)).toEqual(["rollout.aborted aborted by cli: enough"]);
    expect(got.find((r) => r.type === "machine.failed")?.data).toMatchObject({ ring: "stops-a", detail: "no space left on device" });
    expect(got.find((r) => r.type === "machine.dark")?.data.detail).toMatch(/before the deadline/);

    expect(of(b.id)).toEqual([
      "rollout.started",
      "rollout.wave_opened stops-b",
      "rollout.paused emergency brake on 3 by cli: kiosks crash",
      "rollout.reverted revert of rollout 3 by cli: back to 1",
    ]);
    expect(got.filter((r) => r.type === "release.braked").map((r) => r.data)).toEqual([
      expect.objectContaining({ release: { version: "3", ref: REF }, rollouts: [b.id], revert: false }),
    ]);
    expect(got.find((r) => r.type === "rollout.reverted")?.data).toMatchObject({ rings: ["stops-b"], whole: true, state: "reverted", machines: 2 });
    await caller.webhooks.remove({ id: subscription.id });
  }, 90_000);

  it("sends a test event, retried until the receiver takes it", async () => {
    const caller = await adminCaller(true);
    const { subscription, secret } = await caller.webhooks.create({ url: receiverUrl, events: ["machine.enrolled"] });
    receiver.secret = secret;
    receiver.answer = ({ attempt }) => (attempt < 3 ? 500 : 200);
    const { eventId } = await caller.webhooks.sendTest({ id: subscription.id });
    await waitFor("the test event delivered", async () => receiver.delivered().some((r) => r.id === eventId), 60_000, 100);
    const tries = receiver.received.filter((r) => r.id === eventId);
    expect(tries.map((t) => [t.type, t.status, t.refused])).toEqual([
      ["webhook.test", 500, null],
      ["webhook.test", 500, null],
      ["webhook.test", 200, null],
    ]);
    // 5 s, then 30 s.
    expect(tries[1].at - tries[0].at).toBeGreaterThanOrEqual(4900);
    expect(tries[2].at - tries[1].at).toBeGreaterThanOrEqual(29_900);
    console.log(`webhooks: test event retried after ${tries[1].at - tries[0].at} ms and ${tries[2].at - tries[1].at} ms`);
    const audit = await app.db.prisma.auditLog.findMany({ where: { targetId: subscription.id }, orderBy: { at: "asc" }, select: { action: true } });
    expect(audit.map((a) => a.action)).toEqual(["webhook.create", "webhook.test"]);
    await caller.webhooks.remove({ id: subscription.id });
  }, 90_000);
});

describe("signing secrets at rest", () => {
  it("are kept sealed under the console's key: no table holds one in clear, and the database refuses one in clear", async () => {
    const db = app.db.prisma;
    const caller = await adminCaller(true);
    const { subscription, secret } = await caller.webhooks.create({ url: receiverUrl, events: ["machine.retired"] });
    const rotated = await caller.webhooks.rotateSecret({ id: subscription.id });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    expect(rotated.subscription).toMatchObject({ id: subscription.id });
    for (const s of [secret, rotated.secret]) expect(await tablesHolding(s.slice("whsec_".length)), s).toEqual([]);
    const [row] = await db.$queryRaw<{ sealed_secret: string }[]>`SELECT sealed_secret FROM webhook_subscriptions WHERE id = ${subscription.id}`;
    expect(row.sealed_secret).toMatch(new RegExp(`^orchsec1\\.${app.secretBox.keyId}\\.[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));
    expect(await db.auditLog.findFirst({ where: { action: "webhook.rotate-secret", targetId: subscription.id } })).toMatchObject({ after: { keyId: app.secretBox.keyId } });
    // Whatever writes to the table (a script, an older console): a secret in clear is refused.
    await expect(db.$executeRaw`UPDATE webhook_subscriptions SET sealed_secret = ${secret} WHERE id = ${subscription.id}`).rejects.toThrow(/webhook_subscriptions_secret_sealed/);

    // Deliveries are signed with the new secret, as the Standard Webhooks library verifies.
    receiver.secret = rotated.secret;
    receiver.answer = () => 204;
    const { eventId } = await caller.webhooks.sendTest({ id: subscription.id });
    await waitFor("the test event", async () => receiver.delivered().some((r) => r.id === eventId), 20_000, 50);
    expect(receiver.received.filter((r) => r.id === eventId).map((r) => r.refused)).toEqual([null]);
    await caller.webhooks.remove({ id: subscription.id });
  });

  it("under another key: the delivery fails saying so, nothing is sent, and a new secret mends it", async () => {
    const db = app.db.prisma;
    const caller = await adminCaller(true);
    const { subscription } = await caller.webhooks.create({ url: receiverUrl, events: ["machine.retired"] });
    // The console restarted with another key (the old one lost).
    const other = SecretBox.withKey(randomBytes(32), "ORCHARD_ENCRYPTION_KEY");
    expect((await sealClearSecrets(db, other)).underOtherKeys).toContain(subscription.id);
    await app.webhooks.stop();
    const worker = new WebhookWorker(app.db, { log: app.log, allowPrivate: true, secrets: other, timeoutMs: 2000, pollMs: 1000 });
    try {
      const sent = receiver.received.length;
      const { eventId } = await caller.webhooks.sendTest({ id: subscription.id });
      expect(await worker.drain()).toBe(1);
      expect(receiver.received.length).toBe(sent);
      const delivery = await db.webhookDelivery.findFirstOrThrow({ where: { eventId }, select: { state: true, tries: { select: { status: true, error: true } } } });
      expect(delivery.state).toBe("pending");
      expect(delivery.tries).toEqual([
        {
          status: null,
          error: `not sent: the secret was sealed under encryption key ${app.secretBox.keyId}, but this console's key (ORCHARD_ENCRYPTION_KEY) is ${other.keyId}: restore that key, or give the subscription a new secret`,
        },
      ]);

      // The admin gives it a new secret (sealed under the key the console now has): the retry goes out, verified.
      const { secret } = await rotateWebhookSecret(db, cliActor, { id: subscription.id }, other);
      receiver.secret = secret;
      receiver.answer = () => 204;
      await db.webhookDelivery.updateMany({ where: { eventId }, data: { nextAttemptAt: new Date(Date.now() - 1000) } });
      expect(await worker.drain()).toBe(1);
      expect(receiver.delivered().filter((r) => r.id === eventId).map((r) => r.refused)).toEqual([null]);
      expect((await sealClearSecrets(db, other)).underOtherKeys).not.toContain(subscription.id);
    } finally {
      await worker.stop();
      await deleteWebhook(db, cliActor, { id: subscription.id });
      app.webhooks.start();
    }
  });

  it("stored in clear before this version are sealed at the first start, and still verify", async () => {
    const databaseUrl = await freshDatabaseUrl();
    const old = await openDatabase({ databaseUrl, dataDir: os.tmpdir(), migrate: false });
    const secret = "whsec_" + randomBytes(24).toString("base64");
    try {
      // The database as the version before left it: the column in clear, the sealing migration not applied.
      await old.pool.query(`ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_secret_sealed`);
      await old.pool.query(`ALTER TABLE webhook_subscriptions RENAME COLUMN sealed_secret TO secret`);
      await old.pool.query(`DELETE FROM _prisma_migrations WHERE migration_name LIKE '%\\_webhook\\_secrets\\_sealed'`);
      await old.pool.query(
        `INSERT INTO webhook_subscriptions (id, url, events, secret, created_by, updated_at) VALUES ('old-hook', $1, '{machine.retired}', $2, 'admin@example.com', now())`,
        [receiverUrl, secret],
      );
    } finally {
      await old.close();
    }
    const upgraded = await startTestConsole({ DATABASE_URL: databaseUrl, ORCHARD_WEBHOOKS_ALLOW_PRIVATE: "1", ORCHARD_WEBHOOK_POLL_MS: "100" });
    try {
      const [row] = await upgraded.db.prisma.$queryRaw<{ sealed_secret: string }[]>`SELECT sealed_secret FROM webhook_subscriptions WHERE id = 'old-hook'`;
      expect(row.sealed_secret.startsWith(`orchsec1.${upgraded.secretBox.keyId}.`)).toBe(true);
      expect(await tablesHolding(secret.slice("whsec_".length), upgraded.db)).toEqual([]);
      receiver.secret = secret;
      receiver.answer = () => 204;
      const { eventId } = await sendTestEvent(upgraded.db.prisma, cliActor, { id: "old-hook" });
      await waitFor("the old subscription's test event", async () => receiver.delivered().some((r) => r.id === eventId), 20_000, 50);
      expect(receiver.received.filter((r) => r.id === eventId).map((r) => r.refused)).toEqual([null]);
    } finally {
      await upgraded.stop();
    }
  });
});

describe("a receiver that never takes a message", () => {
  it("fails it 24 hours after its first attempt, then sends the next one of its key", async () => {
    const db = app.db.prisma;
    const { subscription, secret } = await (await adminCaller(true)).webhooks.create({ url: receiverUrl, events: ["machine.retired"] });
    let firstId = "";
    receiver.secret = secret;
    receiver.answer = ({ id }) => (id === firstId ? 500 : 204);
    await app.webhooks.stop();
    const worker = new WebhookWorker(app.db, { log: app.log, allowPrivate: true, secrets: app.secretBox, timeoutMs: 2000, pollMs: 1000 });
    try {
      await db.$transaction((tx) =>
        enqueueEvents(tx, [
          { kind: "machine.retired", key: machineKey("m-24h"), at: new Date(), data: { machineId: "m-24h", n: 1 } },
          { kind: "machine.retired", key: machineKey("m-24h"), at: new Date(), data: { machineId: "m-24h", n: 2 } },
        ]),
      );
      const [first, second] = await db.webhookDelivery.findMany({ where: { subscriptionId: subscription.id }, orderBy: { seq: "asc" } });
      firstId = first.eventId;
      // The first fails and is due again in 5 s; the second waits behind it.
      expect(await worker.drain()).toBe(1);
      const retried = await db.webhookDelivery.findUniqueOrThrow({ where: { id: first.id } });
      expect(retried).toMatchObject({ state: "pending", attempts: 1 });
      const wait = retried.nextAttemptAt.getTime() - retried.firstAttemptAt!.getTime();
      expect(wait).toBeGreaterThanOrEqual(5000);
      expect(wait).toBeLessThan(7000);
      expect(receiver.received.filter((r) => r.id === second.eventId)).toHaveLength(0);

      // 24 hours after its first attempt, the next failure is the last.
      await db.$executeRaw`UPDATE webhook_deliveries SET first_attempt_at = now() - interval '24 hours', next_attempt_at = now() WHERE id = ${first.id}`;
      expect(await worker.drain()).toBe(2);
      expect(await db.webhookDelivery.findUniqueOrThrow({ where: { id: first.id }, select: { state: true, attempts: true } })).toEqual({ state: "failed", attempts: 2 });
      expect(await db.webhookDelivery.findUniqueOrThrow({ where: { id: second.id }, select: { state: true } })).toEqual({ state: "delivered" });
      expect(receiver.received.filter((r) => r.id === first.eventId || r.id === second.eventId).map((r) => [r.data.n, r.status])).toEqual([
        [1, 500],
        [1, 500],
        [2, 204],
      ]);
    } finally {
      await (await adminCaller(true)).webhooks.remove({ id: subscription.id });
      app.webhooks.start();
    }
  });
});

describe("a long backlog behind a failing message", () => {
  it("costs a claim one pass over the pending index, not a search per message", async () => {
    const db = app.db.prisma;
    const { subscription } = await createWebhook(db, cliActor, { url: "http://127.0.0.1:9/nobody", events: ["machine.failed"] }, { allowPrivate: true }, app.secretBox);
    await app.webhooks.stop();
    const worker = new WebhookWorker(app.db, { log: app.log, allowPrivate: true, secrets: app.secretBox, timeoutMs: 1000, pollMs: 1000 });
    try {
      const n = 100_000;
      const events = Array.from({ length: n }, (_, i) => ({ kind: "machine.failed" as const, key: "rollout:stuck", at: new Date(), data: { i } }));
      for (let i = 0; i < n; i += 10_000) await db.$transaction((tx) => enqueueEvents(tx, events.slice(i, i + 10_000)));
      await app.db.pool.query("ANALYZE webhook_deliveries");
      // Nobody listens on port 9: the head fails and waits 5 s; the 99,999 behind it are not tried.
      expect(await worker.drain()).toBe(1);
      const times: number[] = [];
      for (let k = 0; k < 5; k++) {
        const started = performance.now();
        expect(await worker.drain()).toBe(0);
        times.push(performance.now() - started);
      }
      console.log(`webhooks: a pass of the worker over ${n} messages blocked behind one: ${times.map((t) => t.toFixed(1)).join(", ")} ms`);
      // A hang detector: a search per message (the first version of the claim) took 6 s at 10,000.
      expect(Math.max(...times)).toBeLessThan(2000);
      expect(await db.webhookAttempt.count({ where: { delivery: { subscriptionId: subscription.id } } })).toBe(1);
    } finally {
      await deleteWebhook(db, cliActor, { id: subscription.id });
      app.webhooks.start();
    }
  }, 120_000);
});

describe("a console killed in the middle of a delivery", () => {
  let db: Database;
  const slot = { value: null as Awaited<ReturnType<typeof consoleProcessSlot>> | null };

  afterAll(async () => {
    if (slot.value) await removeConsoleProcess(slot.value);
    await db?.close();
  });

  it("delivers it after the restart", async () => {
    const databaseUrl = await freshDatabaseUrl();
    db = await openDatabase({ databaseUrl, dataDir: os.tmpdir(), migrate: false });
    // The test seals the secret with the key it then gives the console process.
    const key = randomBytes(32);
    const { subscription, secret } = await createWebhook(db.prisma, cliActor, { url: receiverUrl, events: ["machine.retired"] }, { allowPrivate: true }, SecretBox.withKey(key, "the test"));
    receiver.secret = secret;
    let held = 0;
    receiver.answer = () => (held++ === 0 ? "hold" : 200);
    slot.value = await consoleProcessSlot(databaseUrl, {
      ORCHARD_ENCRYPTION_KEY: key.toString("base64"),
      ORCHARD_WEBHOOKS_ALLOW_PRIVATE: "1",
      ORCHARD_WEBHOOK_TIMEOUT_MS: "1000",
      ORCHARD_WEBHOOK_POLL_MS: "100",
    });
    await startConsoleProcess(slot.value);
    const { eventId } = await sendTestEvent(db.prisma, cliActor, { id: subscription.id });

    // The receiver holds the first request: the console is killed while it waits for the answer.
    await waitFor("the first attempt to reach the receiver", async () => receiver.received.some((r) => r.id === eventId), 30_000, 50);
    await killConsoleProcess(slot.value);
    const killedAt = Date.now();
    expect(await db.prisma.webhookDelivery.findFirstOrThrow({ where: { eventId }, select: { state: true, attempts: true } })).toEqual({
      state: "pending",
      attempts: 1,
    });

    await startConsoleProcess(slot.value);
    await waitFor(
      "the delivery after the restart",
      async () => (await db.prisma.webhookDelivery.findFirstOrThrow({ where: { eventId }, select: { state: true } })).state === "delivered",
      60_000,
      100,
    );
    const tries = receiver.received.filter((r) => r.id === eventId);
    expect(tries.map((t) => [t.status, t.refused])).toEqual([
      [0, null],
      [200, null],
    ]);
    const delivery = await db.prisma.webhookDelivery.findFirstOrThrow({ where: { eventId }, select: { state: true, attempts: true, tries: { select: { status: true } } } });
    expect(delivery).toEqual({ state: "delivered", attempts: 2, tries: [{ status: 200 }] });
    console.log(`webhooks: delivered ${tries[1].at - killedAt} ms after the kill (lease 2 s, restart included)`);
  }, 120_000);
});
