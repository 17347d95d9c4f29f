// hawkBit's DDI controller API over plain node:http, in the console's process
// ahead of Next.js, under /ddi: a client configured with the URL
// `https://console/ddi` builds `/ddi/{tenant}/controller/v1/{controllerId}`
// and its sub-resources from it (SWUpdate: `-u https://console/ddi -t T -i ID`).
// Every request, downloads included, carries `Authorization: GatewayToken …`
// or `TargetToken …`; tokens never reach a log line (they are not in paths).
// Feedback and configData are answered exactly 200 (SWUpdate retries a 204).
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { z } from "zod";
import { isDatabaseUnavailable } from "../db/unavailable";
import { type DdiCredential, type DdiService, type DdiTarget, ddiErrorOf } from "../ddi/ddi-service";
import {
  actionIdSchema,
  badRequest,
  configDataSchema,
  controllerIdSchema,
  DdiError,
  type DdiErrorBody,
  feedbackSchema,
  firstIssue,
  tenantSchema,
} from "../ddi/protocol";
import { AppError } from "../errors";
import type { Logger } from "../logger";
import { send } from "./agent-handler";
import { BodyTooLarge, readBody } from "./body";
import { clientAddress } from "./client-address";
import type { ConsoleMetrics } from "./metrics";
import type { Limit } from "./rate-limit";
import { serveFile } from "./serve-file";

export const DDI_PREFIX = "/ddi/";

/** Feedback with 48 details of SWUpdate's errors stays far below this; configData too. */
const MAX_BODY_BYTES = 256 * 1024;

function sendError(res: ServerResponse, error: DdiError) {
  const body: DdiErrorBody = { errorCode: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) };
  send(res, error.status, body, error.headers);
}

/** Exactly 200 with an empty body: what SWUpdate's feedback and configData wait for. */
function sendOk(res: ServerResponse) {
  res.writeHead(200, { "content-length": "0", "cache-control": "no-store" });
  res.end();
}

/** `Authorization: GatewayToken T` or `TargetToken T` (hawkBit's schemes; case-insensitive). */
export function credentialOf(header: string | undefined): DdiCredential {
  const match = header ? /^(GatewayToken|TargetToken)\s+([A-Za-z0-9._~+/=-]{1,256})\s*$/i.exec(header) : null;
  if (!match) {
    throw new DdiError(401, "orchard.ddi.unauthorized", "Authorization: expected `GatewayToken <enrollment token>` or `TargetToken <target token>`", "Authorization");
  }
  return { kind: match[1]!.toLowerCase() === "gatewaytoken" ? "gateway" : "target", token: match[2]! };
}

async function jsonBody<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const raw = await readBody(req, MAX_BODY_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    throw badRequest("body", "not valid UTF-8 JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    throw badRequest(field, message);
  }
  return parsed.data;
}

function parsed<T>(schema: z.ZodType<T>, value: string, field: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(field, firstIssue(result.error).message);
  return result.data;
}

/** A route, the metrics label it counts under (no ids in it). */
const ROUTES: { method: string[]; pattern: RegExp; name: string }[] = [
  { method: ["GET"], pattern: /^$/, name: "base" },
  { method: ["GET"], pattern: /^\/deploymentBase\/([^/]+)$/, name: "deploymentBase" },
  { method: ["POST"], pattern: /^\/deploymentBase\/([^/]+)\/feedback$/, name: "deploymentBase feedback" },
  { method: ["GET"], pattern: /^\/cancelAction\/([^/]+)$/, name: "cancelAction" },
  { method: ["POST"], pattern: /^\/cancelAction\/([^/]+)\/feedback$/, name: "cancelAction feedback" },
  { method: ["GET"], pattern: /^\/installedBase\/([^/]+)$/, name: "installedBase" },
  { method: ["PUT"], pattern: /^\/configData$/, name: "configData" },
  { method: ["GET", "HEAD"], pattern: /^\/softwaremodules\/([^/]+)\/artifacts\/([^/]+)$/, name: "artifact" },
];

export interface DdiLimits {
  perAddress: Limit;
  /** Per device (its controller id). */
  perDevice: Limit;
}

export function createDdiHandler(service: DdiService, log: Logger, limits: DdiLimits, metrics: Pick<ConsoleMetrics, "agentRequest">, artifactsDir: string) {
  const limited = async (limit: Limit, key: string, what: string) => {
    const wait = await limit.take(key);
    if (wait !== null) throw new DdiError(429, "orchard.ddi.rateLimited", `too many requests from ${what}; retry in ${wait} s`, undefined, { "retry-after": String(wait) });
  };

  return async function handleDdiRequest(req: IncomingMessage, res: ServerResponse, url: string) {
    const pathname = url.split("?", 1)[0]!;
    const started = performance.now();
    let routeName = "unknown";
    res.once("finish", () => {
      const ms = performance.now() - started;
      const status = res.statusCode;
      metrics.agentRequest(`ddi ${req.method} ${routeName}`, status, ms / 1000);
      const [level, message] =
        status >= 500 ? (["warn", "DDI request not served"] as const)
        : status >= 400 ? (["info", "DDI request refused"] as const)
        : (["debug", "DDI request"] as const);
      if (log.isLevelEnabled(level)) log[level]({ method: req.method, path: pathname, status, ms: Math.round(ms), address: clientAddress(req) }, message);
    });
    try {
      await limited(limits.perAddress, clientAddress(req), "this address");
      // /ddi/{tenant}/controller/v1/{controllerId}{rest}
      const match = /^\/ddi\/([^/]+)\/controller\/v1\/([^/]+)(\/.*)?$/.exec(pathname);
      if (!match) {
        throw new DdiError(404, "orchard.ddi.notFound", `no route ${req.method} ${pathname}: DDI's are under /ddi/{tenant}/controller/v1/{controllerId}`, "path");
      }
      const tenant = parsed(tenantSchema, decodeURIComponent(match[1]!), "tenant");
      const controllerId = parsed(controllerIdSchema, decodeURIComponent(match[2]!), "controllerId");
      const rest = match[3] ?? "";
      const route = ROUTES.find((r) => r.pattern.test(rest));
      if (!route) throw new DdiError(404, "orchard.ddi.notFound", `no route ${req.method} …/controller/v1/{controllerId}${rest}`, "path");
      routeName = route.name;
      if (!route.method.includes(req.method ?? "")) {
        throw new DdiError(405, "orchard.ddi.badRequest", `${req.method} is not allowed on ${route.name}; use ${route.method.join(" or ")}`, "method", { allow: route.method.join(", ") });
      }
      const credential = credentialOf(req.headers.authorization);
      await limited(limits.perDevice, controllerId, "this device");
      const host = req.headers.host ?? "localhost";
      const proto = req.headers["x-forwarded-proto"] === "https" ? "https" : "http";
      const target: DdiTarget = { tenant, controllerId, base: `${proto}://${host}/ddi` };
      const groups = route.pattern.exec(rest)!;
      const action = () => parsed(actionIdSchema, decodeURIComponent(groups[1]!), "actionId");
      switch (route.name) {
        case "base":
          req.resume();
          return send(res, 200, await service.poll(credential, target));
        case "deploymentBase":
          req.resume();
          return send(res, 200, await service.deploymentBase(credential, target, action()));
        case "installedBase":
          req.resume();
          return send(res, 200, await service.installedBase(credential, target, action()));
        case "cancelAction":
          req.resume();
          return send(res, 200, await service.cancelAction(credential, target, action()));
        case "deploymentBase feedback": {
          const id = action();
          await service.deploymentFeedback(credential, target, id, await jsonBody(req, feedbackSchema));
          return sendOk(res);
        }
        case "cancelAction feedback": {
          const id = action();
          await service.cancelFeedback(credential, target, id, await jsonBody(req, feedbackSchema));
          return sendOk(res);
        }
        case "configData":
          await service.configData(credential, target, await jsonBody(req, configDataSchema));
          return sendOk(res);
        case "artifact": {
          req.resume();
          const moduleId = parsed(actionIdSchema, decodeURIComponent(groups[1]!), "softwareModuleId");
          let name = decodeURIComponent(groups[2]!);
          const md5sum = name.endsWith(".MD5SUM");
          if (md5sum) name = name.slice(0, -".MD5SUM".length);
          const file = await service.artifactFile(credential, target, moduleId, name);
          if (md5sum) {
            const text = `${file.md5}  ${file.name}\n`;
            res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
            res.end(req.method === "HEAD" ? undefined : text);
            return;
          }
          return await serveFile(req, res, { path: path.join(artifactsDir, file.id), size: file.size, sha256: file.sha256, contentType: file.contentType, name: file.name });
        }
      }
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (!req.readableEnded) req.resume();
      if (error instanceof DdiError) return sendError(res, error);
      if (error instanceof BodyTooLarge) return sendError(res, new DdiError(413, "orchard.ddi.badRequest", `body: over ${MAX_BODY_BYTES} bytes`, "body", { connection: "close" }));
      if (error instanceof AppError) return sendError(res, ddiErrorOf(error));
      if (error instanceof URIError) return sendError(res, badRequest("path", "malformed percent-encoding"));
      if (isDatabaseUnavailable(error)) {
        return sendError(res, new DdiError(503, "orchard.ddi.unavailable", "the console's database is unavailable or busy; retry later", undefined, { "retry-after": "10" }));
      }
      log.error({ err: error, path: pathname }, "DDI request failed");
      sendError(res, new DdiError(500, "orchard.ddi.internal", "internal error"));
    }
  };
}
