// A URL path whose percent-encoding does not decode is answered 400 by the
// console's one HTTP server, before any handler sees it: the agent protocol,
// tRPC, the exports, and the paths handed to Next.js (whose dynamic routes
// answered them 500).
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestConsole, type TestConsole } from "../helpers/console";

let app: TestConsole;

beforeAll(async () => {
  app = await startTestConsole();
});

afterAll(async () => {
  await app?.stop();
});

/** The path exactly as written (fetch would normalise it), over plain HTTP. */
function request(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: app.port, method, path, headers: { "content-length": "0" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("malformed URL paths", () => {
  const malformed = [
    "/%",
    "/%E0%A4%A", // a UTF-8 sequence cut short
    "/%C0%AF", // an overlong encoding of "/"
    "/%ZZ",
    "/api/agent/v1/%ZZ",
    "/api/agent/v1/checkin%",
    "/api/trpc/users.me%",
    "/api/export/audit.csv%E0",
    "/healthz%",
    // Paths handed to Next.js: a page, a dynamic page, next-auth.
    "/machines%",
    "/machines/%ZZ",
    "/api/auth/session%E0%A4%A",
  ];

  it.each(malformed)("answers 400 to GET and POST %s", async (path) => {
    for (const method of ["GET", "POST"]) {
      const res = await request(method, path);
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(JSON.parse(res.body)).toEqual({ error: { code: "invalid_request", message: "malformed URL path (bad percent-encoding)" } });
    }
  });

  it("routes well-formed escapes and bad query strings as before, and stays up", async () => {
    expect((await request("GET", "/healthz?x=%")).status).toBe(200);
    expect((await request("GET", "/api/agent/v1/check%20in")).status).toBe(404);
    expect((await request("GET", "/machines/%E0%A4%A4")).status).toBe(404); // no pages in this console
    expect((await request("GET", "/healthz")).status).toBe(200);
  });
});
