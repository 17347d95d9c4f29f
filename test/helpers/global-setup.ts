// Integration tests run against a real PostgreSQL server (TEST_DATABASE_URL,
// default the local one). This run migrates one throwaway template database;
// each test file clones it (CREATE DATABASE … TEMPLATE), so files are
// isolated and cheap. Everything this run created is dropped at the end.
import type { TestProject } from "vitest/node";
import { adminUrl, dropRunDatabases, runPrefix, withDatabase } from "./databases";
import { migrate } from "../../server/db/migrate";
import pg from "pg";

export default async function setup(project: TestProject) {
  const prefix = runPrefix();
  const template = `${prefix}_template`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `Integration tests need PostgreSQL at ${adminUrl()} (set TEST_DATABASE_URL): ${(error as Error).message}`,
    );
  }
  await admin.query(`CREATE DATABASE "${template}"`);
  await admin.end();
  const url = withDatabase(template);
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  await migrate(pool, url);
  await pool.end();
  project.provide("templateDatabase", template);
  project.provide("runPrefix", prefix);
  return async () => dropRunDatabases(prefix);
}

declare module "vitest" {
  export interface ProvidedContext {
    templateDatabase: string;
    runPrefix: string;
  }
}
