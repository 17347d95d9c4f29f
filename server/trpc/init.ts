// The one tRPC init file. It exports a ladder of procedures (public →
// viewer → operator → admin), never the raw builder; each rung declares its
// role in the procedure's meta so that tests can check every procedure.
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import type { Actor, Role } from "../audit/audit";
import { actorOf, type Principal } from "../auth/principal";
import { checkRingScope, type RingTarget } from "../auth/scope";
import type { Clock } from "../clock";
import type { Database } from "../db/client";
import { isDatabaseUnavailable } from "../db/unavailable";
import { AppError, invalid } from "../errors";
import { logger } from "../logger";
import { describeFirstIssue, formatPath } from "../protocol/v1";
import type { SecretBox } from "../secret-box";
import type { SignInPolicy } from "../users/users";
import type { WebhookPolicy } from "../webhooks/webhooks";
import { findUnstorable, UNSTORABLE_MESSAGE } from "../text";
import { roleAtLeast } from "../vocabulary";
import { batchTooBigMessage, TRPC_BATCH_TOO_BIG } from "./batch";

export interface Context {
  db: Database;
  clock: Clock;
  /** Who calls: the session's user, or the REST API's token; null when nobody signed in. */
  principal: Principal | null;
  /** Where webhooks may go (ORCHARD_WEBHOOKS_ALLOW_PRIVATE); absent: loopback and private targets are refused. */
  webhookPolicy?: WebhookPolicy;
  /** The console's encryption key (server/secret-box.ts); absent: nothing can be sealed (a webhook's signing secret). */
  secretBox?: SecretBox;
  /** How people sign in here (ORCHARD_LOCAL_SIGN_IN, single sign-on); absent: with passwords only. */
  signIn?: SignInPolicy;
  /** The rings single sign-on's group mapping names (ORCHARD_OIDC_GROUPS), which a rename or removal cannot rewrite. */
  ssoRings?: readonly string[];
  /** Where release source readers keep their state (the data folder's release-sources); absent: under ORCHARD_DATA_DIR. */
  sourcesDir?: string;
  /** Where release artifacts are kept (the data folder's artifacts/); absent: under ORCHARD_DATA_DIR. */
  artifactsDir?: string;
}

export interface Meta {
  /** The least role that may call the procedure; null for public ones (set by the procedure ladder below). */
  role?: Role | null;
  /** What the input touches, for ring-scoped callers (server/auth/scope.ts); every non-public procedure says. */
  rings?: RingTarget | readonly RingTarget[];
}

/** One problem with the input: where (`waves[2]`) and what. */
export interface InputIssue {
  path: string;
  message: string;
}

/**
 * What every error carries besides its message, on tRPC and (as RFC 9457
 * problem details) on the REST API: the field it is about, and every
 * validation issue.
 */
export interface ErrorData {
  code: string;
  httpStatus: number;
  path?: string;
  /** Orchard's own code: INVALID, FORBIDDEN, CONFLICT… */
  appCode?: AppError["code"];
  /** The input field the error is about, as a path such as `deployments[0].checksum`. */
  field?: string;
  issues?: InputIssue[];
}

/** The field and issues of an error's cause: a domain error or a failed parse. */
export function detailsOf(cause: unknown): Pick<ErrorData, "appCode" | "field" | "issues"> {
  if (cause instanceof AppError) return { appCode: cause.code, ...(cause.field ? { field: cause.field } : {}) };
  if (cause instanceof ZodError) {
    const issues = cause.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
    return { appCode: "INVALID", ...(issues[0]?.path ? { field: issues[0].path } : {}), issues };
  }
  return {};
}

const CODES = {
  INVALID: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  GONE: "NOT_FOUND",
  UNAVAILABLE: "SERVICE_UNAVAILABLE",
} as const;

function isUniqueViolation(error: unknown) {
  return (error as { code?: string })?.code === "P2002";
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    transformer: superjson,
    defaultMeta: { role: null },
    errorFormatter({ shape, error }) {
      const internal = error.code === "INTERNAL_SERVER_ERROR";
      const batchTooBig = error.code === "BAD_REQUEST" && error.message === TRPC_BATCH_TOO_BIG;
      const data: ErrorData = {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        ...(internal ? {} : detailsOf(error.cause)),
      };
      return { ...shape, message: internal ? "internal error" : batchTooBig ? batchTooBigMessage : shape.message, data };
    },
  });

/** Maps domain and validation errors once, for every procedure. */
const errorMapping = t.middleware(async ({ next, path }) => {
  const result = await next();
  if (result.ok) return result;
  const error = result.error;
  const cause = error.cause;
  if (cause instanceof AppError) {
    throw new TRPCError({ code: CODES[cause.code], message: cause.message, cause });
  }
  if (cause instanceof ZodError) {
    throw new TRPCError({ code: "BAD_REQUEST", message: describeFirstIssue(cause), cause });
  }
  if (isDatabaseUnavailable(cause)) {
    throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the console's database is unavailable; retry in a moment", cause });
  }
  if (isUniqueViolation(cause)) {
    throw new TRPCError({ code: "CONFLICT", message: "that already exists", cause });
  }
  if (error.code === "INTERNAL_SERVER_ERROR") logger.error({ err: cause ?? error, path }, "procedure failed");
  return result;
});

/**
 * No procedure sees text the database cannot store (a NUL character, half a
 * surrogate pair): refused as BAD_REQUEST naming the field, whatever the
 * procedure's own schema says.
 */
const storableInput = t.middleware(async ({ getRawInput, next }) => {
  const bad = findUnstorable(await getRawInput());
  if (bad) throw new TRPCError({ code: "BAD_REQUEST", message: `${bad}: ${UNSTORABLE_MESSAGE}`, cause: invalid(bad, UNSTORABLE_MESSAGE) });
  return next();
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

export const publicProcedure = t.procedure.use(errorMapping).use(storableInput);

function requireRole(role: Role) {
  return t.middleware(async ({ ctx, next, meta, type, getRawInput }) => {
    const principal = ctx.principal;
    if (!principal) throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in first" });
    if (!roleAtLeast(principal.role, role)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `this needs the ${role} role` });
    }
    if (principal.rings !== null) {
      const targets = meta?.rings === undefined ? ["fleet" as const] : typeof meta.rings === "string" ? [meta.rings] : meta.rings;
      try {
        await checkRingScope(ctx.db, principal, role, targets, await getRawInput(), type === "query" ? "read" : "change");
      } catch (error) {
        if (error instanceof AppError) throw new TRPCError({ code: CODES[error.code], message: error.message, cause: error });
        throw error;
      }
    }
    const actor: Actor = actorOf(principal);
    return next({ ctx: { ...ctx, principal, actor } });
  });
}

export const viewerProcedure = publicProcedure.meta({ role: "viewer" }).use(requireRole("viewer"));
export const operatorProcedure = publicProcedure.meta({ role: "operator" }).use(requireRole("operator"));
export const adminProcedure = publicProcedure.meta({ role: "admin" }).use(requireRole("admin"));
