// The agent's HTTP client for protocol v1: five routes, a timeout on each
// call, answers checked before they are trusted, and every failure turned
// into an ApiError whose kind tells the agent what to do next.
import { z } from "zod";
import {
  type AgentEvent,
  type CheckinRequest,
  type CheckinResponse,
  checkinResponseSchema,
  type EnrollRequest,
  type EnrollResponse,
  enrollResponseSchema,
  type EventsResponse,
  eventsResponseSchema,
  PROTOCOL_PREFIX,
  type RebootLockRequest,
  type RebootLockResponse,
  rebootLockDeniedSchema,
  rebootLockGrantedSchema,
} from "../../server/protocol/v1.ts";
import { describeNetworkError, type HttpAnswer, httpRequest } from "./http.ts";
import { AGENT_VERSION } from "./version.ts";

/**
 * - `unauthorized` (401): the token is unknown or revoked; enroll again or stop.
 * - `retired` (410): the console retired this machine; stop.
 * - `rate-limited` (429): wait `retryAfterSeconds`.
 * - `rejected` (other 4xx): the console refuses this request as sent.
 * - `unavailable` (408, 5xx, network, timeout, an answer that is not protocol v1): retry with backoff.
 */
export type ApiErrorKind = "unauthorized" | "retired" | "rate-limited" | "rejected" | "unavailable";

export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly status: number | null = null,
    /** From a Retry-After header (or a 409's body): the least time to wait before asking again. */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ClientOptions {
  server: string;
  /** The machine token; read at every call, since enrolling again replaces it. */
  token: () => string;
  timeoutSeconds: number;
  /** Aborts calls in flight when the agent stops. */
  signal?: AbortSignal;
}

export class AgentClient {
  constructor(private readonly options: ClientOptions) {}

  async checkin(body: CheckinRequest): Promise<CheckinResponse> {
    const answer = await this.call("POST", "/checkin", this.options.token(), body);
    return parse(checkinResponseSchema, answer.json);
  }

  async sendEvents(events: AgentEvent[]): Promise<EventsResponse> {
    const answer = await this.call("POST", "/events", this.options.token(), { events });
    return parse(eventsResponseSchema, answer.json);
  }

  /**
   * Asks for a reboot slot to boot `checksum` (v1.1: the console grants it
   * only while it still wants that deployment booted); a 409 is an answer
   * (not granted, with its reason), not an error.
   */
  async acquireRebootLock(checksum: string): Promise<RebootLockResponse> {
    const body: RebootLockRequest = { checksum };
    const answer = await this.call("POST", "/reboot-lock", this.options.token(), body, [409]);
    return answer.status === 409 ? parse(rebootLockDeniedSchema, answer.json) : parse(rebootLockGrantedSchema, answer.json);
  }

  async releaseRebootLock(): Promise<void> {
    await this.call("DELETE", "/reboot-lock", this.options.token());
  }

  private async call(method: string, route: string, token: string, body?: unknown, answered: number[] = []) {
    const url = `${this.options.server.replace(/\/+$/, "")}${PROTOCOL_PREFIX}${route}`;
    return request(url, method, token, body, this.options, answered);
  }
}

/** POST /enroll with an enrollment token: a new machine token for `body.machineId`. */
export async function enroll(
  server: string,
  enrollmentToken: string,
  body: Omit<EnrollRequest, "agentVersion">,
  options: { timeoutSeconds: number; signal?: AbortSignal },
): Promise<EnrollResponse> {
  const url = `${server.replace(/\/+$/, "")}${PROTOCOL_PREFIX}/enroll`;
  const answer = await request(url, "POST", enrollmentToken, { ...body, agentVersion: AGENT_VERSION }, options, []);
  return parse(enrollResponseSchema, answer.json);
}

async function request(
  url: string,
  method: string,
  token: string,
  body: unknown,
  options: { timeoutSeconds: number; signal?: AbortSignal },
  answered: number[],
): Promise<{ status: number; json: unknown }> {
  const timeout = AbortSignal.timeout(options.timeoutSeconds * 1000);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let response: HttpAnswer;
  try {
    response = await httpRequest(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: "application/json",
        "user-agent": `orchard-agent/${AGENT_VERSION}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    options.signal?.throwIfAborted();
    const why = timeout.aborted ? `timed out after ${options.timeoutSeconds} s` : describeNetworkError(error);
    throw new ApiError("unavailable", `${method} ${url}: ${why}`);
  }
  const json = parseJson(response.body);
  const ok = response.status >= 200 && response.status < 300;
  if (ok || answered.includes(response.status)) return { status: response.status, json };

  const message = `${method} ${url}: ${response.status} ${errorMessageOf(json) ?? response.statusText}`;
  const retryAfter = parseRetryAfter(firstHeader(response.headers["retry-after"]));
  if (response.status === 401) throw new ApiError("unauthorized", message, 401);
  if (response.status === 410) throw new ApiError("retired", message, 410);
  if (response.status === 429) throw new ApiError("rate-limited", message, 429, retryAfter ?? 60);
  // 408: the console (or a proxy) gave up reading the request: a busy console, not a refusal.
  if (response.status === 408 || response.status >= 500) throw new ApiError("unavailable", message, response.status, retryAfter);
  throw new ApiError("rejected", message, response.status, retryAfter);
}

function firstHeader(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

function parse<S extends z.ZodType>(schema: S, json: unknown): z.infer<S> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ApiError("unavailable", `the console's answer is not protocol v1: ${issue.path.join(".")}: ${issue.message}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorMessageOf(json: unknown): string | null {
  const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof error?.message === "string" ? `${String(error.code)}: ${error.message}` : null;
}

/** A Retry-After header in seconds (it may be a number of seconds or an HTTP date). */
export function parseRetryAfter(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+(\.\d+)?$/.test(header.trim())) return Number(header);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, (at - now) / 1000);
}
