// Applies the committed Prisma migrations with `prisma migrate deploy`, the
// same command on PostgreSQL and on the embedded database. Starting the CLI
// costs seconds, so it runs only when a migration is pending.
import { execFile } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";
import type pg from "pg";

const root = path.resolve(import.meta.dirname, "../..");
const migrationsDir = path.join(root, "prisma", "migrations");

export function committedMigrations(): string[] {
  return fs
    .readdirSync(migrationsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(migrationsDir, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort();
}

export async function pendingMigrations(pool: pg.Pool, committed: string[] = committedMigrations()): Promise<string[]> {
  const exists = await pool.query<{ ok: boolean }>(
    "SELECT to_regclass('public._prisma_migrations') IS NOT NULL AS ok",
  );
  if (!exists.rows[0]?.ok) return committed;
  const applied = await pool.query<{ migration_name: string }>(
    "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
  );
  const done = new Set(applied.rows.map((r) => r.migration_name));
  return committed.filter((name) => !done.has(name));
}

/** Runs `prisma migrate deploy` against `url` when a migration is pending; returns what was pending. */
export async function migrate(pool: pg.Pool, url: string): Promise<string[]> {
  const pending = await pendingMigrations(pool);
  if (pending.length === 0) return [];
  const require = createRequire(import.meta.url);
  const cli = require.resolve("prisma/build/index.js");
  try {
    // Asynchronous on purpose: the embedded database may live in this very
    // process, and a synchronous child would block it.
    await promisify(execFile)(process.execPath, [cli, "migrate", "deploy"], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: url },
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    const output = `${e.stdout ?? ""}\n${e.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(`prisma migrate deploy failed:\n${output}`, { cause: error });
  }
  return pending;
}
