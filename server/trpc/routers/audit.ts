import { listAudit, listAuditInput } from "../../audit/list-audit";
import { router, viewerProcedure } from "../init";

export const auditRouter = router({
  list: viewerProcedure.input(listAuditInput).query(({ ctx, input }) => listAudit(ctx.db.prisma, input)),
});
