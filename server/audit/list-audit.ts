import { z } from "zod";
import type { Prisma, PrismaClient } from "../db/client";

export const listAuditInput = z.object({
  actor: z.string().max(254).optional(),
  action: z.string().max(100).optional(),
  targetType: z.string().max(50).optional(),
  targetId: z.string().max(200).optional(),
  page: z.number().int().min(0).max(100_000).default(0),
  pageSize: z.number().int().min(1).max(200).default(50),
});
export type ListAuditInput = z.input<typeof listAuditInput>;

export async function listAudit(db: PrismaClient, input: ListAuditInput) {
  const query = listAuditInput.parse(input);
  const where: Prisma.AuditLogWhereInput = {
    actorLabel: query.actor || undefined,
    action: query.action || undefined,
    targetType: query.targetType || undefined,
    targetId: query.targetId || undefined,
  };
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
