// A console that speaks just enough of protocol v1 for the agent's tests: a
// real node:http server on port 0 that validates every body with the shared
// schemas, answers like the console would, and can be told to misbehave. It
// speaks 1.0 unless told 1.1, whose hold, cancel and refusal reasons follow
// the rules of docs/agent-protocol-v1.md ("Version 1.1: hold and cancel").
// Like a console before 1.3, it takes events only by POST /events: a
// check-in's `events` are read and left out of its answer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type AgentEvent,
  type CheckinRequest,
  checkinRequestSchema,
  describeFirstIssue,
  type EnrollRequest,
  enrollRequestSchema,
  eventsRequestSchema,
  type InFlightDirective,
  PROTOCOL_PREFIX,
  type RebootLockRefusal,
  rebootLockRequestSchema,
} from "../../../server/protocol/v1.ts";
import type { UpdateTarget } from "../store.ts";

export interface FakeMachine {
  machineId: string;
  /** The last enrollment's body. */
  enrolled: EnrollRequest;
  token: string;
  lastSeq: number;
  checkins: CheckinRequest[];
  /** Every event stored, once per id, in arrival order. */
  events: AgentEvent[];
  /** Events resent with an id already stored. */
  duplicates: number;
  holdsLock: boolean;
  lockRequests: number;
  /** The body of every reboot-lock request, in order. */
  lockBodies: unknown[];
  retired: boolean;
}

/** A way to fail the next call to a route: answer `status`, or store the call and drop the connection. */
export type Fault = { status: number; retryAfter?: number } | "drop-after-handling";

export class FakeConsole {
  readonly machines = new Map<string, FakeMachine>();
  readonly enrollmentTokens = new Set(["enroll-me"]);
  /** What every machine should boot; null for nothing assigned. */
  desired: (UpdateTarget & { reason?: string; allowDowngrade?: boolean }) | null = null;
  /** The action when the booted checksum differs from `desired`. */
  action: "update" | "rollback" = "update";
  intervalSeconds = 0.1;
  /** Answer this many reboot-lock requests with 409 (ring full) before granting. */
  lockDenials = 0;
  lockRetryAfterSeconds = 0.05;
  /** "1.0": answers carry no hold or cancel and refusals no reason, as a console before 1.1. */
  version: "1.0" | "1.1" = "1.0";
  /** v1.1: the rollout of `desired` is paused: machines on their way to it are held, and refused a slot (`held`). */
  holdReason: string | null = null;
  /** v1.1: a withdrawn checksum: machines on their way to it (not booted on it) are cancelled, and refused a slot (`not_wanted`). */
  withdrawn: InFlightDirective | null = null;
  /** Refuse the next reboot-lock requests with these reasons, in order, whatever else holds (without one for 1.0). */
  readonly lockRefusals: RebootLockRefusal[] = [];
  /** Fields merged into a check-in's answer, to send what a console following the rules would not. */
  answerExtras: ((body: CheckinRequest) => Record<string, unknown>) | null = null;
  /** Faults for the next calls, by route (e.g. "POST /events"), used up in order. */
  readonly faults = new Map<string, Fault[]>();
  /** How long to hold a check-in's answer, decided as it arrives (the answer is what held then): a console slow to answer. */
  answerDelayMs: ((body: CheckinRequest) => number) | null = null;
  /** Called as a check-in arrives, before it is applied. */
  onCheckin: ((body: CheckinRequest, machine: FakeMachine) => void) | null = null;

  private enrollments = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeConsole> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const fake = new FakeConsole(server, `http://127.0.0.1:${port}`);
    server.on("request", (req, res) => void fake.handle(req, res));
    return fake;
  }

  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again on the same port after `close()`, with everything it stored (a console back from an outage). */
  async reopen(): Promise<void> {
    const { port } = new URL(this.url);
    await new Promise<void>((resolve) => this.server.listen(Number(port), "127.0.0.1", resolve));
  }

  machine(machineId: string): FakeMachine {
    const machine = this.machines.get(machineId);
    if (!machine) throw new Error(`${machineId} never enrolled`);
    return machine;
  }

  fail(route: string, ...faults: Fault[]) {
    this.faults.set(route, [...(this.faults.get(route) ?? []), ...faults]);
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const route = `${req.method} ${(req.url ?? "").replace(PROTOCOL_PREFIX, "")}`;
    const body = await readJson(req);
    const fault = this.faults.get(route)?.shift();
    if (fault && fault !== "drop-after-handling") {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers["retry-after"] = String(fault.retryAfter);
      return send(res, fault.status, { error: { code: "internal", message: "injected fault" } }, headers);
    }
    const answer = this.answer(route, req.headers.authorization ?? "", body);
    const delay = route === "POST /checkin" && this.answerDelayMs ? this.answerDelayMs(body as CheckinRequest) : 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (fault === "drop-after-handling") return res.destroy();
    send(res, answer.status, answer.body);
  }

  private answer(route: string, authorization: string, body: unknown): { status: number; body: unknown } {
    const token = authorization.replace(/^Bearer /, "");
    if (route === "POST /enroll") {
      if (!this.enrollmentTokens.has(token)) return error(401, "unauthorized", "unknown enrollment token");
      const parsed = enrollRequestSchema.safeParse(body);
      if (!parsed.success) return error(400, "invalid_request", describeFirstIssue(parsed.error));
      const existing = this.machines.get(parsed.data.machineId);
      const machine: FakeMachine = {
        ...(existing ?? emptyMachine(parsed.data)),
        enrolled: parsed.data,
        token: `machine-${parsed.data.machineId}-${++this.enrollments}`,
        retired: false,
      };
      this.machines.set(machine.machineId, machine);
      return {
        status: existing ? 200 : 201,
        body: { machineId: machine.machineId, token: machine.token, ring: "canary", checkInIntervalSeconds: this.intervalSeconds },
      };
    }
    const machine = [...this.machines.values()].find((m) => m.token === token);
    if (!machine) return error(401, "unauthorized", "unknown token");
    if (machine.retired) return error(410, "machine_retired", "retired");

    if (route === "POST /checkin") {
      const parsed = checkinRequestSchema.safeParse(body);
      if (!parsed.success) return error(400, "invalid_request", describeFirstIssue(parsed.error));
      this.onCheckin?.(parsed.data, machine);
      if (parsed.data.seq > machine.lastSeq) {
        machine.lastSeq = parsed.data.seq;
        machine.checkins.push(parsed.data);
      }
      const booted = parsed.data.deployments.find((d) => d.booted)?.checksum;
      const desired = this.desired && { reason: "test", ...this.desired };
      return {
        status: 200,
        body: {
          serverTime: new Date().toISOString(),
          checkInIntervalSeconds: this.intervalSeconds,
          action: desired && booted !== desired.checksum ? this.action : "none",
          desired,
          ...(this.version === "1.1" ? this.directives(parsed.data) : {}),
          ...this.answerExtras?.(parsed.data),
        },
      };
    }
    if (route === "POST /events") {
      const parsed = eventsRequestSchema.safeParse(body);
      if (!parsed.success) return error(400, "invalid_request", describeFirstIssue(parsed.error));
      let accepted = 0;
      for (const event of parsed.data.events) {
        if (machine.events.some((e) => e.id === event.id)) continue;
        machine.events.push(event);
        accepted++;
      }
      machine.duplicates += parsed.data.events.length - accepted;
      return { status: 200, body: { accepted, duplicates: parsed.data.events.length - accepted } };
    }
    if (route === "POST /reboot-lock") {
      machine.lockRequests++;
      machine.lockBodies.push(body);
      const parsed = rebootLockRequestSchema.safeParse(body ?? {});
      if (!parsed.success) return error(400, "invalid_request", describeFirstIssue(parsed.error));
      const refusal = this.lockRefusals.shift() ?? this.refusalFor(machine, parsed.data.checksum);
      if (refusal) {
        const reason = this.version === "1.1" ? { reason: refusal } : {};
        return { status: 409, body: { granted: false, retryAfterSeconds: this.lockRetryAfterSeconds, ...reason } };
      }
      machine.holdsLock = true;
      return { status: 200, body: { granted: true, expiresAt: new Date(Date.now() + 900_000).toISOString() } };
    }
    if (route === "DELETE /reboot-lock") {
      const released = machine.holdsLock;
      machine.holdsLock = false;
      return { status: 200, body: { released } };
    }
    return error(404, "not_found", `no route ${route}`);
  }

  /**
   * v1.1: `hold` for a machine downloading or staging `desired` while its
   * rollout is paused; `cancel` for one downloading, staged or rebooting
   * towards a withdrawn checksum it has not booted.
   */
  private directives(body: CheckinRequest) {
    const booted = body.deployments.find((d) => d.booted)?.checksum;
    const heading = underWay(body, ["downloading", "staged"]);
    const hold = this.holdReason && this.desired && heading === this.desired.checksum ? { checksum: heading, reason: this.holdReason } : null;
    const withdrawn = this.withdrawn;
    const cancelled =
      withdrawn && underWay(body, ["downloading", "staged", "rebooting"]) === withdrawn.checksum && booted !== withdrawn.checksum;
    return { hold, cancel: cancelled ? withdrawn : null };
  }

  /**
   * Why a slot is refused: the ring is full (`lockDenials`); and for 1.1,
   * the console does not want that checksum booted (not desired, or
   * withdrawn), or the rollout is paused.
   */
  private refusalFor(machine: FakeMachine, asked: string | undefined): RebootLockRefusal | null {
    if (this.version === "1.1") {
      const checksum = asked ?? machine.checkins.at(-1)?.update.targetChecksum;
      if (!this.desired || checksum !== this.desired.checksum || this.withdrawn?.checksum === checksum) return "not_wanted";
      if (this.holdReason) return "held";
    }
    if (this.lockDenials > 0) {
      this.lockDenials--;
      return "ring_full";
    }
    return null;
  }
}

/** The update a check-in reports under way, in one of `states`, or null. */
function underWay(body: CheckinRequest, states: string[]): string | null {
  return states.includes(body.update.state) ? body.update.targetChecksum : null;
}

function emptyMachine(enrolled: EnrollRequest): FakeMachine {
  return {
    machineId: enrolled.machineId,
    enrolled,
    token: "",
    lastSeq: 0,
    checkins: [],
    events: [],
    duplicates: 0,
    holdsLock: false,
    lockRequests: 0,
    lockBodies: [],
    retired: false,
  };
}

function error(status: number, code: string, message: string) {
  return { status, body: { error: { code, message } } };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** Polls `check` until it returns something other than undefined or false (errors count as not yet). */
export async function eventually<T>(
  check: () => T | undefined | false,
  timeoutMs = 5000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
