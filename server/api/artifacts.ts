// The REST API's streaming routes for release artifacts, beside the JSON
// routes of routes.ts (which read a body of at most 1 MiB as JSON):
//   PUT  /api/v1/releases/{releaseId}/artifacts/{name}  the raw bytes as the body,
//        X-Checksum-Sha256: the file's sha256 (hex), Content-Type: the file's type
//        (default application/octet-stream). 201 with the artifact; 400 naming
//        `sha256` when the bytes do not match it (nothing is stored); 413 over
//        ORCHARD_ARTIFACT_MAX_BYTES; 409 when the release has that name already.
//   GET, HEAD  the same path: the file (server/http/serve-file.ts: Range, ETag).
// Listing and removing are procedures (releases.artifacts, releases.removeArtifact).
// Uploading needs a fleet-wide operator (a release's files serve every ring
// that runs it); downloading, any viewer.
import type { IncomingMessage, ServerResponse } from "node:http";
import { finished } from "node:stream/promises";
import type { Principal } from "../auth/principal";
import { actorOf } from "../auth/principal";
import { ArtifactTooLarge, findArtifactFile, storeArtifact } from "../artifacts/artifacts";
import type { Database } from "../db/client";
import { serveFile } from "../http/serve-file";
import { mayAct, roleAtLeast } from "../vocabulary";
import { problem, problemOfDomain, type Problem } from "./problem";

/** `/releases/{releaseId}/artifacts/{name}` under /api/v1. */
export const ARTIFACT_PATH = /^\/releases\/([^/]+)\/artifacts\/([^/]+)$/;
/** The methods the streaming route answers; DELETE on the same path is the releases.removeArtifact procedure. */
export const ARTIFACT_METHODS = ["PUT", "GET", "HEAD"] as const;
export const CHECKSUM_HEADER = "x-checksum-sha256";

export interface ArtifactRouteOptions {
  db: Database;
  /** artifactsDir() of the data folder. */
  dir: string;
  maxBytes: number;
}

type Send = (status: number, body: unknown) => void;

export async function handleArtifactRequest(
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  params: { releaseId: string; name: string },
  principal: Principal,
  options: ArtifactRouteOptions,
  send: Send,
): Promise<void> {
  const refuse = (p: Problem) => {
    req.resume();
    send(p.status, p);
  };
  try {
    if (method === "PUT") {
      if (!mayAct(principal, "operator", null)) {
        return refuse(problem(403, "FORBIDDEN", "uploading an artifact needs the operator role over the whole fleet (a release's files serve every ring that runs it)"));
      }
      const sha256 = req.headers[CHECKSUM_HEADER];
      if (typeof sha256 !== "string" || sha256 === "") {
        return refuse(problem(400, "INVALID", "sha256: send the file's sha256 as the X-Checksum-Sha256 header", { field: "sha256" }));
      }
      const length = req.headers["content-length"];
      const contentType = (req.headers["content-type"] ?? "application/octet-stream").split(";", 1)[0].trim() || "application/octet-stream";
      const artifact = await storeArtifact(db(options), actorOf(principal), { releaseId: params.releaseId, name: params.name, sha256, contentType }, req, {
        dir: options.dir,
        maxBytes: options.maxBytes,
        declaredSize: length === undefined ? undefined : Number(length),
      });
      return send(201, artifact);
    }
    if (!roleAtLeast(principal.role, "viewer")) return refuse(problem(403, "FORBIDDEN", "this needs the viewer role"));
    const file = await findArtifactFile(db(options), params, options.dir);
    await serveFile(req, res, file);
  } catch (error) {
    if (error instanceof ArtifactTooLarge) {
      res.setHeader("connection", "close");
      const declared = Number(req.headers["content-length"]);
      if (!req.complete && Number.isFinite(declared) && declared <= READ_PAST_REFUSAL_BYTES) {
        // A small body is read to its end before the answer: a client still
        // sending would otherwise meet a closed connection, not the 413.
        req.resume();
        await finished(req).catch(() => undefined);
      } else {
        // The rest of a large body is not read: the connection closes after the answer.
        res.once("finish", () => req.destroy());
      }
      return send(413, problem(413, "INVALID", error.message, { field: "size" }));
    }
    const p = problemOfDomain(error);
    if (!p) throw error;
    refuse(p);
  }
}

/** An oversize body up to this size is read to its end before the 413 (see the refusal). */
const READ_PAST_REFUSAL_BYTES = 8 * 1024 * 1024;

const db = (options: ArtifactRouteOptions) => options.db.prisma;
