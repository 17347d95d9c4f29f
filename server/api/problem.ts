// RFC 9457 problem details: how the REST API (and the command line, local or
// remote) describes a refusal or a failure, with the field it is about and
// every validation issue, from the same data the tRPC errors carry.
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { ZodError } from "zod";
import { AppError } from "../errors";
import { describeFirstIssue } from "../protocol/v1";
import { detailsOf, type ErrorData } from "../trpc/init";

export interface Problem {
  type: "about:blank";
  title: string;
  status: number;
  detail: string;
  /** Orchard's code: INVALID, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT… */
  code: string;
  field?: string;
  issues?: ErrorData["issues"];
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function problem(status: number, code: string, detail: string, extra: { field?: string; issues?: ErrorData["issues"] } = {}): Problem {
  return { type: "about:blank", title: TITLES[status] ?? "Error", status, detail, code, ...extra };
}

/** A tRPC error as problem details: its HTTP status, message, field and issues. */
export function problemOf(error: unknown): Problem {
  if (!(error instanceof TRPCError)) return problem(500, "INTERNAL", "internal error");
  const status = getHTTPStatusCodeFromError(error);
  if (status >= 500 && error.code !== "SERVICE_UNAVAILABLE") return problem(500, "INTERNAL", "internal error");
  const { appCode, field, issues } = detailsOf(error.cause);
  return problem(status, appCode ?? error.code, error.message, { ...(field ? { field } : {}), ...(issues ? { issues } : {}) });
}

const DOMAIN_STATUS: Record<AppError["code"], number> = {
  INVALID: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  GONE: 404,
  UNAVAILABLE: 503,
};

/** A domain error or a failed parse, thrown outside a procedure (the streaming routes), as problem details; null for anything else. */
export function problemOfDomain(error: unknown): Problem | null {
  if (error instanceof AppError) {
    return problem(DOMAIN_STATUS[error.code], error.code, error.message, error.field ? { field: error.field } : {});
  }
  if (error instanceof ZodError) {
    const { field, issues } = detailsOf(error);
    return problem(400, "INVALID", describeFirstIssue(error), { ...(field ? { field } : {}), ...(issues ? { issues } : {}) });
  }
  return null;
}
