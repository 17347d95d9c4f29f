// Reading the audit log: filters by actor, action, target and time, paged
// for the console and streamed as CSV for export. The console never removes
// an entry (server/retention/ prunes everything else): exporting a time
// range (from inclusive, to exclusive) is how an old part is archived.
import { z } from "zod";
import type { Prisma, PrismaClient } from "../db/client";
import { invalid } from "../errors";
import { inStoredRange, TIME_RANGE_MESSAGE } from "../text";

export const auditFilterSchema = z.object({
  actor: z.string().max(254).optional(),
  action: z.string().max(100).optional(),
  targetType: z.string().max(50).optional(),
  targetId: z.string().max(200).optional(),
  from: z.coerce.date({ error: "expected a date and time" }).refine(inStoredRange, TIME_RANGE_MESSAGE).optional(),
  to: z.coerce.date({ error: "expected a date and time" }).refine(inStoredRange, TIME_RANGE_MESSAGE).optional(),
});
export type AuditFilter = z.input<typeof auditFilterSchema>;

export const listAuditInput = auditFilterSchema.extend({
  page: z.number().int().min(0).max(100_000).default(0),
  pageSize: z.number().int().min(1).max(200).default(50),
});
export type ListAuditInput = z.input<typeof listAuditInput>;

/** One row of the audit log. */
export const auditRowSchema = z
  .object({
    id: z.string(),
    at: z.date(),
    /** Who: a user's e-mail, token:<name>, cli:<login>, or the controller. */
    actorLabel: z.string(),
    actorId: z.string().nullable(),
    tokenId: z.string().nullable(),
    action: z.string(),
    targetType: z.string(),
    targetId: z.string().nullable(),
    reason: z.string().nullable(),
    /** What the action changed, as it was before and after (any JSON). */
    before: z.unknown(),
    after: z.unknown(),
  })
  .meta({ id: "AuditRow" });

export const listAuditOutput = z.object({
  rows: z.array(auditRowSchema),
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
});

/** The rows a filter selects; a time range that ends before it starts is refused (naming `to`). */
function whereOf(filter: z.output<typeof auditFilterSchema>): Prisma.AuditLogWhereInput {
  if (filter.from && filter.to && filter.to.getTime() <= filter.from.getTime()) throw invalid("to", "must be after from");
  return {
    actorLabel: filter.actor || undefined,
    action: filter.action || undefined,
    targetType: filter.targetType || undefined,
    targetId: filter.targetId || undefined,
    at: filter.from || filter.to ? { gte: filter.from, lt: filter.to } : undefined,
  };
}

export async function listAudit(db: PrismaClient, input: ListAuditInput) {
  const query = listAuditInput.parse(input);
  const where = whereOf(query);
  const [rows, total] = await Promise.all([
    db.auditLog.findMany({
      where,
      orderBy: [{ at: "desc" }, { id: "desc" }],
      skip: query.page * query.pageSize,
      take: query.pageSize,
    }),
    db.auditLog.count({ where }),
  ]);
  return { rows, total, page: query.page, pageSize: query.pageSize };
}

const CSV_COLUMNS = ["at", "actor", "action", "target_type", "target_id", "reason", "before", "after"] as const;

function csvField(value: unknown): string {
  const text = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  // Quote every field; neutralise spreadsheet formulas.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${safe.replace(/"/g, '""')}"`;
}

/** The filtered audit log as CSV lines (header first), oldest first, read in pages. */
export async function* auditCsv(db: PrismaClient, filter: AuditFilter): AsyncGenerator<string> {
  const where = whereOf(auditFilterSchema.parse(filter));
  yield `${CSV_COLUMNS.join(",")}\r\n`;
  let cursor: string | undefined;
  for (;;) {
    const rows = await db.auditLog.findMany({
      where,
      orderBy: [{ at: "asc" }, { id: "asc" }],
      take: 1000,
      ...(cursor ? { skip: 1, cursor: { id: cursor } } : {}),
    });
    if (rows.length === 0) return;
    yield rows
      .map((r) =>
        [r.at.toISOString(), r.actorLabel, r.action, r.targetType, r.targetId, r.reason, r.before, r.after].map(csvField).join(",") + "\r\n",
      )
      .join("");
    cursor = rows.at(-1)!.id;
  }
}
