// Prisma's own check that the migrations build the database that
// prisma/schema.prisma describes: `prisma migrate diff --from-migrations`
// applies every committed migration to a shadow database (through the pg
// driver adapter of prisma.config.ts, server/db/migration-adapter.ts) and
// compares what it reads back with the schema. Hand-written objects Prisma's
// schema cannot express (triggers, functions, sequences, CHECK constraints,
// partial indexes, storage options) are not part of this comparison.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { adminUrl, withDatabase } from "../helpers/databases";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "node_modules/prisma/build/index.js");
const base = `${inject("runPrefix")}_prisma_diff`;

async function adminQuery(sql: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await client.query<{ datname: string }>(sql, values);
  } finally {
    await client.end();
  }
}

/** `prisma migrate diff --from-migrations … --to-schema-datamodel SCHEMA --exit-code`: 0 no difference, 2 difference. */
async function diffMigrationsTo(schema: string) {
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [cli, "migrate", "diff", "--from-migrations", "prisma/migrations", "--to-schema-datamodel", schema, "--script", "--exit-code"],
      { cwd: root, env: { ...process.env, DATABASE_URL: withDatabase(base) }, maxBuffer: 16 * 1024 * 1024 },
    );
    return { code: 0, sql: stdout };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code, sql: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

async function shadowDatabases() {
  const { rows } = await adminQuery("SELECT datname FROM pg_database WHERE datname LIKE $1", [`${base}_shadow_%`]);
  return rows.map((r) => r.datname);
}

beforeAll(async () => {
  // The adapter makes its shadow database beside this one (and names it after it).
  await adminQuery(`CREATE DATABASE "${base}"`);
});

afterAll(async () => {
  await adminQuery(`DROP DATABASE IF EXISTS "${base}" WITH (FORCE)`);
});

describe("prisma migrate diff --from-migrations", () => {
  it("finds nothing between the migrations and prisma/schema.prisma, and drops its shadow database", async () => {
    const { code, sql } = await diffMigrationsTo("prisma/schema.prisma");
    expect(sql.trim(), "SQL the migrations lack to build prisma/schema.prisma").toBe("-- This is an empty migration.");
    expect(code).toBe(0);
    expect(await shadowDatabases()).toEqual([]);
  });

  it("names what the migrations lack when the schema has more", async () => {
    const schema = fs
      .readFileSync(path.join(root, "prisma/schema.prisma"), "utf8")
      .replace(/^model Machine \{\n/m, 'model Machine {\n  notMigrated String? @map("not_migrated")\n');
    const tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "schema-"));
    const file = path.join(tmp, "schema.prisma");
    fs.writeFileSync(file, schema);
    try {
      const { code, sql } = await diffMigrationsTo(file);
      expect(code).toBe(2);
      expect(sql).toContain('ALTER TABLE "machines" ADD COLUMN     "not_migrated" TEXT');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
