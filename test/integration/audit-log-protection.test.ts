// The audit log is append-only: its triggers refuse UPDATE, DELETE and
// TRUNCATE.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { freshDatabaseUrl } from "../helpers/console";

const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function connect(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  cleanups.push(() => client.end());
  return client;
}

/** The error a statement fails with (its SQLSTATE and message), or null when it succeeds. */
async function refusal(client: pg.Client, sql: string) {
  try {
    await client.query(sql);
    return null;
  } catch (error) {
    const e = error as { code?: string; message: string };
    return { code: e.code, message: e.message };
  }
}

describe("the audit log", () => {
  it("refuses TRUNCATE, alone, beside other tables and with CASCADE, as it refuses UPDATE and DELETE", async () => {
    const client = await connect(await freshDatabaseUrl());
    await client.query(
      `INSERT INTO audit_log (id, actor_label, action, target_type) VALUES ('a1', 'cli', 'ring.create', 'ring')`,
    );
    for (const sql of [
      "TRUNCATE audit_log",
      "TRUNCATE TABLE audit_log RESTART IDENTITY CASCADE",
      "TRUNCATE machine_changes, audit_log",
      "UPDATE audit_log SET action = 'forged'",
      "DELETE FROM audit_log",
    ]) {
      const refused = await refusal(client, sql);
      expect(refused, sql).toMatchObject({ code: "P0001", message: expect.stringMatching(/^audit_log is append-only \((TRUNCATE|UPDATE|DELETE) refused\)$/) });
    }
    expect((await client.query("SELECT count(*)::int AS n FROM audit_log")).rows[0].n).toBe(1);
  });
});
