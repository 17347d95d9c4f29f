// Slow retrieval from the console's side: a client that trickles its headers
// or its body (slowloris) is cut off after ORCHARD_HTTP_HEADERS_TIMEOUT_MS
// (the whole request: twice that), and other clients are answered meanwhile.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestConsole, type TestConsole } from "../helpers/console";

const TIMEOUT_MS = 1000;
let app: TestConsole;

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_HTTP_HEADERS_TIMEOUT_MS: String(TIMEOUT_MS) });
});
afterAll(async () => {
  await app?.stop();
});

/** Sends `head` at once, then one byte of `trickle` every 200 ms; resolves with what the server answered when it closed the connection. */
function trickle(head: string, slow: string): Promise<{ closedAfterMs: number; answer: string }> {
  const { port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(Number(port), "127.0.0.1");
    let answer = "";
    let i = 0;
    let timer: NodeJS.Timeout;
    socket.on("connect", () => {
      socket.write(head);
      timer = setInterval(() => {
        if (i < slow.length && !socket.destroyed) socket.write(slow[i++]);
      }, 200);
    });
    socket.on("data", (d) => (answer += d.toString("utf8")));
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ closedAfterMs: Date.now() - started, answer });
    });
    socket.on("error", () => undefined);
    setTimeout(() => reject(new Error("the console kept a trickling client for 20 s")), 20_000).unref();
  });
}

describe("slow clients", () => {
  it("cuts off a client that trickles its headers, and serves others meanwhile", async () => {
    const slow = trickle("POST /api/agent/v1/checkin HTTP/1.1\r\nHost: x\r\n", "X-Padding: " + "a".repeat(200));
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    const { closedAfterMs, answer } = await slow;
    expect(closedAfterMs).toBeLessThan(TIMEOUT_MS + 3000);
    expect(answer === "" || answer.startsWith("HTTP/1.1 408")).toBe(true);
  });

  it("cuts off a client that trickles its body", async () => {
    const body = JSON.stringify({ seq: 1, padding: "b".repeat(400) });
    const head = `POST /api/agent/v1/checkin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer orch_m_x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { closedAfterMs } = await trickle(head, body);
    expect(closedAfterMs).toBeLessThan(2 * TIMEOUT_MS + 3000);
  });
});
