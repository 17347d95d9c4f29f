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

  it("reads a 409 on the reboot lock as an answer", async () => {
    const client = await clientFor(answering(409, { granted: false, retryAfterSeconds: 30 }));
    expect(await client.acquireRebootLock()).toEqual({ granted: false, retryAfterSeconds: 30 });
  });

  it("ignores unknown fields and actions, and refuses answers it cannot trust", async () => {
    const answer = { serverTime: "now", checkInIntervalSeconds: 60, action: "reinstall", desired: null, extra: 1 };
    const lenient = await clientFor(answering(200, answer));
    // A 1.0 console sends no hold or cancel: none.
    expect(await lenient.checkin({} as never)).toEqual({ serverTime: "now", checkInIntervalSeconds: 60, action: "none", desired: null, hold: null, cancel: null });
    await closeServer();

    // A malformed directive from a newer console is no directive, not a failed check-in.
    const odd = await clientFor(answering(200, { ...answer, hold: { checksum: "not-hex" }, cancel: "soon" }));
    expect(await odd.checkin({} as never)).toMatchObject({ hold: null, cancel: null });
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
