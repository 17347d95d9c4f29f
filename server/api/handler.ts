// The REST API at /api/v1: an API token (Authorization: Bearer orch_a_…)
// calls a route of routes.ts, which runs its tRPC procedure through a
// server-side caller: the role, the ring scope, the input's validation and
// the audit row are the procedure's own. Errors are RFC 9457 problem
// details naming the field. Requests that create something may carry an
// Idempotency-Key: a retry with the same key and request gets the first
// answer again (kept for a day) instead of acting twice. That answer may hold
// a secret shown once (a new API token, a webhook's signing secret): it is
// kept sealed under the console's encryption key (server/secret-box.ts).
// Requests are limited per token, and per client address when they carry no
// valid token (429 with Retry-After beyond).
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { ZodError, type ZodType } from "zod";
import { authenticateApiToken } from "../api-tokens/api-tokens";
import { auditCsv } from "../audit/list-audit";
import type { Principal } from "../auth/principal";
import { bearerToken } from "../auth/tokens";
import type { Clock } from "../clock";
import type { Database } from "../db/client";
import { AppError } from "../errors";
import { BodyTooLarge, readBody } from "../http/body";
import type { ConsoleMetrics } from "../http/metrics";
import { Limit } from "../http/rate-limit";
import type { Logger } from "../logger";
import { describeFirstIssue } from "../protocol/v1";
import { findUnstorable, UNSTORABLE_MESSAGE } from "../text";
import { type Context, detailsOf } from "../trpc/init";
import { createCaller } from "../trpc/router";
import { type SecretBox, SecretBoxError } from "../secret-box";
import type { SignInPolicy } from "../users/users";
import type { WebhookPolicy } from "../webhooks/webhooks";
import { mayAct } from "../vocabulary";
import { clientAddress } from "../http/client-address";
import { openApiDocument } from "./openapi";
import { problem, problemOf } from "./problem";
import { API_PREFIX, API_ROUTES, type ApiRoute } from "./routes";
import { ARTIFACT_METHODS, ARTIFACT_PATH, handleArtifactRequest } from "./artifacts";
import { artifactsDir, DEFAULT_ARTIFACT_MAX_BYTES } from "../artifacts/artifacts";
import { type SessionOptions, sessionUser } from "../http/session";
import { coerceQuery, inputSchemaOf } from "./schema";

const MAX_BODY = 1024 * 1024;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
const KEEP_KEYS_MS = 24 * 3600 * 1000;
/** A first request this old that never finished (its process died) no longer holds its key. */
const ABANDONED_AFTER_MS = 10 * 60 * 1000;

const json = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v));

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = json(body);
  res.writeHead(status, {
    "content-type": status >= 400 ? "application/problem+json" : "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

interface CompiledRoute extends ApiRoute {
  pattern: RegExp;
  params: string[];
  /** The procedure's input schema, read from the router once (null: it takes no input). */
  input: ZodType | null;
}

const compiled: CompiledRoute[] = API_ROUTES.map((route) => {
  const params: string[] = [];
  const pattern = new RegExp(
    `^${route.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
      params.push(name);
      return "([^/]+)";
    })}$`,
  );
  return { ...route, pattern, params, input: inputSchemaOf(route.procedure) };
});

/** The route for a method and a path under /api/v1, or what is wrong. */
export function matchRoute(method: string, path: string): { route: CompiledRoute; params: Record<string, string> } | { allowed: string[] } | null {
  const allowed: string[] = [];
  for (const route of compiled) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    if (route.method !== method) {
      allowed.push(route.method);
      continue;
    }
    let params: Record<string, string>;
    try {
      params = Object.fromEntries(route.params.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
    } catch {
      return null;
    }
    return { route, params };
  }
  return allowed.length ? { allowed } : null;
}

/**
 * The template of the route a path under /api/v1 belongs to, whatever the
 * method (`/api/v1/machines/{machineId}`), or `other`: a label for /metrics
 * that never holds a concrete id.
 */
export function routeTemplateOf(path: string): string {
  if (path === "/openapi.json" || path === "/audit.csv") return `${API_PREFIX}${path}`;
  const route = compiled.find((r) => r.pattern.test(path));
  return route ? `${API_PREFIX}${route.path}` : "other";
}

type Outcome = { status: number; body: unknown };

async function call(context: Omit<Context, "principal">, principal: Principal, route: ApiRoute, input: unknown): Promise<Outcome> {
  let target: unknown = createCaller({ ...context, principal });
  for (const part of route.procedure.split(".")) target = (target as Record<string, unknown>)[part];
  try {
    const result = await (target as (input: unknown) => Promise<unknown>)(input);
    return { status: route.creates ? 201 : 200, body: result ?? null };
  } catch (error) {
    const p = problemOf(error);
    return { status: p.status, body: p };
  }
}

/** What a kept answer is sealed for. */
const KEPT_ANSWER_PURPOSE = "idempotent-answer";

/** A first answer as it is kept: sealed when the console has its key. */
function keptAnswer(body: unknown, box: SecretBox | undefined): object {
  return box?.keyId ? { sealed: box.seal(json(body), KEPT_ANSWER_PURPOSE) } : (JSON.parse(json(body)) as object);
}

/** A kept first answer again, or nothing when it does not open (the console's key changed since). */
function replayedAnswer(kept: unknown, box: SecretBox | undefined): { body: unknown } | null {
  const sealed = (kept as { sealed?: unknown } | null)?.sealed;
  if (typeof sealed !== "string") return { body: kept };
  if (!box?.keyId) return null;
  try {
    return { body: JSON.parse(box.open(sealed, KEPT_ANSWER_PURPOSE)) };
  } catch (error) {
    if (error instanceof SecretBoxError) return null;
    throw error;
  }
}

/**
 * Runs a creating request once per (token, Idempotency-Key); a retry gets the
 * first answer. A key older than a day is free again whether or not the
 * sweep (a background job in server/console.ts) has deleted it yet: the claim below takes over
 * an expired row, so it is never replayed nor refused as another request's.
 */
async function once(db: Database, box: SecretBox | undefined, tokenId: string, key: string, requestHash: string, clock: Clock, run: () => Promise<Outcome>): Promise<Outcome & { replayed?: boolean }> {
  const prisma = db.prisma;
  const now = clock.now();
  const claimed = await prisma.$executeRaw`
    INSERT INTO idempotency_keys (token_id, key, request_hash, created_at) VALUES (${tokenId}, ${key}, ${requestHash}, ${now})
    ON CONFLICT (token_id, key) DO UPDATE
      SET request_hash = EXCLUDED.request_hash, created_at = EXCLUDED.created_at, status = NULL, response = NULL, completed_at = NULL
      WHERE idempotency_keys.created_at < ${new Date(now.getTime() - KEEP_KEYS_MS)}
         OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < ${new Date(now.getTime() - ABANDONED_AFTER_MS)}
             AND idempotency_keys.request_hash = EXCLUDED.request_hash)`;
  if (claimed === 0) {
    const row = await prisma.idempotencyKey.findUnique({ where: { tokenId_key: { tokenId, key } } });
    if (!row) return run();
    if (row.requestHash !== requestHash) {
      const p = problem(422, "INVALID", "this Idempotency-Key was used for another request", { field: "Idempotency-Key" });
      return { status: 422, body: p };
    }
    if (row.status === null) {
      const p = problem(409, "CONFLICT", "the first request with this Idempotency-Key is still under way: retry in a moment", { field: "Idempotency-Key" });
      return { status: 409, body: p };
    }
    const replay = replayedAnswer(row.response, box);
    if (!replay) {
      const p = problem(409, "CONFLICT", "the first answer to this Idempotency-Key cannot be read back (the console's encryption key changed since): check whether it was done, then retry with a new key", { field: "Idempotency-Key" });
      return { status: 409, body: p };
    }
    return { status: row.status, body: replay.body, replayed: true };
  }
  let outcome: Outcome;
  try {
    outcome = await run();
  } catch (error) {
    await prisma.idempotencyKey.delete({ where: { tokenId_key: { tokenId, key } } }).catch(() => undefined);
    throw error;
  }
  if (outcome.status >= 500) {
    // Nothing was decided: the key is free for the retry.
    await prisma.idempotencyKey.delete({ where: { tokenId_key: { tokenId, key } } }).catch(() => undefined);
  } else {
    await prisma.idempotencyKey.update({
      where: { tokenId_key: { tokenId, key } },
      data: { status: outcome.status, response: keptAnswer(outcome.body, box), completedAt: clock.now() },
    });
  }
  return outcome;
}

/** Deletes the Idempotency-Keys older than a day (a request that finds one not yet deleted treats it as gone); how many. */
export async function sweepIdempotencyKeys(db: Database, now: Date): Promise<number> {
  return db.prisma.idempotencyKey.deleteMany({ where: { createdAt: { lt: new Date(now.getTime() - KEEP_KEYS_MS) } } }).then((r) => r.count);
}

export interface ApiLimits {
  /** Requests per API token. */
  perToken: Limit;
  /** Requests that carry no valid token (none, or an unknown, revoked or expired one; the document too), per client address. */
  perAddress: Limit;
}

export interface ApiOptions {
  db: Database;
  clock: Clock;
  log: Logger;
  /** The console's public URL, for the document's server. */
  url: string;
  /** Where webhooks may go (ORCHARD_WEBHOOKS_ALLOW_PRIVATE). */
  webhookPolicy?: WebhookPolicy;
  /** The console's encryption key (server/secret-box.ts). */
  secretBox?: SecretBox;
  /** How people sign in here. */
  signIn?: SignInPolicy;
  /** The rings ORCHARD_OIDC_GROUPS names (see Context). */
  ssoRings?: readonly string[];
  sourcesDir?: string;
  /** Where release artifacts are kept (the data folder's artifacts/); absent: under ORCHARD_DATA_DIR. */
  artifactsDir?: string;
  /** ORCHARD_ARTIFACT_MAX_BYTES. */
  artifactMaxBytes?: number;
  /** The console's sessions: a signed-in user may upload and download artifacts (the console's release page) without a token. */
  session?: Omit<SessionOptions, "db">;
  /** ORCHARD_API_RATE_LIMIT and ORCHARD_API_RATE_PER_ADDRESS; none: no limits. */
  limits?: ApiLimits;
  /** Where answered requests and rate-limit refusals are counted (/metrics). */
  metrics?: Pick<ConsoleMetrics, "apiRequest" | "apiRateLimited">;
}

export function createApiHandler(options: ApiOptions) {
  const { db, clock, log } = options;
  const limits = options.limits ?? { perToken: new Limit(0, 1), perAddress: new Limit(0, 1) };
  let document: string | null = null;
  const artifactOptions = { db, dir: options.artifactsDir ?? artifactsDir(), maxBytes: options.artifactMaxBytes ?? DEFAULT_ARTIFACT_MAX_BYTES };

  /** Counts the request against a token's or an address's limit under `key`; over it, answers 429 with Retry-After and says so. */
  async function refusedByLimit(req: IncomingMessage, res: ServerResponse, kind: "token" | "address", key: string, whose: string) {
    const wait = await (kind === "token" ? limits.perToken : limits.perAddress).take(key);
    if (wait === null) return false;
    options.metrics?.apiRateLimited(kind);
    req.resume();
    send(res, 429, problem(429, "RATE_LIMITED", `too many requests ${whose}; retry in ${wait} s`), { "retry-after": String(wait) });
    return true;
  }

  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const method = req.method ?? "GET";
    const path = url.pathname.slice(API_PREFIX.length) || "/";
    const address = clientAddress(req);
    if (options.metrics) {
      const metrics = options.metrics;
      const started = performance.now();
      res.once("finish", () => metrics.apiRequest(method, routeTemplateOf(path), res.statusCode, (performance.now() - started) / 1000));
    }
    const withoutToken = (why: string) => refusedByLimit(req, res, "address", address, `from this address ${why}`);
    try {
      if (path === "/openapi.json" && method === "GET") {
        if (await withoutToken("without an API token")) return;
        req.resume();
        document ??= JSON.stringify(openApiDocument(options.url));
        res.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-cache" });
        res.end(document);
        return;
      }
      const token = bearerToken(req.headers.authorization);
      const artifact = (ARTIFACT_METHODS as readonly string[]).includes(method) ? ARTIFACT_PATH.exec(path) : null;
      if (!token && artifact && options.session && req.headers.cookie) {
        // The console's own pages upload and download artifacts with the signed-in user's session.
        const user = await sessionUser(req, { ...options.session, db });
        if (user) {
          const params = artifactParams(artifact);
          if (!params) {
            req.resume();
            return send(res, 404, problem(404, "NOT_FOUND", `no route ${method} ${API_PREFIX}${path}`));
          }
          return await handleArtifactRequest(req, res, method, params, user, artifactOptions, (status, body) => send(res, status, body));
        }
      }
      if (!token) {
        if (await withoutToken("without an API token")) return;
        req.resume();
        return send(res, 401, problem(401, "UNAUTHORIZED", "send an API token as Authorization: Bearer orch_a_…"), { "www-authenticate": "Bearer" });
      }
      const auth = await authenticateApiToken(db.prisma, token, address, clock);
      if ("refused" in auth) {
        if (await withoutToken("with a refused API token")) return;
        req.resume();
        const why = { unknown: "this API token is not known", revoked: "this API token was revoked", expired: "this API token has expired" }[auth.refused];
        return send(res, 401, problem(401, "UNAUTHORIZED", why), { "www-authenticate": `Bearer error="invalid_token"` });
      }
      const principal = auth.principal;
      if (await refusedByLimit(req, res, "token", principal.id, "for this API token")) return;
      if (path === "/audit.csv" && method === "GET") return await auditExport(req, res, url, principal);
      if (artifact) {
        const params = artifactParams(artifact);
        if (!params) {
          req.resume();
          return send(res, 404, problem(404, "NOT_FOUND", `no route ${method} ${API_PREFIX}${path}`));
        }
        return await handleArtifactRequest(req, res, method, params, principal, artifactOptions, (status, body) => send(res, status, body));
      }

      const matched = matchRoute(method, path);
      if (!matched) {
        req.resume();
        return send(res, 404, problem(404, "NOT_FOUND", `no route ${method} ${API_PREFIX}${path} (see ${API_PREFIX}/openapi.json)`));
      }
      if ("allowed" in matched) {
        req.resume();
        return send(res, 405, problem(405, "INVALID", `${method} is not allowed here; try ${matched.allowed.join(", ")}`), { allow: matched.allowed.join(", ") });
      }
      const { route, params } = matched;
      let body: Record<string, unknown> = {};
      let raw: Buffer = Buffer.alloc(0);
      if (method === "GET" || method === "DELETE") {
        req.resume();
      } else {
        raw = await readBody(req, MAX_BODY);
        if (raw.length > 0) {
          const type = req.headers["content-type"] ?? "";
          if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
            return send(res, 415, problem(415, "INVALID", "send the body as application/json", { field: "content-type" }));
          }
          let parsed: unknown;
          try {
            parsed = JSON.parse(raw.toString("utf8"));
          } catch {
            return send(res, 400, problem(400, "INVALID", "body: not valid JSON", { field: "body" }));
          }
          if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
            return send(res, 400, problem(400, "INVALID", "body: expected a JSON object", { field: "body" }));
          }
          body = parsed as Record<string, unknown>;
        }
      }
      const query = coerceQuery(route.input, url.searchParams);
      const input = { ...query, ...body, ...params };
      const bad = findUnstorable(input);
      if (bad) return send(res, 400, problem(400, "INVALID", `${bad}: ${UNSTORABLE_MESSAGE}`, { field: bad }));
      const run = () =>
        call(
          {
            db,
            clock,
            webhookPolicy: options.webhookPolicy,
            secretBox: options.secretBox,
            signIn: options.signIn,
            ssoRings: options.ssoRings,
            sourcesDir: options.sourcesDir,
            artifactsDir: artifactOptions.dir,
          },
          principal,
          route,
          route.input ? input : undefined,
        );

      const key = req.headers["idempotency-key"];
      if (key !== undefined && route.creates) {
        if (typeof key !== "string" || !IDEMPOTENCY_KEY.test(key)) {
          return send(res, 400, problem(400, "INVALID", "Idempotency-Key: 1 to 200 printable characters", { field: "Idempotency-Key" }));
        }
        const hash = createHash("sha256").update(`${method} ${path}\n`).update(raw).digest("hex");
        const outcome = await once(db, options.secretBox, principal.id, key, hash, clock, run);
        return send(res, outcome.status, outcome.body, outcome.replayed ? { "idempotent-replayed": "true" } : {});
      }
      const outcome = await run();
      return send(res, outcome.status, outcome.body);
    } catch (error) {
      if (error instanceof BodyTooLarge) return send(res, 413, problem(413, "INVALID", `body: at most ${MAX_BODY} bytes`, { field: "body" }));
      log.error({ err: error, path }, "API request failed");
      if (!res.headersSent) return send(res, 500, problem(500, "INTERNAL", "internal error"));
      res.destroy();
    }
  };

  /** The audit log as CSV, with the audit list's filters: for unscoped tokens. */
  async function auditExport(req: IncomingMessage, res: ServerResponse, url: URL, principal: Principal) {
    req.resume();
    if (!mayAct(principal, "viewer", null)) {
      return send(res, 403, problem(403, "FORBIDDEN", "the audit log concerns the whole fleet, and this token is limited to some rings"));
    }
    const filter = Object.fromEntries([...url.searchParams.entries()].filter(([, v]) => v !== ""));
    const bad = findUnstorable(filter);
    if (bad) return send(res, 400, problem(400, "INVALID", `${bad}: ${UNSTORABLE_MESSAGE}`, { field: bad }));
    const lines = auditCsv(db.prisma, filter);
    let first: IteratorResult<string>;
    try {
      first = await lines.next(); // validates the filter before any header is sent
    } catch (error) {
      if (error instanceof AppError && error.code === "INVALID") return send(res, 400, problem(400, "INVALID", error.message, { field: error.field }));
      if (!(error instanceof ZodError)) throw error;
      const { field, issues } = detailsOf(error);
      return send(res, 400, problem(400, "INVALID", describeFirstIssue(error), { field, issues }));
    }
    res.writeHead(200, { "content-type": "text/csv; charset=utf-8", "cache-control": "no-store" });
    if (!first.done) res.write(first.value);
    for await (const chunk of lines) res.write(chunk);
    res.end();
  }
}

/** An artifact path's release id and name, decoded; null when they are not valid percent-encoding. */
function artifactParams(match: RegExpExecArray): { releaseId: string; name: string } | null {
  try {
    return { releaseId: decodeURIComponent(match[1]), name: decodeURIComponent(match[2]) };
  } catch {
    return null;
  }
}
