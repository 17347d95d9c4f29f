import { listAudit, listAuditInput, listAuditOutput } from "../../audit/list-audit";
import { router, viewerProcedure } from "../init";

export const auditRouter = router({
  list: viewerProcedure
    // The audit log spans the whole fleet (releases, users, tokens): for unscoped callers only.
    .meta({ rings: "fleet" })
    .input(listAuditInput)
    .output(listAuditOutput)
    .query(({ ctx, input }) => listAudit(ctx.db.prisma, input)),
});
