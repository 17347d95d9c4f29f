// The one tRPC init file. It exports a ladder of procedures (public →
// viewer → operator → admin), never the raw builder; each rung declares its
// role in the procedure's meta so that tests can check every procedure.
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import type { Actor, Role } from "../audit/audit";
import type { Clock } from "../clock";
import type { Database } from "../db/client";
import { isDatabaseUnavailable } from "../db/unavailable";
import { AppError } from "../errors";
import { logger } from "../logger";
import { describeFirstIssue } from "../protocol/v1";
import { findUnstorable, UNSTORABLE_MESSAGE } from "../text";
import { roleAtLeast } from "../users/users";
import { batchTooBigMessage, TRPC_BATCH_TOO_BIG } from "./batch";

export interface SessionUser {
  id: string;
  email: string;
  role: Role;
}

export interface Context {
  db: Database;
  clock: Clock;
  user: SessionUser | null;
}

export interface Meta {
  /** The least role that may call the procedure; null for public ones. */
  role: Role | null;
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
      return {
        ...shape,
        message: internal ? "internal error" : batchTooBig ? batchTooBigMessage : shape.message,
        data: { code: shape.data.code, httpStatus: shape.data.httpStatus, path: shape.data.path },
      };
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
  if (bad) throw new TRPCError({ code: "BAD_REQUEST", message: `${bad}: ${UNSTORABLE_MESSAGE}` });
  return next();
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

export const publicProcedure = t.procedure.use(errorMapping).use(storableInput);

function requireRole(role: Role) {
  return t.middleware(({ ctx, next }) => {
    if (!ctx.user) throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in first" });
    if (!roleAtLeast(ctx.user.role, role)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `this needs the ${role} role` });
    }
    const actor: Actor = { id: ctx.user.id, label: ctx.user.email, role: ctx.user.role };
    return next({ ctx: { ...ctx, user: ctx.user, actor } });
  });
}

export const viewerProcedure = publicProcedure.meta({ role: "viewer" }).use(requireRole("viewer"));
export const operatorProcedure = publicProcedure.meta({ role: "operator" }).use(requireRole("operator"));
export const adminProcedure = publicProcedure.meta({ role: "admin" }).use(requireRole("admin"));
