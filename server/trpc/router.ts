import { createCallerFactory, router } from "./init";
import { apiTokensRouter } from "./routers/api-tokens";
import { auditRouter } from "./routers/audit";
import { dashboardRouter } from "./routers/dashboard";
import { enrollmentTokensRouter } from "./routers/enrollment-tokens";
import { machinesRouter } from "./routers/machines";
import { releasesRouter } from "./routers/releases";
import { ringsRouter } from "./routers/rings";
import { rolloutsRouter } from "./routers/rollouts";
import { sourcesRouter } from "./routers/sources";
import { usersRouter } from "./routers/users";
import { webhooksRouter } from "./routers/webhooks";

export const appRouter = router({
  dashboard: dashboardRouter,
  machines: machinesRouter,
  rings: ringsRouter,
  releases: releasesRouter,
  sources: sourcesRouter,
  rollouts: rolloutsRouter,
  enrollmentTokens: enrollmentTokensRouter,
  users: usersRouter,
  apiTokens: apiTokensRouter,
  audit: auditRouter,
  webhooks: webhooksRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
