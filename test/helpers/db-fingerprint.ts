// A fingerprint of every row of every table of the console's database: equal
// fingerprints mean byte-for-byte equal contents.
import type pg from "pg";

export async function databaseFingerprint(pool: pg.Pool, except: string[] = []): Promise<string> {
  const { rows: tables } = await pool.query<{ name: string }>(
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND NOT (tablename = ANY($1)) ORDER BY 1",
    [except],
  );
  const parts: string[] = [];
  for (const { name } of tables) {
    const { rows } = await pool.query<{ digest: string | null; n: string }>(
      `SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS digest, count(*) AS n FROM "${name}" t`,
    );
    parts.push(`${name}:${rows[0].n}:${rows[0].digest ?? "-"}`);
  }
  return parts.join(" ");
}
