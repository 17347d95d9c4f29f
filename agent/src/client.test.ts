import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AgentClient, ApiError, parseRetryAfter } from "./client.ts";

let server: Server | null = null;

async function closeServer() {
  const running = server;
  server = null;
  if (!running) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
}

afterEach(closeServer);

async function clientFor(handler: RequestListener, timeoutSeconds = 2) {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return new AgentClient({ server: `http://127.0.0.1:${port}/`, token: () => "machine-token", timeoutSeconds });
}

function answering(status: number, body: unknown, headers: Record<string, string> = {}): RequestListener {
  return (_req, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
}

const failure = (code: string) => ({ error: { code, message: "no" } });

async function caught(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("agent client", () => {
  it("sends the machine token to the protocol's route", async () => {
    let seen = "";
    const client = await clientFor((req, res) => {
      seen = `${req.method} ${req.url} ${req.headers.authorization}`;
      answering(200, { released: true })(req, res);
    });
    await client.releaseRebootLock();
    expect(seen).toBe("DELETE /api/agent/v1/reboot-lock Bearer machine-token");
  });

  it.each([
    [401, "unauthorized"],
    [410, "retired"],
    [403, "rejected"],
    [400, "rejected"],
    [408, "unavailable"],
    [500, "unavailable"],
    [503, "unavailable"],
  ])("maps %i to %s", async (status, kind) => {
    const client = await clientFor(answering(status, failure("x")));
    expect((await caught(client.sendEvents([]))).kind).toBe(kind);
  });

  it("honours Retry-After on 429 and 503", async () => {
    const limited = await clientFor(answering(429, failure("rate_limited"), { "retry-after": "7" }));
    expect(await caught(limited.sendEvents([]))).toMatchObject({ kind: "rate-limited", retryAfterSeconds: 7 });
    await closeServer();
    const down = await clientFor(answering(503, failure("internal"), { "retry-after": "10" }));
    expect(await caught(down.sendEvents([]))).toMatchObject({ kind: "unavailable", retryAfterSeconds: 10 });
  });

  it("asks for a reboot slot for a checksum, and reads a 409 on the reboot lock as an answer with its reason", async () => {
    const bodies: unknown[] = [];
    let refusal: Record<string, unknown> = { granted: false, retryAfterSeconds: 30 };
    const client = await clientFor((req, res) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk));
      req.on("end", () => {
        bodies.push(JSON.parse(text));
        answering(409, refusal)(req, res);
      });
    });
    const checksum = "a".repeat(64);
    // A 1.0 console gives no reason: the ring is full.
    expect(await client.acquireRebootLock(checksum)).toEqual({ granted: false, retryAfterSeconds: 30 });
    refusal = { ...refusal, reason: "held" };
    expect(await client.acquireRebootLock(checksum)).toEqual({ granted: false, retryAfterSeconds: 30, reason: "held" });
    refusal = { ...refusal, reason: "not_wanted" };
    expect(await client.acquireRebootLock(checksum)).toMatchObject({ reason: "not_wanted" });
    // A reason from a newer console reads as ring_full.
    refusal = { ...refusal, reason: "maintenance_window" };
    expect(await client.acquireRebootLock(checksum)).toMatchObject({ reason: "ring_full" });
    expect(bodies).toEqual([{ checksum }, { checksum }, { checksum }, { checksum }]);
  });

  it("ignores unknown fields and actions, and refuses answers it cannot trust", async () => {
    const answer = { serverTime: "now", checkInIntervalSeconds: 60, action: "reinstall", desired: null, extra: 1 };
    const lenient = await clientFor(answering(200, answer));
    // A 1.0 console sends neither hold nor cancel: both read as null.
    expect(await lenient.checkin({} as never)).toEqual({
      serverTime: "now",
      checkInIntervalSeconds: 60,
      action: "none",
      desired: null,
      hold: null,
      cancel: null,
    });
    await closeServer();

    const checksum = "b".repeat(64);
    const directives = { ...answer, hold: { checksum, reason: "paused" }, cancel: { checksum: "nope" } };
    const v11 = await clientFor(answering(200, directives));
    // A malformed directive is no directive; a good one is kept.
    expect(await v11.checkin({} as never)).toMatchObject({ hold: { checksum, reason: "paused" }, cancel: null });
    await closeServer();

    const bad = { ...answer, action: "update", desired: { ref: "os/x", checksum: "not-hex", version: "1", reason: "" } };
    const strict = await clientFor(answering(200, bad));
    const error = await caught(strict.checkin({} as never));
    expect(error.kind).toBe("unavailable");
    expect(error.message).toMatch(/desired\.checksum/);
  });

  it("times out, and reports an unreachable console as unavailable", async () => {
    const silent = await clientFor(() => {}, 0.1);
    expect((await caught(silent.sendEvents([]))).message).toMatch(/timed out after 0.1 s/);
    const nowhere = new AgentClient({ server: "http://127.0.0.1:9", token: () => "t", timeoutSeconds: 1 });
    expect((await caught(nowhere.sendEvents([]))).kind).toBe("unavailable");
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfter("30")).toBe(30);
    expect(parseRetryAfter(new Date(Date.UTC(2026, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2026, 0, 1))).toBe(10);
    expect(parseRetryAfter("soon")).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });
});
