// Telling "the database is unreachable" (answer 503, retry later) from any
// other failure (500), whichever layer raised it: pg, the Prisma adapter or
// Prisma itself.

const NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);
/** PostgreSQL: connection exceptions (08…), shutdown (57P01–57P03), too many connections. */
const POSTGRES_CODES = /^(08\d{3}|57P0[123]|53300)$/;
/** Prisma: can't reach, timed out, server closed the connection, no connection from the pool, no transaction in time. */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2028"]);
const MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Can't reach database server|the database system is (shutting down|starting up)|is not queryable/i;

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== "object" || depth > 5) return false;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown; originalCode?: unknown };
  const code = typeof e.code === "string" ? e.code : typeof e.originalCode === "string" ? e.originalCode : "";
  if (NODE_CODES.has(code) || POSTGRES_CODES.test(code) || PRISMA_CODES.has(code)) return true;
  if (typeof e.message === "string" && MESSAGES.test(e.message)) return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}
