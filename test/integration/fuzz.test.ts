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
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { databaseFingerprint } from "../helpers/db-fingerprint";

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

describe("fuzzing every tRPC input", () => {
  const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>);
  it(`${procedures.length} procedures: bad input is refused as BAD_REQUEST and changes nothing`, async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const caller = createCaller({ db: app.db, clock: app.clock, user: { id: admin.id, email: admin.email, role: "admin" } });
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
