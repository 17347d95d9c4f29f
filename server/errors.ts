// Typed domain errors. Domain code throws AppError; the tRPC layer and the
// agent HTTP handler each map the code once, and hide internals on 5xx.

export type AppErrorCode =
  | "INVALID"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "GONE"
  | "UNAVAILABLE";

export class AppError extends Error {
  readonly code: AppErrorCode;
  /** The input field the error is about, as a path such as `deployments[0].checksum`. */
  readonly field?: string;

  constructor(code: AppErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = "AppError";
    this.code = code;
    this.field = options?.field;
  }
}

export const invalid = (field: string, message: string) =>
  new AppError("INVALID", `${field}: ${message}`, { field });
export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found`);
/** Not possible now; `field`: the input field it is about, if one is. */
export const conflict = (message: string, field?: string) =>
  new AppError("CONFLICT", field ? `${field}: ${message}` : message, field ? { field } : undefined);
