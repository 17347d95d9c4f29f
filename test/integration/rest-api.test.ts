// The REST API over HTTP on real PostgreSQL: its OpenAPI document validates
// and is what the committed client types were generated from; a client
// generated from it (openapi-typescript + openapi-fetch) drives a three-ring
// rollout; and every route of the document × {no token, revoked, expired,
// viewer, operator of other rings, operator, admin} is refused or allowed as
// the procedure's role and ring scope say, the database unchanged after each
// refusal. Every answer the client gets is checked against the document's
// response schema (test/helpers/answer-check.ts), and every operation the
// document describes gets a real answer checked.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import SwaggerParser from "@apidevtools/swagger-parser";
import createClient from "openapi-fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatedApiFiles } from "../../scripts/api-types";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import type { paths } from "../../server/api/generated/api";
import { API_ROUTES, NOT_IN_API } from "../../server/api/routes";
import { outputSchemaOf, procedureDef } from "../../server/api/schema";
import { cliActor } from "../../server/audit/audit";
import type { RingTarget } from "../../server/auth/scope";
import { appRouter } from "../../server/trpc/router";
import { roleAtLeast } from "../../server/users/users";
import type { Role } from "../../server/vocabulary";
import { hex } from "../helpers/agent-http";
import { answerChecker, type OpenApi, watchDroppedFields } from "../helpers/answer-check";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { databaseFingerprint } from "../helpers/db-fingerprint";
import { REF, SimFleet, type SimMachine } from "../helpers/sim-machines";

let app: TestConsole;
let sims: SimFleet;
let answers: ReturnType<typeof answerChecker>;
let drops: ReturnType<typeof watchDroppedFields>;
const tokens = {} as Record<"admin" | "operator" | "viewer" | "otherRings" | "revoked" | "expired", string>;
const fleet: Record<string, SimMachine[]> = {};

async function token(name: string, role: Role, rings?: string[]) {
  return (await createApiToken(app.db.prisma, cliActor, { name, role, rings })).token;
}

beforeAll(async () => {
  // Webhooks to 127.0.0.1: a subscription is created (and its test event sent) against a port nobody answers.
  app = await startTestConsole({ ORCHARD_WEBHOOKS_ALLOW_PRIVATE: "true" }, { controller: false });
  answers = answerChecker((await (await fetch(`${app.url}/api/v1/openapi.json`)).json()) as OpenApi);
  // The console runs in this process: its procedures' output checks report any field a schema drops.
  drops = watchDroppedFields(appRouter._def.procedures as never);
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

/** The generated client, every success answer checked against the document's schema for it. */
function client(bearer: string) {
  const api = createClient<paths>({ baseUrl: `${app.url}/api/v1`, headers: { authorization: `Bearer ${bearer}` } });
  api.use({
    async onResponse({ request, response, schemaPath }) {
      if (response.ok && response.headers.get("content-type")?.startsWith("application/json")) {
        answers.check(request.method, schemaPath, response.status, await response.clone().json());
      }
      return response;
    },
  });
  return api;
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
    const rolloutId = first.data!.id;
    expect(again.data!.id).toBe(rolloutId);
    const other = await api.POST("/rollouts", { body: { ...plan, waves: [100] }, params: { header: headers } });
    expect(other.response.status).toBe(422);
    expect(other.error).toMatchObject({ field: "Idempotency-Key" });
    expect(await app.db.prisma.rollout.count()).toBe(1);

    let state = "running";
    for (let round = 0; round < 40 && state === "running"; round++) {
      await app.controller.stepRollout(rolloutId);
      const got = await api.GET("/rollouts/{rolloutId}", { params: { path: { rolloutId } } });
      expect(got.response.status).toBe(200);
      state = got.data!.state;
      await sims.round(Object.values(fleet).flat());
      app.clock.advance(61_000);
    }
    expect(state).toBe("completed");
    const done = (await api.GET("/rollouts/{rolloutId}", { params: { path: { rolloutId } } })).data!;
    expect(done.rings.map((r) => [r.ring.name, r.phase])).toEqual([["canary", "completed"], ["beta", "completed"], ["stable", "completed"]]);

    // The table's filters with cursor paging: every machine once.
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.GET("/machines", { params: { query: { version: "2", sort: "hostname", pageSize: 4, cursor } } });
      expect(page.response.status, JSON.stringify(page.error)).toBe(200);
      seen.push(...page.data!.rows.map((r) => r.machineId));
      cursor = page.data!.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.sort()).toEqual(Object.values(fleet).flat().map((m) => m.machineId).sort());

    // Audit rows name the token.
    const audit = await client(tokens.admin).GET("/audit", { params: { query: { action: "rollout.start" } } });
    expect(audit.data!.rows[0]).toMatchObject({ actorLabel: "token:pipeline" });
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

describe("answers as the document describes them", () => {
  /** A call's status, with the problem's detail when it is not the one expected. */
  const ok = (r: { response: Response; error?: unknown }, status = 200) => expect(r.response.status, `${r.response.url} ${JSON.stringify(r.error)}`).toBe(status);

  it("every operation with a response schema answers as it says (each answer checked by the client)", async () => {
    const admin = client(tokens.admin);
    const op = client(tokens.operator);
    const viewer = client(tokens.viewer);
    const [one, two, three] = fleet.beta;
    const machine = { params: { path: { machineId: one.machineId } } };

    ok(await viewer.GET("/me"));
    ok(await viewer.GET("/machines/{machineId}", machine));
    ok(await viewer.GET("/machines/{machineId}/timeline", { params: { path: { machineId: one.machineId }, query: { limit: 5 } } }));
    ok(await viewer.GET("/machines/{machineId}/unpin-preview", machine));
    ok(await op.POST("/machines/{machineId}/pin", { ...machine, body: { version: "2" } }));
    ok(await op.POST("/machines/{machineId}/unpin", { ...machine, body: {} }));
    ok(await op.POST("/machines/{machineId}/rollback", { ...machine, body: {} }));
    ok(await op.PATCH("/machines/{machineId}/labels", { ...machine, body: { set: { site: "ams" } } }));
    ok(await op.POST("/machines/{machineId}/allow-reenroll", { ...machine, body: {} }));
    // A DDI device (server/ddi/), enrolled by its first poll with a gateway token (an enrollment token of its ring).
    const gateway = await enrollmentToken(app, { ring: "lab" });
    expect((await fetch(`${app.url}/ddi/DEFAULT/controller/v1/rest-ddi-1`, { headers: { authorization: `GatewayToken ${gateway}` } })).status).toBe(200);
    ok(await op.POST("/machines/{machineId}/target-token", { params: { path: { machineId: "rest-ddi-1" } }, body: {} }));
    // A reboot slot the second machine holds.
    const held = await app.db.prisma.machine.findUniqueOrThrow({ where: { machineId: two.machineId }, select: { id: true, ringId: true } });
    await app.db.prisma.rebootLease.create({ data: { machineId: held.id, ringId: held.ringId, expiresAt: new Date(app.clock.now().getTime() + 600_000) } });
    ok(await viewer.GET("/reboot-leases"));
    ok(await op.POST("/machines/{machineId}/free-reboot-slot", { params: { path: { machineId: two.machineId } }, body: {} }));
    const some = [two.machineId, three.machineId];
    ok(await op.POST("/machine-actions/pin", { body: { machineIds: some, version: "2" } }));
    ok(await op.POST("/machine-actions/unpin", { body: { machineIds: some } }));
    ok(await op.POST("/machine-actions/rollback", { body: { machineIds: [three.machineId] } }));
    ok(await op.POST("/machine-actions/move", { body: { machineIds: [three.machineId], ring: "lab" } }));
    ok(await op.POST("/machines/{machineId}/retire", { params: { path: { machineId: three.machineId } }, body: {} }));

    ok(await viewer.GET("/rings"));
    ok(await op.POST("/rings/{ring}/reshuffle", { params: { path: { ring: "lab" } }, body: {} }));
    // A ring's app set (protocol v1.2): an app added, listed, pinned on a machine, unpinned, taken out.
    const kiosk = "app/org.example.Kiosk/x86_64/stable";
    const lab = { params: { path: { ring: "lab" } } };
    ok(await op.POST("/releases", { body: { ref: kiosk, version: "k1", checksum: hex("c") } }), 201);
    ok(await op.PUT("/rings/{ring}/apps", { ...lab, body: { ref: kiosk, version: "k1", remote: { name: "kiosk", url: "https://apps.example.com/repo" } } }));
    ok(await viewer.GET("/rings/{ring}/apps", lab));
    ok(await viewer.GET("/dashboard/app-versions"));
    ok(await viewer.GET("/machines/{machineId}/apps", machine));
    ok(await op.POST("/machines/{machineId}/pin-app", { ...machine, body: { ref: kiosk, version: "k1" } }));
    ok(await op.POST("/machines/{machineId}/unpin-app", { ...machine, body: { ref: kiosk } }));
    ok(await op.DELETE("/rings/{ring}/apps", { params: { path: { ring: "lab" }, query: { ref: kiosk } } }));
    // Bad input names the field (problem+json), never a 500.
    const bad = await op.PUT("/rings/{ring}/apps", { ...lab, body: { ref: "runtime/org.example.Platform/x86_64/1.0", version: "k1" } });
    expect(bad.response.status).toBe(400);
    expect(JSON.stringify(bad.error)).toContain("ref");
    // A ring made, renamed, moved first and removed.
    ok(await admin.POST("/rings", { body: { name: "tour-x", branch: REF } }), 201);
    ok(await op.POST("/rings/{ring}/rename", { params: { path: { ring: "tour-x" } }, body: { name: "tour-y" } }));
    ok(await op.POST("/ring-order", { body: { ring: "tour-y", before: "canary" } }));
    ok(await op.DELETE("/rings/{ring}", { params: { path: { ring: "tour-y" } } }));
    ok(await op.POST("/releases", { body: { ref: REF, version: "3", checksum: hex("3") } }), 201);
    ok(await viewer.GET("/releases", { params: { query: { pageSize: 5 } } }));
    ok(await viewer.GET("/releases/all"));
    ok(await viewer.GET("/releases/one", { params: { query: { version: "2" } } }));
    ok(await viewer.GET("/releases/changed-paths", { params: { query: { version: "2", change: "A" } } }));
    ok(await viewer.GET("/branches"));
    ok(await op.POST("/releases/floor", { body: { version: "2", floor: true, reason: "migrates the data" } }));
    ok(await op.POST("/releases/block-path", { body: { from: ["1"], to: "3" } }));
    ok(await viewer.GET("/branches/graph", { params: { query: { ref: REF } } }));
    ok(await op.POST("/releases/unblock-path", { body: { from: ["1"], to: "3" } }));
    ok(await op.POST("/releases/floor", { body: { version: "2", floor: false } }));
    // A release's artifact: uploaded (the streaming route, its answer checked by hand), listed, downloaded, removed.
    const releaseId = (await app.db.prisma.release.findFirstOrThrow({ where: { version: "3" }, select: { id: true } })).id;
    const bytes = Buffer.from("an update bundle");
    const uploaded = await fetch(`${app.url}/api/v1/releases/${releaseId}/artifacts/tour.swu`, {
      method: "PUT",
      headers: { authorization: `Bearer ${tokens.operator}`, "x-checksum-sha256": createHash("sha256").update(bytes).digest("hex") },
      body: new Uint8Array(bytes),
    });
    expect(uploaded.status).toBe(201);
    expect(answers.check("PUT", "/releases/{releaseId}/artifacts/{name}", 201, await uploaded.json())).toBe(true);
    const artifact = { params: { path: { releaseId, name: "tour.swu" } } };
    ok(await viewer.GET("/releases/{releaseId}/artifacts", { params: { path: { releaseId } } }));
    ok(await op.DELETE("/releases/{releaseId}/artifacts/{name}", artifact));
    // A release source whose repository is not there: added, read, changed, synced (the pass fails, and says why), removed.
    const source = { params: { path: { source: "tour-source" } } };
    const config = { kind: "ostree" as const, url: "file:///nonexistent/orchard-repo", ref: REF, key: { type: "ed25519" as const, publicKey: Buffer.alloc(32, 7).toString("base64") } };
    ok(await op.POST("/sources", { body: { name: "tour-source", branch: REF, config, enabled: false } }), 201);
    ok(await viewer.GET("/sources"));
    ok(await viewer.GET("/sources/{source}", source));
    ok(await op.PATCH("/sources/{source}", { ...source, body: { pollIntervalSeconds: 600 } }));
    const synced = await op.POST("/sources/sync", { body: { source: "tour-source" } });
    ok(synced);
    expect(synced.data).toMatchObject([{ source: "tour-source", ok: false }]);
    ok(await op.DELETE("/sources/{source}", source));

    // A rollout over two rings with no machines, approved between them: approve, pause, resume, abort, revert.
    for (const name of ["tour-a", "tour-b"]) ok(await admin.POST("/rings", { body: { name, branch: REF } }), 201);
    const started = await op.POST("/rollouts", { body: { version: "3", rings: ["tour-a", "tour-b"], approveBetween: true, soakSeconds: 0 } });
    ok(started, 201);
    const rolloutId = started.data!.id;
    const rollout = { params: { path: { rolloutId } } };
    for (let step = 0; step < 10 && (await viewer.GET("/rollouts/{rolloutId}", rollout)).data!.state === "running"; step++) {
      await app.controller.stepRollout(rolloutId);
    }
    expect((await viewer.GET("/rollouts/{rolloutId}", rollout)).data!.state).toBe("awaiting_approval");
    ok(await op.POST("/rollouts/{rolloutId}/approve", { ...rollout, body: {} }));
    ok(await op.POST("/rollouts/{rolloutId}/pause", { ...rollout, body: { reason: "a look first" } }));
    ok(await op.POST("/rollouts/{rolloutId}/resume", { ...rollout, body: {} }));
    ok(await viewer.GET("/rollouts"));
    ok(await viewer.GET("/rollouts/{rolloutId}/machines", rollout));
    ok(await viewer.GET("/rollouts/{rolloutId}/comparison", rollout));
    ok(await viewer.GET("/rollouts/{rolloutId}/action-preview", rollout));
    ok(await op.POST("/rollouts/{rolloutId}/abort", { ...rollout, body: {} }));
    ok(await op.POST("/rollouts/{rolloutId}/revert", { ...rollout, body: {} }));
    ok(await viewer.GET("/releases/brake-preview", { params: { query: { version: "3" } } }));
    ok(await op.POST("/releases/brake", { body: { version: "3" } }));
    ok(await op.POST("/releases/lift-quarantine", { body: { version: "3", reason: "the fix is in" } }));

    const enrollment = await admin.POST("/enrollment-tokens", { body: { name: "tour", ring: "lab", labels: { site: "ams" } } });
    ok(enrollment, 201);
    ok(await admin.GET("/enrollment-tokens"));
    ok(await admin.POST("/enrollment-tokens/{id}/revoke", { params: { path: { id: enrollment.data!.record.id } } }));
    const user = await admin.POST("/users", { body: { email: "tour@example.com", role: "viewer", rings: ["lab"] } });
    ok(user, 201);
    const userId = { params: { path: { userId: user.data!.user.id } } };
    ok(await admin.GET("/users"));
    ok(await admin.GET("/users/by-email/{email}", { params: { path: { email: "tour@example.com" } } }));
    ok(await admin.GET("/users/sign-in-methods"));
    ok(await admin.PATCH("/users/{userId}", { ...userId, body: { role: "operator" } }));
    ok(await admin.DELETE("/users/{userId}", userId));
    ok(await admin.POST("/api-tokens", { body: { name: "tour", role: "viewer", rings: ["lab"], expiresInDays: 1 } }), 201);
    ok(await admin.GET("/api-tokens"));
    const hook = await admin.POST("/webhooks", { body: { url: "http://127.0.0.1:9/hook", events: ["rollout.started"] } });
    ok(hook, 201);
    const hookId = { params: { path: { id: hook.data!.subscription.id } } };
    ok(await admin.POST("/webhooks/{id}/test", hookId), 201);
    ok(await admin.POST("/webhooks/{id}/rotate-secret", hookId), 201);
    ok(await admin.GET("/webhooks"));
    ok(await admin.GET("/webhooks/{id}/deliveries", hookId));
    ok(await admin.PATCH("/webhooks/{id}", { ...hookId, body: { enabled: false } }));
    ok(await admin.DELETE("/webhooks/{id}", hookId));
    ok(await viewer.GET("/dashboard"));
    ok(await admin.GET("/audit", { params: { query: { pageSize: 200 } } }));

    const unchecked = [...answers.described].filter((operation) => !answers.checked.has(operation));
    expect(unchecked, "operations whose answers no test checked").toEqual([]);
    // Nothing a domain function returned was left out of its answer by a schema that does not list it.
    expect(drops.watched).toBeGreaterThan(60);
    expect([...drops.dropped], "fields the domain returns and the output schema drops").toEqual([]);
  });

  it("refuses an answer that is not what its schema says: a field missing, one too many, a time that is not an ISO string", async () => {
    const got = await client(tokens.viewer).GET("/machines/{machineId}", { params: { path: { machineId: fleet.canary[0].machineId } } });
    ok(got);
    const check = (body: unknown) => () => answers.check("GET", "/machines/{machineId}", 200, body);
    expect(check(got.data)).not.toThrow();
    const { hostname: _hostname, ...missing } = got.data!;
    expect(check(missing)).toThrow(/hostname/);
    expect(check({ ...got.data, nickname: "x" })).toThrow(/additional/);
    expect(check({ ...got.data, enrolledAt: "yesterday" })).toThrow(/enrolledAt.*date-time/);
    expect(check({ ...got.data, answer: { ...got.data!.answer, kind: "maybe" } })).toThrow(/answer\/kind/);
  });

  it("describes every operation's answer but the version history's (a version is a key of each point)", () => {
    expect(API_ROUTES.filter((r) => !outputSchemaOf(r.procedure)).map((r) => r.procedure)).toEqual(["dashboard.versionHistory"]);
  });
});

// ---- Every route × every kind of credential --------------------------------------------------

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content: { "application/json"?: { schema: { properties?: Record<string, unknown> } } } };
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
    const properties = op.requestBody?.content["application/json"]?.schema.properties ?? {};
    const body = Object.fromEntries(Object.keys(properties).filter((k) => k in values).map((k) => [k, values[k]]));
    return { url, body };
  }

  it("refuses what the role and the rings do not allow, changing nothing, and allows the rest", async () => {
    const route = (path: string, method: string) => API_ROUTES.find((r) => r.path === path && r.method === method);
    const allowed: { path: string; method: string; credential: Credential }[] = [];
    expect(operations.length).toBeGreaterThan(50);
    for (const { path, method, op } of operations) {
      // /audit.csv follows the audit list's rule; an artifact's upload, its removal's; its download, the artifacts list's.
      const procedure = route(path, method)?.procedure ?? (path.endsWith("/artifacts/{name}") ? (method === "PUT" ? "releases.removeArtifact" : "releases.artifacts") : "audit.list");
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
      if (res.ok && res.headers.get("content-type")?.startsWith("application/json")) answers.check(method, path, res.status, await res.json());
    }
    expect([...drops.dropped], "fields the domain returns and the output schema drops").toEqual([]);
  });
});
