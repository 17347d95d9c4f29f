// The REST API over HTTP on real PostgreSQL: its OpenAPI document validates
// and is what the committed client types were generated from; a client
// generated from it (openapi-typescript + openapi-fetch) drives a three-ring
// rollout; and every route of the document × {no token, revoked, expired,
// viewer, operator of other rings, operator, admin} is refused or allowed as
// the procedure's role and ring scope say, the database unchanged after each
// refusal.
import { readFileSync } from "node:fs";
import SwaggerParser from "@apidevtools/swagger-parser";
import createClient from "openapi-fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatedApiFiles } from "../../scripts/api-types";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import type { paths } from "../../server/api/generated/api";
import { API_ROUTES, NOT_IN_API } from "../../server/api/routes";
import { procedureDef } from "../../server/api/schema";
import { cliActor } from "../../server/audit/audit";
import type { RingTarget } from "../../server/auth/scope";
import { appRouter } from "../../server/trpc/router";
import { roleAtLeast } from "../../server/users/users";
import type { Role } from "../../server/vocabulary";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { databaseFingerprint } from "../helpers/db-fingerprint";
import { REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

let app: TestConsole;
let sims: SimFleet;
const tokens = {} as Record<"admin" | "operator" | "viewer" | "otherRings" | "revoked" | "expired", string>;
const fleet: Record<string, SimMachine[]> = {};

async function token(name: string, role: Role, rings?: string[]) {
  return (await createApiToken(app.db.prisma, cliActor, { name, role, rings })).token;
}

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  sims = new SimFleet(app);
  tokens.admin = await token("pipeline-admin", "admin");
  tokens.operator = await token("pipeline", "operator");
  tokens.viewer = await token("dashboards", "viewer");
  const api = client(tokens.admin);
  for (const ring of ["canary", "beta", "stable", "lab"]) {
    const created = await api.POST("/rings", { body: { name: ring, branch: REF } });
    expect(created.response.status, JSON.stringify(created.error)).toBe(201);
  }
  tokens.otherRings = await token("lab-ops", "operator", ["lab"]);
  tokens.revoked = await token("old", "admin");
  const revokedId = (await app.db.prisma.apiToken.findUniqueOrThrow({ where: { name: "old" } })).id;
  expect((await api.POST("/api-tokens/{id}/revoke", { params: { path: { id: revokedId } } })).response.status).toBe(200);
  tokens.expired = await token("expired", "admin");
  await app.db.prisma.apiToken.update({ where: { name: "expired" }, data: { expiresAt: new Date(Date.now() - 1000) } });
});

afterAll(async () => {
  await app?.stop();
});

function client(bearer: string) {
  return createClient<paths>({ baseUrl: `${app.url}/api/v1`, headers: { authorization: `Bearer ${bearer}` } });
}

describe("the OpenAPI document", () => {
  it("validates as OpenAPI 3.1 and is what the committed client types come from", async () => {
    const served = (await (await fetch(`${app.url}/api/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(served.openapi).toBe("3.1.0");
    await SwaggerParser.validate(structuredClone(served) as never);
    for (const [path, text] of Object.entries(await generatedApiFiles())) {
      expect(readFileSync(path, "utf8"), `${path} is stale: npm run api:types`).toBe(text);
    }
  });

  it("covers every procedure of the console's router, or says why not", () => {
    const routed = new Set(API_ROUTES.map((r) => r.procedure));
    for (const path of Object.keys(appRouter._def.procedures)) {
      expect(routed.has(path) || path in NOT_IN_API, `${path} has no route`).toBe(true);
    }
  });
});

describe("a pipeline through the generated client", () => {
  it("registers releases, starts a three-ring rollout once however often it is retried, and follows it to the end", async () => {
    const api = client(tokens.operator);
    for (const [version, checksum] of [["1", hex("1")], ["2", hex("2")]]) {
      const added = await api.POST("/releases", { body: { ref: REF, version, checksum } });
      expect(added.response.status, JSON.stringify(added.error)).toBe(201);
    }
    for (const ring of ["canary", "beta", "stable"]) {
      const set = await api.PUT("/rings/{ring}/release", { params: { path: { ring } }, body: { version: "1" } });
      expect(set.response.status, JSON.stringify(set.error)).toBe(200);
      fleet[ring] = await sims.enroll(ring, ring === "canary" ? 2 : 6, hex("1"), `api-${ring}`);
    }
    const policy = await api.PATCH("/rings/{ring}", { params: { path: { ring: "stable" } }, body: { checkInIntervalSeconds: 120 } });
    expect(policy.response.status, JSON.stringify(policy.error)).toBe(200);

    const plan = { version: "2", rings: ["canary", "beta", "stable"], waves: [50, 100], soakSeconds: 60, minSample: 1, maxFailureRate: 0.2, darkAfterSeconds: 600 };
    const preview = await api.POST("/rollouts/preview", { body: plan });
    expect(preview.response.status, JSON.stringify(preview.error)).toBe(200);
    const headers = { "Idempotency-Key": "build-4711-rollout" };
    const first = await api.POST("/rollouts", { body: plan, params: { header: headers } });
    expect(first.response.status, JSON.stringify(first.error)).toBe(201);
    const again = await api.POST("/rollouts", { body: plan, params: { header: headers } });
    expect(again.response.status).toBe(201);
    expect(again.response.headers.get("idempotent-replayed")).toBe("true");
    const rolloutId = (first.data as { id: string }).id;
    expect((again.data as { id: string }).id).toBe(rolloutId);
    const other = await api.POST("/rollouts", { body: { ...plan, waves: [100] }, params: { header: headers } });
    expect(other.response.status).toBe(422);
    expect(other.error).toMatchObject({ field: "Idempotency-Key" });
    expect(await app.db.prisma.rollout.count()).toBe(1);

    let state = "running";
    for (let round = 0; round < 40 && state === "running"; round++) {
      await app.controller.stepRollout(rolloutId);
      const got = await api.GET("/rollouts/{rolloutId}", { params: { path: { rolloutId } } });
      expect(got.response.status).toBe(200);
      state = (got.data as { state: string }).state;
      await sims.round(Object.values(fleet).flat());
      app.clock.advance(61_000);
    }
    expect(state).toBe("completed");
    const done = (await api.GET("/rollouts/{rolloutId}", { params: { path: { rolloutId } } })).data as {
      rings: { ring: { name: string }; phase: string; waves: { open: boolean }[] }[];
    };
    expect(done.rings.map((r) => [r.ring.name, r.phase])).toEqual([["canary", "completed"], ["beta", "completed"], ["stable", "completed"]]);

    // The table's filters with cursor paging: every machine once.
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.GET("/machines", { params: { query: { version: "2", sort: "hostname", pageSize: 4, cursor } } });
      expect(page.response.status, JSON.stringify(page.error)).toBe(200);
      const body = page.data as { rows: { machineId: string }[]; nextCursor: string | null };
      seen.push(...body.rows.map((r) => r.machineId));
      cursor = body.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.sort()).toEqual(Object.values(fleet).flat().map((m) => m.machineId).sort());

    // Audit rows name the token.
    const audit = await client(tokens.admin).GET("/audit", { params: { query: { action: "rollout.start" } } });
    expect((audit.data as { rows: { actorLabel: string; tokenId: string | null }[] }).rows[0]).toMatchObject({ actorLabel: "token:pipeline" });
    const csv = await fetch(`${app.url}/api/v1/audit.csv?action=rollout.start`, { headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(await csv.text()).toContain('"token:pipeline","rollout.start"');
  });

  it("answers bad input as problem details naming the field, changing nothing", async () => {
    const before = await databaseFingerprint(app.db.pool, ["api_tokens"]);
    const res = await fetch(`${app.url}/api/v1/rollouts`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.operator}`, "content-type": "application/json" },
      body: JSON.stringify({ version: "2", rings: ["canary", "Not A Ring"] }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ status: 400, code: "INVALID", field: "rings[1]", issues: [{ path: "rings[1]" }] });
    const query = await fetch(`${app.url}/api/v1/machines?pageSize=lots`, { headers: { authorization: `Bearer ${tokens.viewer}` } });
    expect(await query.json()).toMatchObject({ status: 400, field: "pageSize" });
    const json = await fetch(`${app.url}/api/v1/releases`, { method: "POST", headers: { authorization: `Bearer ${tokens.operator}`, "content-type": "application/json" }, body: "{" });
    expect(await json.json()).toMatchObject({ status: 400, field: "body" });
    expect(await databaseFingerprint(app.db.pool, ["api_tokens"])).toBe(before);
  });
});

// ---- Every route × every kind of credential --------------------------------------------------

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content: { "application/json": { schema: { properties?: Record<string, unknown> } } } };
}

const CREDENTIALS = ["none", "revoked", "expired", "viewer", "otherRings", "operator", "admin"] as const;
type Credential = (typeof CREDENTIALS)[number];

/** What the procedure behind a route says this credential may do. */
function expected(procedure: string, credential: Credential): "unauthorized" | "forbidden" | "allowed" {
  if (credential === "none" || credential === "revoked" || credential === "expired") return "unauthorized";
  const meta = procedureDef(procedure)!._def.meta as { role: Role | null; rings?: RingTarget | RingTarget[] };
  const role: Role = credential === "otherRings" ? "operator" : credential;
  if (meta.role === null) return "allowed";
  if (!roleAtLeast(role, meta.role)) return "forbidden";
  if (credential === "otherRings") {
    const targets = meta.rings === undefined ? ["fleet"] : typeof meta.rings === "string" ? [meta.rings] : meta.rings;
    if (targets.some((t) => t !== "scoped" && t !== "none")) return "forbidden";
  }
  return "allowed";
}

describe("every route × every credential", () => {
  const document = JSON.parse(readFileSync("server/api/generated/openapi.json", "utf8")) as { paths: Record<string, Record<string, Operation>> };
  const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));

  /** A request aimed at ring canary: its name, a machine in it, the rollout over it. */
  async function requestFor(path: string, op: Operation) {
    const canaryMachine = fleet.canary?.[0]?.machineId ?? "api-canary-1";
    const rollout = await app.db.prisma.rollout.findFirst({ select: { id: true } });
    const user = await app.db.prisma.user.findFirst({ select: { id: true } });
    const values: Record<string, unknown> = {
      machineId: canaryMachine,
      ring: "canary",
      rolloutId: rollout?.id ?? "none",
      id: "none",
      userId: user?.id ?? "none",
      rings: ["canary"],
      machineIds: [canaryMachine],
    };
    const url = path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(String(values[name])));
    const properties = op.requestBody?.content["application/json"].schema.properties ?? {};
    const body = Object.fromEntries(Object.keys(properties).filter((k) => k in values).map((k) => [k, values[k]]));
    return { url, body };
  }

  it("refuses what the role and the rings do not allow, changing nothing, and allows the rest", async () => {
    const route = (path: string, method: string) => API_ROUTES.find((r) => r.path === path && r.method === method);
    const allowed: { path: string; method: string; credential: Credential }[] = [];
    expect(operations.length).toBeGreaterThan(50);
    for (const { path, method, op } of operations) {
      const procedure = route(path, method)?.procedure ?? "audit.list"; // /audit.csv follows the audit list's rule
      const { url, body } = await requestFor(path, op);
      for (const credential of CREDENTIALS) {
        const outcome = expected(procedure, credential);
        if (outcome === "allowed") {
          allowed.push({ path, method, credential });
          continue;
        }
        const before = await databaseFingerprint(app.db.pool, ["api_tokens"]);
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (credential !== "none") headers.authorization = `Bearer ${tokens[credential]}`;
        const res = await fetch(`${app.url}/api/v1${url}`, { method, headers, body: method === "GET" || method === "DELETE" ? undefined : JSON.stringify(body) });
        const what = `${method} ${path} × ${credential}`;
        expect(res.status, what).toBe(outcome === "unauthorized" ? 401 : 403);
        expect(res.headers.get("content-type"), what).toBe("application/problem+json");
        expect(await databaseFingerprint(app.db.pool, ["api_tokens"]), `${what} changed the database`).toBe(before);
      }
    }
    // The allowed calls last (they change things): never refused for who they are.
    for (const { path, method, credential } of allowed) {
      const { url, body } = await requestFor(path, operations.find((o) => o.path === path && o.method === method)!.op);
      const res = await fetch(`${app.url}/api/v1${url}`, {
        method,
        headers: { authorization: `Bearer ${tokens[credential as Exclude<Credential, "none">]}`, "content-type": "application/json" },
        body: method === "GET" || method === "DELETE" ? undefined : JSON.stringify(body),
      });
      expect([401, 403, 500], `${method} ${path} × ${credential} → ${res.status}`).not.toContain(res.status);
    }
  });
});
