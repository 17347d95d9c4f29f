// Property-based fuzzing of every agent route and every tRPC input: thousands
// of generated bodies — wrong types, huge strings, deep nesting, invalid
// UTF-8, wrong content types. What must hold: no 5xx, every 4xx carries the
// spec's error body, and the database is byte-for-byte unchanged after each
// rejected request.
import fc from "fast-check";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { appRouter, createCaller } from "../../server/trpc/router";
import { call, checkinBody, enrollBody, hex } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole, userPrincipal } from "../helpers/console";
import { databaseFingerprint } from "../helpers/db-fingerprint";

/** A NUL character, halves of surrogate pairs, alone or inside text. */
const UNSTORABLE_VALUES = ["\u0000", "kiosk\u0000", "\ud800", "x\udc00y", "\udbff\u0000\udfff"];
const EXTREME_TIMES = ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"];

let app: TestConsole;
let machineToken: string;
let enrollToken: string;
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const figures = { requests: 0, rejected: 0, accepted: 0, fiveHundreds: 0, changedOnReject: 0 };

beforeAll(async () => {
  app = await startTestConsole();
  const db = app.db.prisma;
  await createRing(db, cliActor, { name: "canary", branch: "exampleos/x86_64/stable" });
  await addRelease(db, cliActor, { ref: "exampleos/x86_64/stable", checksum: hex("a"), version: "1" });
  await setRingRelease(db, cliActor, { ring: "canary", version: "1" });
  enrollToken = await enrollmentToken(app, { ring: "canary" });
  const res = await call<{ token: string }>(app.url, "POST", "/enroll", { token: enrollToken, body: enrollBody("fuzz-1") });
  machineToken = res.body.token;
  // On its way to the ring's release: a reboot slot is what the console wants for it.
  const staged = checkinBody(1, { state: "staged" });
  staged.update.targetChecksum = hex("a") as never;
  await call(app.url, "POST", "/checkin", { token: machineToken, body: staged });
});

afterAll(async () => {
  await app?.stop();
  console.log(`fuzz figures: ${JSON.stringify(figures)}`);
});

/** Values of any shape, including deep nesting and long strings. */
const junk = fc.oneof(
  fc.anything({ maxDepth: 6, withBigInt: false, withNullPrototype: false }),
  fc.string({ maxLength: 5000 }),
  fc.letrec((tie) => ({ deep: fc.oneof({ depthSize: "small" }, fc.constant(null), fc.tuple(tie("deep"))) })).deep,
  fc.constantFrom(-1, 2 ** 60, Number.NaN, "", "💥".repeat(100), { __proto__: { seq: 1 } }, [], {}),
  // Text PostgreSQL cannot store, and times outside the years it keeps (an agent's broken clock).
  fc.constantFrom(...UNSTORABLE_VALUES, ...EXTREME_TIMES),
  fc.tuple(fc.string({ maxLength: 20 }), fc.constantFrom(...UNSTORABLE_VALUES)).map(([a, b]) => a + b),
);

/** A valid body with one field (possibly nested) replaced by junk, or dropped. */
function mutated(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  if (paths(valid).length === 0) return junk;
  return fc.tuple(fc.constantFrom(...paths(valid)), junk, fc.boolean()).map(([path, value, drop]) => {
    const copy = structuredClone(valid) as Record<string, unknown>;
    let target: Record<string, unknown> = copy;
    for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
    if (drop) delete target[path.at(-1)!];
    else target[path.at(-1)!] = value;
    return copy;
  });
}

function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object") return [prefix];
  return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))].filter((p) => p.length > 0);
}

type Body = { kind: "json"; value: unknown } | { kind: "raw"; bytes: Uint8Array; contentType: string };

const bodies = (valid: Record<string, unknown>): fc.Arbitrary<Body> =>
  fc.oneof(
    mutated(valid).map((value) => ({ kind: "json" as const, value })),
    junk.map((value) => ({ kind: "json" as const, value })),
    fc.record({
      kind: fc.constant("raw" as const),
      bytes: fc.uint8Array({ maxLength: 300 }).map((b) => Uint8Array.from([0xff, 0xfe, ...b])), // not UTF-8
      contentType: fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"),
    }),
  );

async function send(method: string, route: string, token: string | undefined, body: Body) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body.kind === "json") {
    const text = JSON.stringify(body.value);
    payload = text === undefined ? "" : text;
    headers["content-type"] = "application/json";
  } else {
    payload = Buffer.from(body.bytes);
    headers["content-type"] = body.contentType;
  }
  const res = await fetch(`${app.url}/api/agent/v1${route}`, { method, headers, body: payload });
  const text = await res.text();
  return { status: res.status, text };
}

async function judge(status: number, text: string, before: string) {
  figures.requests++;
  expect(status, text).toBeLessThan(500);
  if (status >= 500) figures.fiveHundreds++;
  if (status === 409) {
    // The reboot lock's refusal is an answer of its own (the ring is full, or the console does not want the reboot).
    figures.rejected++;
    expect(JSON.parse(text)).toMatchObject({ granted: false, retryAfterSeconds: expect.any(Number), reason: expect.any(String) });
    expect(await databaseFingerprint(app.db.pool)).toBe(before);
    return before;
  }
  if (status >= 400) {
    figures.rejected++;
    const parsed = JSON.parse(text) as { error: { code: string; message: string } };
    expect(Object.keys(parsed)).toEqual(["error"]);
    expect(parsed.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    const after = await databaseFingerprint(app.db.pool);
    if (after !== before) figures.changedOnReject++;
    expect(after).toBe(before);
    return before;
  }
  figures.accepted++;
  return databaseFingerprint(app.db.pool);
}

describe("fuzzing the agent routes", () => {
  const routes: [string, string, () => string | undefined, Record<string, unknown>][] = [
    ["POST", "/enroll", () => enrollToken, enrollBody("fuzz-new")],
    ["POST", "/checkin", () => machineToken, checkinBody(1_000_000)],
    ["POST", "/events", () => machineToken, { events: [{ id: "e1", at: "2026-11-25T17:03:10Z", type: "update.staged", checksum: hex("a"), detail: "x" }] }],
    ["POST", "/reboot-lock", () => machineToken, { checksum: hex("a") }],
    ["DELETE", "/reboot-lock", () => machineToken, {}],
  ];
  for (const [method, route, token, valid] of routes) {
    it(`${method} ${route}: no 5xx, spec error bodies, nothing changed by rejected requests`, async () => {
      let fingerprint = await databaseFingerprint(app.db.pool);
      await fc.assert(
        fc.asyncProperty(bodies(valid), fc.boolean(), async (body, withToken) => {
          // Flush coalesced last-seen writes first, so the fingerprint sees only this request's effect.
          await app.agents.flushLastSeen();
          fingerprint = await databaseFingerprint(app.db.pool);
          const res = await send(method, route, withToken ? token() : undefined, body);
          await app.agents.flushLastSeen();
          fingerprint = await judge(res.status, res.text, fingerprint);
        }),
        { numRuns: RUNS },
      );
    }, 300_000);
  }
});

describe("text and times that cannot be stored", () => {
  /** Every text field of every agent route, and every agent time, set to each bad value in turn. */
  const cases: [string, string, () => string, Record<string, unknown>, string[]][] = [
    ["POST", "/enroll", () => enrollToken, enrollBody("text-1", { labels: { site: "x" }, os: { id: "x", versionId: "1", arch: "x86_64" } }), [
      "hostname", "agentVersion", "labels.site", "os.id", "os.versionId", "os.arch",
    ]],
    ["POST", "/checkin", () => machineToken, { ...checkinBody(2_000_000), health: { status: "healthy", checks: [{ name: "c", status: "pass", output: "o" }] } }, [
      "bootId", "agentVersion", "deployments.0.version", "update.error", "health.checks.0.name", "health.checks.0.output",
    ]],
    ["POST", "/events", () => machineToken, { events: [{ id: "t1", at: "2026-11-25T17:03:10Z", type: "health.failed", detail: "x" }] }, ["events.0.detail"]],
  ];
  it("no 5xx from any of them: refused with the field's name, or cleaned and stored", async () => {
    const answers: Record<number, number> = {};
    let n = 0;
    for (const [method, route, token, valid, fields] of cases) {
      for (const field of fields) {
        for (const value of UNSTORABLE_VALUES) {
          const body = structuredClone(valid) as Record<string, unknown>;
          const keys = field.split(".");
          let target = body as Record<string, unknown>;
          for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
          target[keys.at(-1)!] = value;
          if (route === "/checkin") (body as { seq: number }).seq += ++n;
          if (route === "/events") (body as { events: { id: string }[] }).events[0].id = `text-${++n}`;
          // Last-seen times are written in batches: flushed first, none lands between the fingerprints.
          await app.agents.flushLastSeen();
          const before = await databaseFingerprint(app.db.pool);
          const res = await send(method, route, token(), { kind: "json", value: body });
          answers[res.status] = (answers[res.status] ?? 0) + 1;
          expect(res.status, `${route} ${field}=${JSON.stringify(value)}: ${res.text}`).toBeLessThan(500);
          if (res.status === 400) {
            expect(JSON.parse(res.text).error.message, field).toMatch(new RegExp(`^${field.split(".").map((k) => (/^\d+$/.test(k) ? `\\[${k}\\]` : `\\.?${k}`)).join("")}`));
            expect(await databaseFingerprint(app.db.pool)).toBe(before);
          }
        }
      }
    }
    // Event times from a broken clock are kept within what the console stores.
    for (const [i, at] of EXTREME_TIMES.entries()) {
      const res = await send("POST", "/events", machineToken, { kind: "json", value: { events: [{ id: `clock-${i}`, at, type: "agent.started" }] } });
      expect(res.status, res.text).toBe(200);
    }
    const stored = await app.db.prisma.agentEvent.findMany({ where: { eventId: { startsWith: "clock-" } }, select: { at: true } });
    expect(stored.map((e) => e.at.getUTCFullYear()).sort()).toEqual([1970, 1970, 9999]);
    console.log(`text and times: answers ${JSON.stringify(answers)}`);
  });

  it("console inputs and the CSV export refuse them with the field's name, changing nothing", async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const caller = createCaller({ db: app.db, clock: app.clock, principal: userPrincipal(admin) });
    // The agent requests before this one left last-seen times to write: written now, not between the fingerprints.
    await app.agents.flushLastSeen();
    const before = await databaseFingerprint(app.db.pool);
    for (const value of UNSTORABLE_VALUES) {
      for (const [call, field] of [
        [() => caller.machines.list({ q: value }), "q"],
        [() => caller.releases.page({ q: value }), "q"],
        [() => caller.audit.list({ actor: value }), "actor"],
        [() => caller.rollouts.machines({ rolloutId: "r", ring: value }), "ring"],
        [() => caller.rings.create({ name: "ok", branch: "exampleos/x86_64/stable", reason: value } as never), "reason"],
      ] as const) {
        await expect(call(), `${field}=${JSON.stringify(value)}`).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(new RegExp(`^${field}: `)) });
      }
    }
    await expect(caller.audit.list({ from: new Date("0000-06-01T00:00:00Z") })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect(await databaseFingerprint(app.db.pool)).toBe(before);
    // LIKE's wildcards in a search match only themselves.
    expect((await caller.machines.list({ q: "fuzz" })).total).toBeGreaterThan(0);
    for (const q of ["_", "%", "fuzz%1", "f_zz"]) expect((await caller.machines.list({ q })).total, q).toBe(0);
    expect((await caller.releases.page({ q: "_" })).total).toBe(0);
  });
});

describe("fuzzing every tRPC input", () => {
  const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>);
  it(`${procedures.length} procedures: bad input is refused as BAD_REQUEST and changes nothing`, async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const caller = createCaller({ db: app.db, clock: app.clock, principal: userPrincipal(admin) });
    let fingerprint = await databaseFingerprint(app.db.pool);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...procedures.map(([path]) => path)), junk, async (path, input) => {
        let target: unknown = caller;
        for (const part of path.split(".")) target = (target as Record<string, unknown>)[part];
        let outcome: "ok" | string;
        try {
          await (target as (input: unknown) => Promise<unknown>)(input);
          outcome = "ok";
        } catch (error) {
          expect(error).toBeInstanceOf(TRPCError);
          outcome = (error as TRPCError).code;
        }
        figures.requests++;
        expect(outcome, `${path} ${JSON.stringify(input)?.slice(0, 200)}`).not.toBe("INTERNAL_SERVER_ERROR");
        if (outcome === "ok") {
          figures.accepted++;
          fingerprint = await databaseFingerprint(app.db.pool);
        } else {
          figures.rejected++;
          expect(await databaseFingerprint(app.db.pool)).toBe(fingerprint);
        }
      }),
      { numRuns: RUNS * 3 },
    );
  }, 300_000);
});
