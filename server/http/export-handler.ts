// CSV exports for signed-in users: GET /api/export/audit.csv?actor=…&action=…
// &targetType=…&targetId=…&from=…&to=… (the audit page's filters).
import type { IncomingMessage, ServerResponse } from "node:http";
import { ZodError } from "zod";
import { auditCsv } from "../audit/list-audit";
import { AppError } from "../errors";
import type { Logger } from "../logger";
import { describeFirstIssue } from "../protocol/v1";
import { mayAct } from "../vocabulary";
import { findUnstorable, UNSTORABLE_MESSAGE } from "../text";
import { type SessionOptions, sessionUser } from "./session";

export const EXPORT_PREFIX = "/api/export/";

export function createExportHandler(options: SessionOptions & { log: Logger }) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    req.resume();
    const plain = (status: number, text: string) => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
      res.end(`${text}\n`);
    };
    if (req.method !== "GET" || url.pathname !== `${EXPORT_PREFIX}audit.csv`) return plain(404, "not found");
    const user = await sessionUser(req, options);
    if (!user) return plain(401, "sign in first");
    if (!mayAct(user, "viewer", null)) return plain(403, "the audit log concerns the whole fleet, and your role is limited to some rings");
    const filter = Object.fromEntries([...url.searchParams.entries()].filter(([, v]) => v !== ""));
    const bad = findUnstorable(filter);
    if (bad) return plain(400, `${bad}: ${UNSTORABLE_MESSAGE}`);
    try {
      const lines = auditCsv(options.db.prisma, filter);
      const first = await lines.next(); // validates the filter before any header is sent
      res.writeHead(200, {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="orchard-audit-${new Date().toISOString().slice(0, 10)}.csv"`,
        "cache-control": "no-store",
      });
      if (!first.done) res.write(first.value);
      for await (const chunk of lines) res.write(chunk);
      res.end();
    } catch (error) {
      if (error instanceof ZodError) return plain(400, describeFirstIssue(error));
      if (error instanceof AppError && error.code === "INVALID") return plain(400, error.message);
      options.log.error({ err: error }, "audit export failed");
      if (!res.headersSent) return plain(500, "internal error");
      res.destroy();
    }
  };
}
