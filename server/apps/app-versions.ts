// App versions per ring, for the dashboard: of each app a ring lists, how
// many of its machines run which release (by the commit they report; an
// unregistered commit by its first 12 characters, "not installed" without
// one). Read from machine_apps through its (ref, commit) index.
import { z } from "zod";
import type { PrismaClient } from "../db/client";

export const appVersionsOutput = z
  .array(
    z.object({
      ring: z.string(),
      ref: z.string(),
      /** The release the ring's app set names. */
      wanted: z.string(),
      /** Machines of the ring by the app's version they run. */
      versions: z.record(z.string(), z.number().int()),
      /** Machines of the ring (not retired). */
      machines: z.number().int(),
    }),
  )
  .meta({ id: "AppVersionsByRing" });

/** `scope`: the caller's rings (null: every ring). */
export async function appVersionsByRing(db: PrismaClient, scope: readonly string[] | null = null) {
  const rows = await db.$queryRaw<{ ring: string; ref: string; wanted: string; version: string | null; n: number; machines: number }[]>`
    SELECT r.name AS ring, ra.ref, want.version AS wanted,
           CASE WHEN a.machine_id IS NULL THEN NULL
                ELSE COALESCE(rel.version, left(a.commit, 12), 'not installed') END AS version,
           count(a.machine_id)::int AS n,
           (SELECT count(*)::int FROM machines_counted c WHERE c.ring_id = r.id AND NOT c.retired) AS machines
      FROM ring_apps ra
      JOIN rings r ON r.id = ra.ring_id
      JOIN releases want ON want.id = ra.release_id
      LEFT JOIN machines m ON m.ring_id = r.id AND m.retired_at IS NULL
      LEFT JOIN machine_apps a ON a.machine_id = m.id AND a.ref = ra.ref
      LEFT JOIN releases rel ON rel.branch_id = want.branch_id AND rel.checksum = a.commit
     WHERE ${scope === null} OR r.name = ANY(${scope ?? []}::text[])
     GROUP BY r.id, r.name, r.position, ra.ref, ra.position, want.version, 4
     ORDER BY r.position, ra.position`;
  const out = new Map<string, z.infer<typeof appVersionsOutput>[number]>();
  for (const row of rows) {
    const key = `${row.ring}\n${row.ref}`;
    const entry = out.get(key) ?? { ring: row.ring, ref: row.ref, wanted: row.wanted, versions: {}, machines: row.machines };
    if (row.version !== null) entry.versions[row.version] = (entry.versions[row.version] ?? 0) + row.n;
    out.set(key, entry);
  }
  return [...out.values()];
}
