// Where the command line's commands run: on the configured database through
// the console's own procedures (local), or through a console's REST API with
// an API token (remote: ORCHARD_URL and ORCHARD_TOKEN, or --server and
// --token). Both call the same procedure with the same input and hand back
// the same answer, so that a command prints the same thing and exits with
// the same code either way; both fail with the same problem details.
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import fs from "node:fs";
import { Readable } from "node:stream";
import { problem, type Problem } from "../api/problem";
import { API_PREFIX, API_ROUTES } from "../api/routes";
import type { AppRouter } from "../trpc/router";
import type { Artifact } from "../artifacts/schemas";

type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;
/** A procedure's path, such as `rollouts.pause`. */
export type ProcedurePath = { [R in keyof Outputs & string]: `${R}.${keyof Outputs[R] & string}` }[keyof Outputs & string];
type At<T, P> = P extends `${infer R}.${infer Q}` ? (R extends keyof T ? (Q extends keyof T[R] ? T[R][Q] : never) : never) : never;
export type InputOf<P extends ProcedurePath> = At<Inputs, P>;
export type OutputOf<P extends ProcedurePath> = At<Outputs, P>;

/** A refusal or failure as the console describes it; the exit code follows from its code. */
export class CliFailure extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }

  /** 2 for what the caller got wrong (bad input, nothing there), 1 for the rest. */
  get exitCode() {
    return this.problem.code === "INVALID" || this.problem.code === "NOT_FOUND" ? 2 : 1;
  }
}

export interface Backend {
  readonly kind: "local" | "remote";
  call<P extends ProcedurePath>(procedure: P, input?: InputOf<P>): Promise<OutputOf<P>>;
  /** The audit log as CSV lines. */
  auditCsv(filter: Record<string, string>): AsyncIterable<string>;
  /** Uploads a file as a release's artifact (its sha256 computed here and checked by the console). */
  uploadArtifact(upload: ArtifactUpload): Promise<Artifact>;
  close(): Promise<void>;
}

export interface ArtifactUpload {
  releaseId: string;
  name: string;
  /** The local file. */
  file: string;
  sha256: string;
  contentType: string;
}

/** How often a request refused by the rate limit (429) is sent in all, each after its Retry-After. */
const RATE_LIMITED_ATTEMPTS = 5;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** JSON with its times as Dates again, as the procedures answer locally. */
function revive(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => (typeof value === "string" && ISO_TIME.test(value) ? new Date(value) : value));
}

export function remoteBackend(server: string, token: string): Backend {
  const base = new URL(API_PREFIX, server.endsWith("/") ? server : `${server}/`).toString().replace(/\/$/, "");
  const headers = { authorization: `Bearer ${token}`, accept: "application/json" };

  async function request(method: string, path: string, body?: unknown, query?: URLSearchParams, upload?: ArtifactUpload) {
    const url = `${base}${path}${query && [...query.keys()].length ? `?${query}` : ""}`;
    let res: Response;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await fetch(
          url,
          upload
            ? {
                method,
                headers: { ...headers, "content-type": upload.contentType, "x-checksum-sha256": upload.sha256, "content-length": String(fs.statSync(upload.file).size) },
                // Streamed from the file, never read whole; a fresh stream for each attempt.
                body: Readable.toWeb(fs.createReadStream(upload.file)) as ReadableStream,
                duplex: "half",
              } as RequestInit
            : {
                method,
                headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
                body: body === undefined ? undefined : JSON.stringify(body),
              },
        );
      } catch (error) {
        const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
        throw new CliFailure(problem(503, "UNAVAILABLE", `cannot reach the console at ${server}: ${cause}`));
      }
      // Over the token's rate limit nothing was done: wait as the console says, a few times, then give up with its answer.
      if (res.status !== 429 || attempt === RATE_LIMITED_ATTEMPTS) break;
      await res.arrayBuffer();
      const wait = Math.min(Math.max(Number(res.headers.get("retry-after")) || 1, 1), 30);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    }
    if (!res.ok) {
      const text = await res.text();
      let p: Problem;
      try {
        p = JSON.parse(text) as Problem;
      } catch {
        p = problem(res.status, res.status === 404 ? "NOT_FOUND" : "INTERNAL", `the console answered ${res.status}: ${text.slice(0, 200)}`);
      }
      throw new CliFailure(p);
    }
    return res;
  }

  return {
    kind: "remote",
    async call(procedure, input) {
      const route = API_ROUTES.find((r) => r.procedure === procedure);
      if (!route) throw new CliFailure(problem(400, "INVALID", `${procedure} is not in the REST API`));
      const rest: Record<string, unknown> = { ...((input as Record<string, unknown> | undefined) ?? {}) };
      const path = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
        const value = rest[name];
        delete rest[name];
        return encodeURIComponent(String(value ?? ""));
      });
      const withBody = route.method !== "GET" && route.method !== "DELETE";
      const query = new URLSearchParams();
      if (!withBody) {
        for (const [key, value] of Object.entries(rest)) {
          if (value === undefined || value === null) continue;
          for (const item of Array.isArray(value) ? value : [value]) query.append(key, item instanceof Date ? item.toISOString() : String(item));
        }
      }
      const res = await request(route.method, path, withBody ? rest : undefined, query);
      const text = await res.text();
      return (text ? revive(text) : null) as never;
    },
    async uploadArtifact(upload) {
      const path = `/releases/${encodeURIComponent(upload.releaseId)}/artifacts/${encodeURIComponent(upload.name)}`;
      const res = await request("PUT", path, undefined, undefined, upload);
      return revive(await res.text()) as Artifact;
    },
    async *auditCsv(filter) {
      const res = await request("GET", "/audit.csv", undefined, new URLSearchParams(filter));
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
    },
    async close() {},
  };
}

/** Remote when a server and a token are given (flags first, then ORCHARD_URL and ORCHARD_TOKEN), else local. */
export function chooseBackend(flags: { server?: string; token?: string }): Backend {
  const server = flags.server ?? process.env.ORCHARD_URL;
  const token = flags.token ?? process.env.ORCHARD_TOKEN;
  if (server && token) return remoteBackend(server, token);
  if (server || token) {
    throw new CliFailure(problem(400, "INVALID", server ? "a server without a token: set ORCHARD_TOKEN or --token" : "a token without a server: set ORCHARD_URL or --server"));
  }
  return lazyLocalBackend();
}

/**
 * The local backend, loaded on first use: it brings the whole console (its
 * router, Prisma, the database driver), which a remote command never needs
 * and which takes most of a command's start.
 */
function lazyLocalBackend(): Backend {
  let loaded: Promise<Backend> | null = null;
  const load = () => (loaded ??= import("./local-backend").then((m) => m.localBackend()));
  return {
    kind: "local",
    call: async (procedure, input) => (await load()).call(procedure, input),
    uploadArtifact: async (upload) => (await load()).uploadArtifact(upload),
    async *auditCsv(filter) {
      yield* (await load()).auditCsv(filter);
    },
    async close() {
      if (loaded) await (await loaded).close();
    },
  };
}
