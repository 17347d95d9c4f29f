// Agent protocol v1 over plain node:http: the lean handler that serves
// /api/agent/v1/* in the console's process, ahead of Next.js.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import type { AgentService } from "../agents/agent-service";
import { isDatabaseUnavailable } from "../db/unavailable";
import { AppError, invalid } from "../errors";
import type { Logger } from "../logger";
import type { ConsoleMetrics } from "./metrics";
import {
  checkinRequestSchema,
  describeFirstIssue,
  enrollRequestSchema,
  type ErrorBody,
  type ErrorCode,
  eventsRequestSchema,
  MAX_BODY_BYTES,
  PROTOCOL_PREFIX,
  rebootLockRequestSchema,
} from "../protocol/v1";
import { bearerToken, hashToken, tokenKind } from "../auth/tokens";
import { BodyTooLarge, readBody } from "./body";
import { clientAddress } from "./client-address";
import type { Limit } from "./rate-limit";

const STATUS: Record<AppError["code"], [number, ErrorCode]> = {
  INVALID: [400, "invalid_request"],
  UNAUTHORIZED: [401, "unauthorized"],
  FORBIDDEN: [403, "forbidden"],
  NOT_FOUND: [404, "not_found"],
  GONE: [410, "machine_retired"],
  CONFLICT: [400, "invalid_request"],
  UNAVAILABLE: [503, "internal"],
};

/** A JSON answer the protocols' clients must not cache (the agent protocol's, Zincati's). */
export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, headers?: Record<string, string>) {
  const body: ErrorBody = { error: { code, message } };
  send(res, status, body, headers);
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * Parses the JSON body with `schema`, or throws the spec's 400/413. A body
 * the protocol makes optional (`optional`) may also be empty.
 */
async function parseBody<S extends z.ZodType>(req: IncomingMessage, schema: S, optional = false): Promise<z.infer<S>> {
  const type = req.headers["content-type"];
  const raw = await readBody(req, MAX_BODY_BYTES);
  if (optional && raw.length === 0) return schema.parse({});
  if (type && !/^application\/json\s*(;|$)/i.test(type)) {
    throw new AppError("INVALID", `content-type: expected application/json, got ${type.slice(0, 60)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    throw invalid("body", "not valid UTF-8 JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new AppError("INVALID", describeFirstIssue(parsed.error));
  return parsed.data;
}

/**
 * Reads and checks the body while the token is checked, so that a slow
 * database never leaves a request unread past the server's request timeout;
 * a bad token is still answered before a bad body.
 */
async function authenticatedBody<S extends z.ZodType>(
  req: IncomingMessage,
  schema: S,
  auth: Promise<unknown>,
  optional = false,
): Promise<z.infer<S>> {
  const body = parseBody(req, schema, optional);
  body.catch(() => undefined); // answered below, after the token
  await auth;
  return body;
}

export interface AgentLimits {
  /** Per machine token. */
  perToken: Limit;
  /** Per enrollment token: every machine of an image may enroll with the same one. */
  perEnrollmentToken: Limit;
  perAddress: Limit;
}

/** Counts the request against its address and token; throws the protocol's 429 when over a limit. */
async function enforceLimits(req: IncomingMessage, limits: AgentLimits) {
  const address = clientAddress(req);
  const byAddress = await limits.perAddress.take(address);
  if (byAddress !== null) throw new RateLimited(byAddress, "this address");
  const token = bearerToken(req.headers.authorization);
  if (token) {
    const limit = tokenKind(token) === "enrollment" ? limits.perEnrollmentToken : limits.perToken;
    const byToken = await limit.take(hashToken(token));
    if (byToken !== null) throw new RateLimited(byToken, "this token");
  }
}

class RateLimited extends Error {
  constructor(
    readonly retryAfterSeconds: number,
    from: string,
  ) {
    super(`too many requests from ${from}; retry in ${retryAfterSeconds} s`);
  }
}

export function createAgentHandler(service: AgentService, log: Logger, limits: AgentLimits, metrics: Pick<ConsoleMetrics, "agentRequest">) {
  const routes: Record<string, Route> = {
    "POST /enroll": async (req, res) => {
      const body = await authenticatedBody(req, enrollRequestSchema, service.checkEnrollmentToken(req.headers.authorization));
      const reply = await service.enroll(req.headers.authorization, body);
      send(res, reply.status, reply.body);
      log.info({ machineId: body.machineId, hostname: body.hostname, ring: reply.body.ring }, reply.status === 201 ? "machine enrolled" : "machine enrolled again; its old token is retired");
    },
    "POST /checkin": async (req, res) => {
      const machine = service.authenticate(req.headers.authorization);
      const body = await authenticatedBody(req, checkinRequestSchema, machine);
      send(res, 200, await service.checkin(await machine, body));
    },
    "POST /events": async (req, res) => {
      const machine = service.authenticate(req.headers.authorization);
      const body = await authenticatedBody(req, eventsRequestSchema, machine);
      send(res, 200, await service.recordEvents(await machine, body));
    },
    "POST /reboot-lock": async (req, res) => {
      const machine = service.authenticate(req.headers.authorization);
      // v1.1: an optional body naming the deployment to boot (a 1.0 agent sends none, or {}).
      const body = await authenticatedBody(req, rebootLockRequestSchema, machine, true);
      const reply = await service.acquireRebootSlot(await machine, body);
      send(res, reply.status, reply.body);
    },
    "DELETE /reboot-lock": async (req, res) => {
      const machine = await service.authenticate(req.headers.authorization);
      send(res, 200, await service.releaseRebootSlot(machine));
    },
  };

  return async function handleAgentRequest(req: IncomingMessage, res: ServerResponse, pathname: string) {
    const path = pathname.startsWith(PROTOCOL_PREFIX) ? pathname.slice(PROTOCOL_PREFIX.length) : null;
    const route = path === null ? undefined : routes[`${req.method} ${path}`];
    const started = performance.now();
    res.once("finish", () => {
      // Every request at debug; refusals an operator may want to see (bad or
      // retired tokens, rate limits, bad bodies) at info; answers the console
      // could not give (503 busy or database unavailable, 500) at warn. Never
      // a header or a body.
      const ms = performance.now() - started;
      metrics.agentRequest(`${req.method} ${path}`, res.statusCode, ms / 1000);
      const status = res.statusCode;
      const [level, message] =
        status >= 500 ? (["warn", "agent request not served"] as const)
        : status >= 400 && status !== 409 ? (["info", "agent request refused"] as const)
        : (["debug", "agent request"] as const);
      // The check-in path: no log entry is built unless it is written.
      if (log.isLevelEnabled(level)) {
        log[level]({ method: req.method, path: pathname, status, ms: Math.round(ms), address: clientAddress(req) }, message);
      }
    });
    try {
      if (!route) {
        req.resume();
        sendError(res, 404, "not_found", `no route ${req.method} ${pathname}`);
        return;
      }
      await enforceLimits(req, limits);
      const declared = Number(req.headers["content-length"]);
      if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw new BodyTooLarge();
      await route(req, res);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof RateLimited) {
        req.resume();
        sendError(res, 429, "rate_limited", error.message, { "retry-after": String(error.retryAfterSeconds) });
        return;
      }
      if (error instanceof BodyTooLarge) {
        sendError(res, 413, "payload_too_large", `body: over ${MAX_BODY_BYTES} bytes`, { connection: "close" });
        req.resume();
        return;
      }
      if (error instanceof AppError) {
        const [status, code] = STATUS[error.code];
        if (!req.readableEnded) req.resume();
        sendError(res, status, code, error.message, status === 503 ? { "retry-after": "10" } : undefined);
        return;
      }
      if (!req.readableEnded) req.resume();
      if (isDatabaseUnavailable(error)) {
        sendError(res, 503, "internal", "the console's database is unavailable or busy; retry later", { "retry-after": "10" });
        return;
      }
      log.error({ err: error, path: pathname }, "agent request failed");
      sendError(res, 500, "internal", "internal error");
    }
  };
}
