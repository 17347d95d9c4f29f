// Idempotency-Keys of the REST API over time: within a day a retry gets the
// first answer and another request with the key is refused; after a day the
// key is free again, before the periodic sweep has deleted it as after; the
// sweep deletes expired keys only.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepIdempotencyKeys } from "../../server/api/handler";
import { PeriodicJob } from "../../server/jobs/periodic-job";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { startTestConsole, type TestConsole } from "../helpers/console";

let app: TestConsole;
let token: string;

beforeAll(async () => {
  app = await startTestConsole();
  token = (await createApiToken(app.db.prisma, cliActor, { name: "pipeline", role: "admin" })).token;
});

afterAll(async () => {
  await app?.stop();
});

const DAY_MS = 24 * 3600 * 1000;

/** Creates an enrollment token (names need not be unique) with an Idempotency-Key. */
async function create(key: string, name: string) {
  const res = await fetch(`${app.url}/api/v1/enrollment-tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ name }),
  });
  const body = (await res.json()) as { record?: { id: string }; field?: string };
  return { status: res.status, replayed: res.headers.get("idempotent-replayed") === "true", id: body.record?.id, body };
}

describe("Idempotency-Keys over time", () => {
  it("replays within a day, is free again after it whether or not the sweep has run, and the sweep deletes only expired keys", async () => {
    const first = await create("build-1", "ci");
    expect(first).toMatchObject({ status: 201, replayed: false });
    app.clock.advance(DAY_MS - 60_000);
    expect(await create("build-1", "ci")).toMatchObject({ status: 201, replayed: true, id: first.id });
    expect(await create("build-1", "other")).toMatchObject({ status: 422, body: { field: "Idempotency-Key" } });

    // A day and a minute later, not swept yet: the same request acts again, and so does another one.
    app.clock.advance(2 * 60_000);
    expect(await app.db.prisma.idempotencyKey.count({ where: { key: "build-1" } })).toBe(1);
    const again = await create("build-1", "ci");
    expect(again).toMatchObject({ status: 201, replayed: false });
    expect(again.id).not.toBe(first.id);
    expect(await create("build-1", "ci")).toMatchObject({ status: 201, replayed: true, id: again.id });
    app.clock.advance(DAY_MS + 60_000);
    const other = await create("build-1", "other");
    expect(other).toMatchObject({ status: 201, replayed: false });
    expect(await app.db.prisma.enrollmentToken.count()).toBe(3);

    // The sweep: a key from more than a day ago goes, today's stays.
    const fresh = await create("build-2", "ci");
    expect(fresh.status).toBe(201);
    app.clock.advance(DAY_MS + 60_000);
    const latest = await create("build-3", "ci");
    expect(latest.status).toBe(201);
    expect(await sweepIdempotencyKeys(app.db, app.clock.now())).toBe(2);
    expect((await app.db.prisma.idempotencyKey.findMany({ select: { key: true } })).map((k) => k.key)).toEqual(["build-3"]);
  });

  it("sweeps when it starts and then on its timer (the console's job, on a short interval)", async () => {
    app.clock.advance(DAY_MS + 60_000);
    const sweeper = new PeriodicJob({ name: "sweeping expired idempotency keys", intervalMs: 50, log: app.log, step: () => sweepIdempotencyKeys(app.db, app.clock.now()) });
    sweeper.start();
    try {
      const deadline = Date.now() + 30_000;
      while ((await app.db.prisma.idempotencyKey.count()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await app.db.prisma.idempotencyKey.count()).toBe(0);
      expect((await create("build-4", "ci")).status).toBe(201);
      app.clock.advance(DAY_MS + 60_000);
      while ((await app.db.prisma.idempotencyKey.count()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await app.db.prisma.idempotencyKey.count()).toBe(0);
    } finally {
      await sweeper.stop();
    }
  });
});
