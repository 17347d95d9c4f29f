// The committed migrations, applied in order to an empty database with
// `prisma migrate deploy` (as the console does at start), build exactly what
// prisma/schema.prisma describes, plus the hand-written objects they name;
// and the snapshot `npm run db:migration` diffs against is in step with both.
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Catalogue,
  checkMigrations,
  diffScript,
  handWrittenObjects,
  missingHandWritten,
  newestMigration,
  scriptChanges,
  snapshotOutOfStep,
  snapshotPath,
  strayCopies,
} from "../../scripts/migration-check";

let migrated: Catalogue;
let differences: string[];

beforeAll(async () => {
  ({ migrated, differences } = await checkMigrations());
}, 300_000);

describe("migrations", () => {
  it("build the database prisma/schema.prisma describes", () => {
    expect(migrated.columns.size).toBeGreaterThan(100);
    expect(differences, "write the missing migration with `npm run db:migration -- NAME`").toEqual([]);
  });

  it("create every function, trigger, sequence, CHECK constraint and partial index they name", () => {
    const objects = handWrittenObjects();
    // The ones committed today, so that the SQL scan cannot quietly find nothing.
    expect(objects).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "function", name: "machines_counted_update" }),
        expect.objectContaining({ kind: "trigger", name: "audit_log_no_truncate", table: "audit_log" }),
        expect.objectContaining({ kind: "check", name: "users_signs_in_somehow", table: "users" }),
        expect.objectContaining({ kind: "partial index", name: "webhook_deliveries_pending_key_seq_idx" }),
      ]),
    );
    expect(missingHandWritten(migrated, objects)).toEqual([]);
  });

  it("have a snapshot equal to prisma/schema.prisma", async () => {
    const script = await diffScript(snapshotPath);
    expect(scriptChanges(script) ? script : "", "write the migration with `npm run db:migration -- NAME`").toBe("");
  }, 120_000);

  it("have a snapshot written after the newest migration, and no per-folder schema copies", () => {
    expect(newestMigration()).not.toBeNull();
    expect(snapshotOutOfStep()).toBeNull();
    expect(strayCopies(), "old layout: run `npm run db:migration -- --rebase`").toEqual([]);
  });
});
