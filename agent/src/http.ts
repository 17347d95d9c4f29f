// One HTTP request with node:http(s). Not fetch: Node loads fetch's engine
// (undici) on first use, some 10 MB of resident memory the agent does not
// need for a few small JSON calls a minute.
import http, { type IncomingHttpHeaders } from "node:http";
import https from "node:https";

export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  /** The body as text, cut at `maxBodyBytes`. */
  body: string;
}

export interface HttpRequest {
  method: string;
  headers?: Record<string, string>;
  body?: string;
  /** Aborting it (a timeout, the agent stopping) ends the request with the signal's reason. */
  signal: AbortSignal;
  maxBodyBytes?: number;
}

export function httpRequest(url: string, request: HttpRequest): Promise<HttpAnswer> {
  const target = new URL(url);
  const client = target.protocol === "https:" ? https : http;
  const maxBytes = request.maxBodyBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const outgoing = client.request(target, { method: request.method, headers: request.headers, signal: request.signal }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        if (size < maxBytes) chunks.push(chunk);
        size += chunk.length;
      });
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          statusText: response.statusMessage ?? "",
          headers: response.headers,
          body: Buffer.concat(chunks).subarray(0, maxBytes).toString("utf8"),
        }),
      );
      response.on("error", reject);
    });
    outgoing.on("error", (error) => reject(request.signal.aborted ? request.signal.reason : error));
    outgoing.end(request.body);
  });
}

/** What went wrong with a connection, in a word where there is one (ECONNREFUSED, ENOTFOUND…). */
export function describeNetworkError(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e.code ?? e.message ?? String(error);
}
