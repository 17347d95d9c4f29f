// A fingerprint of every row of every table of the console's database: equal
// fingerprints mean byte-for-byte equal contents (machine_counts: equal
// counts, however many delta rows hold them).
import type pg from "pg";

export async function databaseFingerprint(pool: pg.Pool, except: string[] = []): Promise<string> {
  const { rows: tables } = await pool.query<{ name: string }>(
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND NOT (tablename = ANY($1)) ORDER BY 1",
    [except],
  );
  const parts: string[] = [];
  for (const { name } of tables) {
    // machine_counts by what it says (the sum per group): the console's fold rewrites its rows, never their sums.
    const source =
      name === "machine_counts"
        ? `(SELECT ring_id, booted_version, health_status, update_state, sum(n) AS n FROM machine_counts GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0)`
        : `"${name}"`;
    const { rows } = await pool.query<{ digest: string | null; n: string }>(
      `SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS digest, count(*) AS n FROM ${source} t`,
    );
    parts.push(`${name}:${rows[0].n}:${rows[0].digest ?? "-"}`);
  }
  return parts.join(" ");
}
