// A real console (agent protocol + tRPC over HTTP, no pages) on a fresh
// database, with a clock the test can move.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { inject } from "vitest";
import { type Actor, cliActor, type Role } from "../../server/audit/audit";
import type { Principal } from "../../server/auth/principal";
import { OffsetClock } from "../../server/clock";
import { loadConfig } from "../../server/config";
import type { PrismaClient } from "../../server/db/client";
import { type RunningConsole, startConsole } from "../../server/console";
import { createEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { type Logger, logger } from "../../server/logger";
import { cloneTemplate } from "./databases";

export interface TestConsole extends RunningConsole {
  clock: OffsetClock;
  log: Logger;
  databaseUrl: string;
  dataDir: string;
}

export async function freshDatabaseUrl() {
  return cloneTemplate(inject("templateDatabase"), inject("runPrefix"));
}

export async function startTestConsole(
  env: Record<string, string> = {},
  options: { controller?: boolean; log?: Logger; prune?: boolean } = {},
): Promise<TestConsole> {
  const databaseUrl = env.DATABASE_URL ?? (await freshDatabaseUrl());
  // A data directory the caller names is the caller's to delete.
  const ownDataDir = !env.ORCHARD_DATA_DIR;
  const dataDir = env.ORCHARD_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "orch-"));
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    NODE_ENV: "test",
    ORCHARD_DEMO_AGENTS: "0",
    ORCHARD_DATA_DIR: dataDir,
    ORCHARD_ADMIN_PASSWORD: "test-admin-password",
    ORCHARD_LASTSEEN_FLUSH_MS: "60000",
    // Simulated agents here poll far faster than real ones; limits have tests of their own.
    ORCHARD_AGENT_RATE_PER_TOKEN: "0",
    ORCHARD_SIGNIN_RATE_PER_ADDRESS: "0",
    ORCHARD_API_RATE_LIMIT: "0",
    ORCHARD_API_RATE_PER_ADDRESS: "0",
    DATABASE_URL: databaseUrl,
    ...env,
  });
  const clock = new OffsetClock();
  const log = options.log ?? logger.child({ test: true });
  if (!options.log) log.level = process.env.LOG_LEVEL ?? "silent";
  const running = await startConsole(config, { next: false, clock, log, controller: options.controller ?? false, prune: options.prune });
  return {
    ...running,
    clock,
    log,
    databaseUrl,
    dataDir,
    stop: async () => {
      await running.stop();
      if (ownDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An enrollment token straight from the domain layer. */
export async function enrollmentToken(
  running: RunningConsole,
  options: { ring?: string; maxUses?: number; expiresInSeconds?: number } = {},
  actor: Actor = cliActor,
) {
  const { token } = await createEnrollmentToken(running.db.prisma, actor, { name: "test", ...options });
  return token;
}

/** Releases "1" and "2" of `ref` (checksums 1…1 and 2…2), and each named ring on `ref` running "1". */
export async function ringsOnRelease1(running: RunningConsole, ref: string, rings: string[]) {
  const db = running.db.prisma;
  await addRelease(db, cliActor, { ref, checksum: "1".repeat(64), version: "1" });
  await addRelease(db, cliActor, { ref, checksum: "2".repeat(64), version: "2" });
  for (const ring of rings) {
    await createRing(db, cliActor, { name: ring, branch: ref });
    await setRingRelease(db, cliActor, { ring, version: "1" });
  }
}

/** One user of each role (viewer@example.com, operator@…, admin@…), for tRPC callers. */
export async function oneUserPerRole(db: PrismaClient) {
  const users = {} as Record<Role, { id: string; email: string; role: Role }>;
  for (const role of ["viewer", "operator", "admin"] as const) {
    users[role] = await db.user.create({
      data: { email: `${role}@example.com`, role, passwordHash: "x" },
      select: { id: true, email: true, role: true },
    });
  }
  return users;
}

/** The tRPC principal of a user row, optionally scoped to some rings. */
export function userPrincipal(user: { id: string; email: string; role: Role }, rings: string[] | null = null): Principal {
  return { kind: "user", id: user.id, name: user.email, role: user.role, rings };
}
