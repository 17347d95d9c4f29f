// A check-in's installed apps (protocol v1.2), written per machine only when
// they changed: the agent service compares a hash of them with the one it
// holds (machines.apps_hash) and calls here only on a difference, so a quiet
// check-in costs nothing more. One statement: it applies only over an older
// seq (apps_seq, the row locked), raises the machine's state_version (the
// controller judges app rollouts from it: see controller.ts VersionMark; the
// UPDATE holds the machines lock before it takes the value), rewrites only
// the app rows that changed, removes those no longer reported and writes a
// timeline entry (kind app) for each app added, removed, or whose commit,
// update state or health changed.
import { createHash } from "node:crypto";
import type pg from "pg";
import type { InstalledApp } from "../protocol/v1";
import { updateStateOf } from "../vocabulary";

/** A stable hash of the reported apps. */
export function appsHash(apps: readonly InstalledApp[]): string {
  return createHash("sha1").update(JSON.stringify(apps)).digest("base64url");
}

/** What the console keeps of an installed app, as the answer reads it. */
export interface InstalledAppState {
  commit: string | null;
  updateState: string | null;
  updateTarget: string | null;
}

/** The reported apps by ref, as the machine's cached entry keeps them. */
export function installedStates(apps: readonly InstalledApp[]): Record<string, InstalledAppState> {
  return Object.fromEntries(
    apps.map((a) => [a.ref, { commit: a.commit, updateState: a.update ? updateStateOf(a.update.state) : null, updateTarget: a.update?.targetCommit ?? null }]),
  );
}

const APPS_WRITE = `
  WITH guard AS (
    UPDATE machines SET apps_hash = $3, apps_seq = $2, state_version = nextval('machine_state_version')
     WHERE id = $1 AND apps_seq < $2
    RETURNING id
  ), input AS (
    SELECT * FROM jsonb_to_recordset($4::jsonb)
      AS x(ref text, commit text, origin text, managed boolean, update_state text, update_target text, update_error text,
           health_status text, health_checks jsonb)
  ), prev AS (
    SELECT a.ref, a.commit, a.origin, a.managed, a.update_state, a.update_target, a.update_error, a.health_status, a.health_checks
      FROM machine_apps a WHERE a.machine_id = $1
  ), removed AS (
    DELETE FROM machine_apps a
     WHERE a.machine_id = $1 AND EXISTS (SELECT 1 FROM guard) AND a.ref NOT IN (SELECT ref FROM input)
    RETURNING a.ref, a.commit
  ), changed AS (
    SELECT i.*, p.ref IS NULL AS added, p.commit AS prev_commit, p.update_state AS prev_update_state, p.health_status AS prev_health_status
      FROM input i LEFT JOIN prev p ON p.ref = i.ref
     WHERE EXISTS (SELECT 1 FROM guard)
       AND (p.ref IS NULL
            OR (p.commit, p.origin, p.managed, p.update_state, p.update_target, p.update_error, p.health_status, p.health_checks)
               IS DISTINCT FROM
               (i.commit, i.origin, i.managed, i.update_state, i.update_target, i.update_error, i.health_status, i.health_checks))
  ), written AS (
    INSERT INTO machine_apps (machine_id, ref, commit, origin, managed, update_state, update_target, update_error,
                              health_status, health_checks, updated_at)
    SELECT $1, c.ref, c.commit, c.origin, c.managed, c.update_state, c.update_target, c.update_error,
           c.health_status, c.health_checks, $5 FROM changed c
    ON CONFLICT (machine_id, ref) DO UPDATE SET
      commit = EXCLUDED.commit, origin = EXCLUDED.origin, managed = EXCLUDED.managed,
      update_state = EXCLUDED.update_state, update_target = EXCLUDED.update_target, update_error = EXCLUDED.update_error,
      health_status = EXCLUDED.health_status, health_checks = EXCLUDED.health_checks, updated_at = EXCLUDED.updated_at
    RETURNING ref
  ), history AS (
    INSERT INTO machine_changes (machine_id, at, kind, before, after, detail)
    SELECT $1, $5, 'app', h.before, h.after, h.detail FROM (
      SELECT CASE WHEN c.added THEN NULL
                  ELSE c.ref || ' ' || COALESCE(left(c.prev_commit, 12), '-') || ' ' || COALESCE(c.prev_update_state, '-')
                       || ' ' || COALESCE(c.prev_health_status, '-') END AS before,
             c.ref || ' ' || COALESCE(left(c.commit, 12), '-') || ' ' || COALESCE(c.update_state, '-')
               || ' ' || COALESCE(c.health_status, '-') AS after,
             c.update_error AS detail
        FROM changed c
       WHERE c.added OR (c.prev_commit, c.prev_update_state, c.prev_health_status)
                        IS DISTINCT FROM (c.commit, c.update_state, c.health_status)
      UNION ALL
      SELECT r.ref || ' ' || COALESCE(left(r.commit, 12), '-'), NULL, 'removed' FROM removed r
    ) h
  )
  SELECT (SELECT count(*) FROM guard)::int AS applied, (SELECT count(*) FROM written)::int AS written`;

/**
 * Writes the machine's reported apps (its database id) for check-in `seq`;
 * false when the row already holds apps of this seq or a newer one.
 */
export async function writeInstalledApps(
  pool: pg.Pool,
  write: { machineId: string; seq: number; hash: string; apps: readonly InstalledApp[]; at: Date },
): Promise<{ applied: boolean; written: number }> {
  const rows = write.apps.map((a) => ({
    ref: a.ref,
    commit: a.commit,
    origin: a.origin,
    managed: a.managed,
    update_state: a.update ? updateStateOf(a.update.state) : null,
    update_target: a.update?.targetCommit ?? null,
    update_error: a.update?.error ?? null,
    health_status: a.health?.status ?? null,
    health_checks: a.health?.checks ?? [],
  }));
  const { rows: [result] } = await pool.query<{ applied: number; written: number }>(APPS_WRITE, [
    write.machineId,
    write.seq,
    write.hash,
    JSON.stringify(rows),
    write.at,
  ]);
  return { applied: (result?.applied ?? 0) > 0, written: result?.written ?? 0 };
}
