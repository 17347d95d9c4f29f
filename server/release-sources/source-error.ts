// The one error a release source's reader throws: a sentence for the
// operator (shown on the source, stored as its last error), never a stack.
// `kind` lets a sync loop decide what to do (back off, show "check the
// credentials"); every kind is retryable with backoff except "config".
import { AppError } from "../errors";

export type SourceErrorKind =
  /** The registry refused the configured credentials, or asks for some and none are configured. */
  | "credentials"
  /** The repository, or the tag configured, does not exist. */
  | "not_found"
  /** Connection refused, DNS, TLS, or no answer within the timeout. */
  | "unreachable"
  /** The registry answered something a registry must not (bad JSON, a digest that does not match the bytes, 5xx). */
  | "protocol"
  /** The source's own configuration cannot work (a manifest list without the configured platform, schema 1). */
  | "config"
  /** The caller's AbortSignal fired. */
  | "aborted";

export class SourceReadError extends AppError {
  readonly kind: SourceErrorKind;

  constructor(kind: SourceErrorKind, message: string, options?: { cause?: unknown }) {
    super("UNAVAILABLE", message, options);
    this.name = "SourceReadError";
    this.kind = kind;
  }
}
