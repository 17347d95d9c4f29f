// What `npm run db:migration` and test/integration/migrations.test.ts share:
// the schema snapshot, and the check that the committed migrations build the
// database prisma/schema.prisma describes.
//
// prisma/migrations/schema.snapshot.prisma is the schema the migrations
// produce: a new migration is the difference between it and
// prisma/schema.prisma. Its first line names the newest migration folder it
// was written after, so two branches that each add a migration both change
// that line and conflict in git instead of merging silently.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { committedMigrations, migrate } from "../server/db/migrate";

export const root = path.resolve(import.meta.dirname, "..");
export const migrationsDir = path.join(root, "prisma", "migrations");
export const schemaPath = path.join(root, "prisma", "schema.prisma");
export const snapshotPath = path.join(migrationsDir, "schema.snapshot.prisma");
export { committedMigrations };

const HEADER = /^\/\/ after: (\S*)\n/;
const NOTE =
  "// The schema the migrations above produce, rewritten by `npm run db:migration`;\n" +
  "// never edit it by hand. After a merge, `npm run db:migration -- --rebase`.\n";

export function newestMigration(): string | null {
  return committedMigrations().at(-1) ?? null;
}

/** The migration folder the snapshot was written after ("" for none), or null when it has no header. */
export function snapshotAfter(): string | null {
  if (!fs.existsSync(snapshotPath)) return null;
  return HEADER.exec(fs.readFileSync(snapshotPath, "utf8"))?.[1] ?? null;
}

/** Writes prisma/schema.prisma as the snapshot, after the migration folder `after`. */
export function writeSnapshot(after: string) {
  fs.writeFileSync(snapshotPath, `// after: ${after}\n${NOTE}\n${fs.readFileSync(schemaPath, "utf8")}`);
}

/** Why the snapshot cannot be diffed against (it names another folder than the newest), or null. */
export function snapshotOutOfStep(): string | null {
  const newest = newestMigration() ?? "";
  const after = snapshotAfter();
  if (after === newest) return null;
  const named = after === null ? "has no `// after:` header" : `was written after ${after || "no migration"}`;
  return (
    `${path.relative(root, snapshotPath)} ${named}, but the newest migration is ${newest || "none"}: ` +
    "migrations were added without it (a merge?). Run `npm run db:migration -- --rebase`."
  );
}

/** Per-folder schema copies of the old layout (prisma/migrations/NAME/schema.prisma). */
export function strayCopies(): string[] {
  return committedMigrations()
    .map((name) => path.join(migrationsDir, name, "schema.prisma"))
    .filter((file) => fs.existsSync(file));
}

/** The SQL taking the schema `from` (a file, or nothing) to prisma/schema.prisma, by `prisma migrate diff` (offline). */
export async function diffScript(from: string | null): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      path.join(root, "node_modules/prisma/build/index.js"),
      "migrate",
      "diff",
      ...(from ? ["--from-schema-datamodel", from] : ["--from-empty"]),
      "--to-schema-datamodel",
      schemaPath,
      "--script",
    ],
    { cwd: root, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** Whether a `migrate diff` script changes anything (it prints a comment when nothing differs). */
export function scriptChanges(script: string): boolean {
  return /^\s*(ALTER|CREATE|DROP)/m.test(script);
}

// ---------------------------------------------------------------------------
// Applying the migrations and comparing with prisma/schema.prisma.

export function adminUrl(): string {
  return process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
}

function databaseUrl(name: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Runs `work` on a new empty database, dropped afterwards. */
export async function withEmptyDatabase<T>(work: (pool: pg.Pool, url: string) => Promise<T>): Promise<T> {
  const name = `orchard_migrations_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    return await work(pool, url);
  } finally {
    await pool.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  }
}

/** One database's public schema, as definitions keyed by kind and name. */
export interface Catalogue {
  columns: Map<string, string>;
  enums: Map<string, string>;
  indexes: Map<string, string>;
  constraints: Map<string, { type: string; definition: string }>;
  sequences: Set<string>;
  triggers: Set<string>;
  functions: Set<string>;
  extensions: Set<string>;
}

export async function catalogue(pool: pg.Pool): Promise<Catalogue> {
  const columns = await pool.query<{ key: string; definition: string }>(`
    SELECT c.relname || '.' || a.attname AS key,
           format_type(a.atttypid, a.atttypmod)
             || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
             || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') AS definition
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.relname <> '_prisma_migrations' AND a.attnum > 0 AND NOT a.attisdropped`);
  const enums = await pool.query<{ key: string; definition: string }>(`
    SELECT t.typname AS key, string_agg(e.enumlabel, ', ' ORDER BY e.enumlabel) AS definition
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
     WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname`);
  const indexes = await pool.query<{ key: string; definition: string }>(`
    SELECT indexname AS key, indexdef AS definition FROM pg_indexes
     WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`);
  const constraints = await pool.query<{ key: string; type: string; definition: string }>(`
    SELECT conrelid::regclass::text || '.' || conname AS key, contype::text AS type,
           pg_get_constraintdef(oid) AS definition
      FROM pg_constraint
     WHERE connamespace = 'public'::regnamespace AND conrelid <> 0
       AND conrelid::regclass::text <> '_prisma_migrations'`);
  const named = async (sql: string) => new Set((await pool.query<{ name: string }>(sql)).rows.map((r) => r.name));
  return {
    columns: new Map(columns.rows.map((r) => [r.key, r.definition])),
    enums: new Map(enums.rows.map((r) => [r.key, r.definition])),
    indexes: new Map(indexes.rows.map((r) => [r.key, r.definition])),
    constraints: new Map(constraints.rows.map((r) => [r.key, { type: r.type, definition: r.definition }])),
    sequences: await named("SELECT relname AS name FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'S'"),
    triggers: await named(
      "SELECT t.tgname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal",
    ),
    functions: await named("SELECT proname AS name FROM pg_proc WHERE pronamespace = 'public'::regnamespace"),
    extensions: await named("SELECT extname AS name FROM pg_extension WHERE extname <> 'plpgsql'"),
  };
}

/**
 * Where the database the migrations built differs from one built straight
 * from prisma/schema.prisma (`migrate diff --from-empty`). Columns, enums,
 * indexes and constraints of the schema must be there with the same
 * definition, and no other columns or enums. What Prisma cannot describe is
 * allowed on top: partial indexes, CHECK constraints, sequences, triggers,
 * functions (see handWrittenObjects for those).
 */
export function differences(migrated: Catalogue, schema: Catalogue): string[] {
  const found: string[] = [];
  const exact = (kind: string, a: Map<string, string>, b: Map<string, string>, extrasAllowed: (def: string) => boolean) => {
    for (const [key, def] of b) {
      const got = a.get(key);
      if (got === undefined) found.push(`${kind} ${key}: in prisma/schema.prisma (${def}), not made by the migrations`);
      else if (got !== def) found.push(`${kind} ${key}: the migrations make ${got}; prisma/schema.prisma says ${def}`);
    }
    for (const [key, def] of a) {
      if (!b.has(key) && !extrasAllowed(def)) found.push(`${kind} ${key}: made by the migrations (${def}), not in prisma/schema.prisma`);
    }
  };
  exact("column", migrated.columns, schema.columns, () => false);
  exact("enum", migrated.enums, schema.enums, () => false);
  exact("index", migrated.indexes, schema.indexes, (def) => / WHERE /.test(def));
  const flat = (m: Catalogue["constraints"]) => new Map([...m].map(([k, v]) => [k, `${v.type}: ${v.definition}`]));
  exact("constraint", flat(migrated.constraints), flat(schema.constraints), (def) => def.startsWith("c: "));
  for (const name of schema.sequences) {
    if (!migrated.sequences.has(name)) found.push(`sequence ${name}: in prisma/schema.prisma, not made by the migrations`);
  }
  return found;
}

/** Applies every committed migration to an empty database (`prisma migrate deploy`) and reads its catalogue. */
export async function migratedCatalogue(): Promise<Catalogue> {
  return withEmptyDatabase(async (pool, url) => {
    await migrate(pool, url);
    return catalogue(pool);
  });
}

/** Builds a database straight from prisma/schema.prisma, with the given extensions, and reads its catalogue. */
export async function schemaCatalogue(extensions: Iterable<string>): Promise<Catalogue> {
  const script = await diffScript(null);
  return withEmptyDatabase(async (pool) => {
    for (const name of extensions) await pool.query(`CREATE EXTENSION IF NOT EXISTS "${name}"`);
    await pool.query(script);
    return catalogue(pool);
  });
}

/** Both catalogues and their differences: [] when the migrations build what prisma/schema.prisma describes. */
export async function checkMigrations(): Promise<{ migrated: Catalogue; differences: string[] }> {
  const migrated = await migratedCatalogue();
  const schema = await schemaCatalogue(migrated.extensions);
  return { migrated, differences: differences(migrated, schema) };
}

// ---------------------------------------------------------------------------
// Hand-written objects named in the migrations' SQL.

export interface HandWritten {
  kind: "function" | "trigger" | "sequence" | "check" | "partial index";
  name: string;
  table: string | null;
  migration: string;
}

const ident = String.raw`"?([A-Za-z_][A-Za-z0-9_]*)"?`;
const CREATES: [HandWritten["kind"], RegExp][] = [
  ["function", new RegExp(String.raw`CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:"?public"?\.)?${ident}`, "gi")],
  ["trigger", new RegExp(String.raw`CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+${ident}[\s\S]*?\sON\s+${ident}`, "gi")],
  ["sequence", new RegExp(String.raw`CREATE\s+SEQUENCE\s+(?:IF\s+NOT\s+EXISTS\s+)?${ident}`, "gi")],
  ["check", new RegExp(String.raw`ALTER\s+TABLE\s+${ident}\s+ADD\s+CONSTRAINT\s+${ident}\s+CHECK`, "gi")],
  ["partial index", new RegExp(String.raw`CREATE\s+(?:UNIQUE\s+)?INDEX\s+${ident}\s+ON\s+${ident}[^;]*\sWHERE\s`, "gi")],
];

function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, "");
}

/** Functions, triggers, sequences, CHECK constraints and partial indexes the migrations create and do not drop again. */
export function handWrittenObjects(): HandWritten[] {
  let objects: HandWritten[] = [];
  for (const migration of committedMigrations()) {
    const sql = stripComments(fs.readFileSync(path.join(migrationsDir, migration, "migration.sql"), "utf8"));
    // Drops first within a migration would be unusual; drops apply to what earlier migrations made.
    const dropped = (kind: HandWritten["kind"], o: HandWritten) => {
      const word = { function: "FUNCTION", trigger: "TRIGGER", sequence: "SEQUENCE", check: "CONSTRAINT", "partial index": "INDEX" }[kind];
      const dropsIt = new RegExp(String.raw`DROP\s+${word}\s+(?:IF\s+EXISTS\s+)?(?:"?public"?\.)?"?${o.name}"?[\s;(]`, "i").test(sql);
      const dropsTable = o.table !== null && new RegExp(String.raw`DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:"?public"?\.)?"?${o.table}"?[\s;]`, "i").test(sql);
      return dropsIt || dropsTable;
    };
    objects = objects.filter((o) => !dropped(o.kind, o));
    for (const [kind, re] of CREATES) {
      for (const m of sql.matchAll(re)) {
        const [name, table] = kind === "check" ? [m[2], m[1]] : [m[1], m[2] ?? null];
        objects.push({ kind, name, table, migration });
      }
    }
  }
  return objects;
}

/** The hand-written objects that the migrated database lacks. */
export function missingHandWritten(migrated: Catalogue, objects: HandWritten[]): HandWritten[] {
  return objects.filter((o) => {
    switch (o.kind) {
      case "function":
        return !migrated.functions.has(o.name);
      case "trigger":
        return !migrated.triggers.has(o.name);
      case "sequence":
        return !migrated.sequences.has(o.name);
      case "check":
        return migrated.constraints.get(`${o.table}.${o.name}`)?.type !== "c";
      case "partial index":
        return !/ WHERE /.test(migrated.indexes.get(o.name) ?? "");
    }
  });
}
