// Whether this console process can serve: its database answers and has every
// migration this version of Orchard was built with (GET /readyz; /healthz
// only says the process is alive). A load balancer sends traffic to the
// process only while it is ready.
import type pg from "pg";
import { committedMigrations, pendingMigrations } from "./migrate";

export type Readiness = { ready: true } | { ready: false; reason: string; pending?: string[] };

/** How long the database may take to answer before the process is reported not ready. */
const READY_TIMEOUT_MS = 2000;

export async function readiness(pool: pg.Pool, migrations: string[] = committedMigrations()): Promise<Readiness> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Readiness>((resolve) => {
    timer = setTimeout(() => resolve({ ready: false, reason: `the database did not answer within ${READY_TIMEOUT_MS} ms` }), READY_TIMEOUT_MS);
  });
  const check = (async (): Promise<Readiness> => {
    try {
      const pending = await pendingMigrations(pool, migrations);
      if (pending.length > 0) return { ready: false, reason: `${pending.length} migration(s) not applied`, pending };
      return { ready: true };
    } catch (error) {
      return { ready: false, reason: `the database is unreachable: ${error instanceof Error ? error.message : String(error)}` };
    }
  })();
  try {
    return await Promise.race([check, late]);
  } finally {
    clearTimeout(timer);
  }
}
