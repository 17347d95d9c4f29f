// Zincati's protocols over plain node:http, in the console's process ahead of
// Next.js: /api/zincati/<enrollment token>/v1/graph (Cincinnati),
// …/v1/pre-reboot and …/v1/steady-state (FleetLock). The token is the node's
// only credential and sits in the URL, so it never reaches a log line or a
// metrics label: paths are logged with it cut out.
import type { IncomingMessage, ServerResponse } from "node:http";
import { isDatabaseUnavailable } from "../db/unavailable";
import { AppError } from "../errors";
import type { Logger } from "../logger";
import {
  badRequest,
  firstIssue,
  fleetLockBodySchema,
  graphQuerySchema,
  ZincatiError,
  type ZincatiErrorBody,
} from "../zincati/protocol";
import { type ZincatiService, zincatiErrorOf } from "../zincati/zincati-service";
import { send } from "./agent-handler";
import { BodyTooLarge, readBody } from "./body";
import { clientAddress } from "./client-address";
import type { ConsoleMetrics } from "./metrics";
import type { Limit } from "./rate-limit";

export const ZINCATI_PREFIX = "/api/zincati/";

/** FleetLock's body is two short strings; Zincati's is pretty-printed JSON of about 80 bytes. */
const MAX_BODY_BYTES = 4096;

/** The path with its token cut out, for logs: `/api/zincati/…/v1/graph`. */
export function redactedPath(pathname: string): string {
  if (!pathname.startsWith(ZINCATI_PREFIX)) return pathname;
  const rest = pathname.slice(ZINCATI_PREFIX.length);
  const slash = rest.indexOf("/");
  return `${ZINCATI_PREFIX}…${slash < 0 ? "" : rest.slice(slash)}`;
}

function sendError(res: ServerResponse, error: ZincatiError) {
  const body: ZincatiErrorBody = { kind: error.kind, value: error.message };
  send(res, error.status, body, error.headers);
}

/** FleetLock: the header must say the request was meant for a lock manager (not a redirect); the body is JSON. */
async function fleetLockBody(req: IncomingMessage) {
  if (req.headers["fleet-lock-protocol"] !== "true") {
    req.resume();
    throw badRequest("fleet-lock-protocol", "header required, with the value true");
  }
  const raw = await readBody(req, MAX_BODY_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    throw badRequest("body", "not valid UTF-8 JSON");
  }
  const parsed = fleetLockBodySchema.safeParse(json);
  if (!parsed.success) throw new ZincatiError(400, "bad_request", firstIssue(parsed.error));
  return parsed.data;
}

export interface ZincatiLimits {
  perAddress: Limit;
  /** Per node (its node_uuid / client id). */
  perNode: Limit;
}

export function createZincatiHandler(service: ZincatiService, log: Logger, limits: ZincatiLimits, metrics: Pick<ConsoleMetrics, "agentRequest">) {
  const limited = async (limit: Limit, key: string, what: string) => {
    const wait = await limit.take(key);
    if (wait !== null) throw new ZincatiError(429, "rate_limited", `too many requests from ${what}; retry in ${wait} s`, { "retry-after": String(wait) });
  };

  return async function handleZincatiRequest(req: IncomingMessage, res: ServerResponse, url: string) {
    const [pathname, search = ""] = url.split("?", 2) as [string, string?];
    const rest = pathname.slice(ZINCATI_PREFIX.length);
    const slash = rest.indexOf("/");
    const token = slash < 0 ? "" : rest.slice(0, slash);
    const route = `${req.method} ${slash < 0 ? "" : rest.slice(slash)}`;
    const shown = redactedPath(pathname);
    const started = performance.now();
    res.once("finish", () => {
      const ms = performance.now() - started;
      const status = res.statusCode;
      metrics.agentRequest(`zincati ${route}`, status, ms / 1000);
      const [level, message] =
        status >= 500 ? (["warn", "Zincati request not served"] as const)
        : status >= 400 && status !== 409 ? (["info", "Zincati request refused"] as const)
        : (["debug", "Zincati request"] as const);
      if (log.isLevelEnabled(level)) log[level]({ method: req.method, path: shown, status, ms: Math.round(ms), address: clientAddress(req) }, message);
    });
    try {
      await limited(limits.perAddress, clientAddress(req), "this address");
      if (/^v1\/(graph|pre-reboot|steady-state)$/.test(rest)) {
        // base_url without its trailing slash: URL joining dropped the token (…/api/zincati/<token> + v1/graph).
        req.resume();
        throw badRequest("base_url", "must end in a slash: https://…/api/zincati/<enrollment token>/ (without it Zincati drops the token from the URL)");
      }
      if (route === "GET /v1/graph") {
        req.resume();
        const params = new URLSearchParams(search);
        if (params.get("oci") === "true") throw badRequest("oci", "container-image (OCI) deployments are not served: Orchard's releases are ostree commits (scheme checksum)");
        const query = graphQuerySchema.safeParse(Object.fromEntries([...params.keys()].map((key) => [key, params.get(key)])));
        if (!query.success) throw new ZincatiError(400, "bad_request", firstIssue(query.error));
        await limited(limits.perNode, query.data.node_uuid, "this node");
        send(res, 200, await service.graph(decodeURIComponent(token), query.data));
      } else if (route === "POST /v1/pre-reboot") {
        const body = await fleetLockBody(req);
        await limited(limits.perNode, body.client_params.id, "this node");
        send(res, 200, await service.preReboot(decodeURIComponent(token), body));
      } else if (route === "POST /v1/steady-state") {
        const body = await fleetLockBody(req);
        await limited(limits.perNode, body.client_params.id, "this node");
        send(res, 200, await service.steadyState(decodeURIComponent(token), body));
      } else {
        req.resume();
        throw new ZincatiError(404, "not_found", `no route ${req.method} ${shown} (Zincati's are GET …/v1/graph, POST …/v1/pre-reboot, POST …/v1/steady-state)`);
      }
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (!req.readableEnded) req.resume();
      if (error instanceof ZincatiError) return sendError(res, error);
      if (error instanceof BodyTooLarge) return sendError(res, new ZincatiError(413, "bad_request", `body: over ${MAX_BODY_BYTES} bytes`, { connection: "close" }));
      if (error instanceof AppError) return sendError(res, zincatiErrorOf(error));
      if (isDatabaseUnavailable(error)) {
        return sendError(res, new ZincatiError(503, "unavailable", "the console's database is unavailable or busy; retry later", { "retry-after": "10" }));
      }
      log.error({ err: error, path: shown }, "Zincati request failed");
      sendError(res, new ZincatiError(500, "internal", "internal error"));
    }
  };
}
