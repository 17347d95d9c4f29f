// Serves a stored file for GET and HEAD: Content-Length, ETag (the file's
// sha256), Accept-Ranges, one byte range (206 with Content-Range; 416 when it
// cannot be satisfied), If-None-Match (304). The console's artifact downloads
// use it, and the device protocols' downloads are to use the same function.
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";

export interface ServedFile {
  /** Where the bytes are. */
  path: string;
  size: number;
  sha256: string;
  contentType: string;
  /** The name a browser saves it as. */
  name: string;
}

/** A single range of `Range: bytes=…` within `size` bytes, `unsatisfiable`, or null to send the whole file (none, or not one we honour). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null; // several ranges or another unit: the whole file (RFC 9110 lets a server ignore Range)
  const [, first, last] = match;
  if (first === "" && last === "") return null;
  let start: number;
  let end: number;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== "" && Number(last) < start) return null; // invalid: ignored
  }
  if (start >= size || size === 0) return "unsatisfiable";
  return { start, end };
}

export async function serveFile(req: IncomingMessage, res: ServerResponse, file: ServedFile): Promise<void> {
  const etag = `"${file.sha256}"`;
  const common = {
    etag,
    "accept-ranges": "bytes",
    "cache-control": "private, no-cache",
    "content-disposition": `attachment; filename="${file.name}"`,
  };
  req.resume();
  const inm = req.headers["if-none-match"];
  if (inm && inm.split(",").some((tag) => tag.trim() === etag || tag.trim() === "*")) {
    res.writeHead(304, common);
    res.end();
    return;
  }
  const ifRange = req.headers["if-range"];
  const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, file.size) : null;
  if (range === "unsatisfiable") {
    res.writeHead(416, { ...common, "content-range": `bytes */${file.size}`, "content-length": "0" });
    res.end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? file.size - 1;
  const headers: Record<string, string> = {
    ...common,
    "content-type": file.contentType,
    "content-length": String(file.size === 0 ? 0 : end - start + 1),
  };
  if (range) headers["content-range"] = `bytes ${start}-${end}/${file.size}`;
  if (req.method === "HEAD" || file.size === 0) {
    res.writeHead(range ? 206 : 200, headers);
    res.end();
    return;
  }
  // Opened before the head is sent: a missing file is still an error the caller answers.
  const handle = await fs.promises.open(file.path, "r");
  res.writeHead(range ? 206 : 200, headers);
  try {
    await pipeline(handle.createReadStream({ start, end, autoClose: true }), res);
  } catch {
    // The client went away, or the file could not be read past its head: the connection is cut.
    res.destroy();
  } finally {
    await handle.close().catch(() => undefined);
  }
}
