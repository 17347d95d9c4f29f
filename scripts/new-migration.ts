// `npm run db:migration -- NAME`: writes a new migration that takes the
// schema the committed migrations produce to prisma/schema.prisma, offline.
//
// That schema is kept in one file, prisma/migrations/schema.snapshot.prisma
// (which `migrate deploy` ignores: it reads folders). The new migration is
// `prisma migrate diff` between the snapshot and the current schema; then the
// snapshot is rewritten. (Prisma's own `--from-migrations` needs a shadow
// database, and its describe step fails through the pg driver adapter.)
// Committed migrations are never edited. `--empty` writes the migration even
// when the schema did not change, for hand-written SQL only (a trigger, say).
//
// `npm run db:migration -- --rebase`, after a merge that brought migrations
// from another branch: deletes old-layout per-folder schema.prisma copies,
// applies every migration to an empty database and checks the result against
// prisma/schema.prisma, then rewrites the snapshot after the newest folder.
import fs from "node:fs";
import path from "node:path";
import {
  checkMigrations,
  diffScript,
  migrationsDir,
  newestMigration,
  root,
  schemaPath,
  scriptChanges,
  snapshotOutOfStep,
  snapshotPath,
  strayCopies,
  writeSnapshot,
} from "./migration-check";

const args = process.argv.slice(2);
const rel = (file: string) => path.relative(root, file);

if (args.length === 1 && args[0] === "--rebase") {
  for (const copy of strayCopies()) {
    fs.rmSync(copy);
    console.log(`Deleted ${rel(copy)} (old layout: the one snapshot replaces it).`);
  }
  const { differences } = await checkMigrations();
  if (differences.length > 0) {
    console.error(`The migrations do not build the database ${rel(schemaPath)} describes:`);
    for (const d of differences) console.error(`  ${d}`);
    console.error(`${rel(snapshotPath)} was left as it was. Fix the schema or add a migration, then run --rebase again.`);
    process.exit(1);
  }
  const newest = newestMigration() ?? "";
  writeSnapshot(newest);
  console.log(`The migrations build ${rel(schemaPath)}; wrote ${rel(snapshotPath)} after ${newest || "no migration"}.`);
  process.exit(0);
}

const empty = args.includes("--empty");
const [name, ...extra] = args.filter((a) => a !== "--empty");
if (!name || extra.length > 0 || !/^[a-z0-9_]+$/.test(name)) {
  console.error("usage: npm run db:migration -- <name in snake_case> [--empty]\n       npm run db:migration -- --rebase");
  process.exit(2);
}

const copies = strayCopies();
const outOfStep = snapshotOutOfStep();
if (copies.length > 0 || outOfStep) {
  if (copies.length > 0) console.error(`Old-layout schema copies: ${copies.map(rel).join(", ")}. Run \`npm run db:migration -- --rebase\`.`);
  if (outOfStep) console.error(outOfStep);
  process.exit(1);
}

const script = await diffScript(newestMigration() ? snapshotPath : null);
const changed = scriptChanges(script);
if (!changed && !empty) {
  console.log("The schema matches the migrations: nothing to write (--empty writes one for hand-written SQL).");
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const folder = `${stamp}_${name}`;
if (folder <= (newestMigration() ?? "")) {
  console.error(`${folder} would not sort after the newest migration ${newestMigration()}: is the clock right?`);
  process.exit(1);
}
const dir = path.join(migrationsDir, folder);
fs.mkdirSync(dir);
fs.writeFileSync(path.join(dir, "migration.sql"), changed ? script : "-- The schema did not change: hand-written SQL only.\n");
writeSnapshot(folder);
console.log(`Wrote ${rel(dir)}/migration.sql and rewrote ${rel(snapshotPath)} — read the SQL, add any hand-written SQL, then commit both.`);
