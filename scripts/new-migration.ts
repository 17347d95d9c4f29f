// `npm run db:migration -- NAME`: writes a new migration that takes the
// newest committed migration to prisma/schema.prisma, fully offline.
//
// Each migration folder keeps a copy of the schema it was made from
// (schema.prisma, which `migrate deploy` ignores); the new migration is the
// diff between the newest copy and the current schema. (Prisma's own
// `--from-migrations` needs a shadow database, and its describe step fails
// through the pg driver adapter.) Committed migrations are never edited.
// `--empty` writes the migration even when the schema did not change, for
// hand-written SQL only (a trigger, say).
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const root = path.resolve(import.meta.dirname, "..");
const migrations = path.join(root, "prisma", "migrations");
const args = process.argv.slice(2);
const empty = args.includes("--empty");
const [name, ...extra] = args.filter((a) => a !== "--empty");
if (!name || extra.length > 0 || !/^[a-z0-9_]+$/.test(name)) {
  console.error("usage: npm run db:migration -- <name in snake_case> [--empty]");
  process.exit(2);
}

const newest = fs
  .readdirSync(migrations)
  .filter((d) => fs.existsSync(path.join(migrations, d, "migration.sql")))
  .sort()
  .at(-1);
const from = newest ? path.join(migrations, newest, "schema.prisma") : null;
if (from && !fs.existsSync(from)) {
  console.error(`${path.relative(root, from)} is missing: cannot tell what the newest migration was made from.`);
  process.exit(1);
}

const prisma = path.join(root, "node_modules/prisma/build/index.js");
const { stdout } = await promisify(execFile)(
  process.execPath,
  [
    prisma,
    "migrate",
    "diff",
    ...(from ? ["--from-schema-datamodel", from] : ["--from-empty"]),
    "--to-schema-datamodel",
    "prisma/schema.prisma",
    "--script",
  ],
  { cwd: root, maxBuffer: 16 * 1024 * 1024 },
);
const changed = /^\s*(ALTER|CREATE|DROP)/m.test(stdout);
if (!changed && !empty) {
  console.log("The schema matches the newest migration: nothing to write (--empty writes one for hand-written SQL).");
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const dir = path.join(migrations, `${stamp}_${name}`);
fs.mkdirSync(dir);
fs.writeFileSync(path.join(dir, "migration.sql"), changed ? stdout : "-- The schema did not change: hand-written SQL only.\n");
fs.copyFileSync(path.join(root, "prisma", "schema.prisma"), path.join(dir, "schema.prisma"));
console.log(`Wrote ${path.relative(root, dir)}/migration.sql — read it, add any hand-written SQL, then commit it.`);
