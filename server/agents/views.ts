// What the console's answer to a machine is computed from, read from the
// database: the machine's view (its pin, rollback, booted deployment and
// update) and its ring's view (current release, the rollout open in it).
// The agent service reads these on the check-in path (through its caches);
// the console's own pages read them to show the same answer.
import type { Prisma, PrismaClient } from "../db/client";
import type { UpdatePath } from "../releases/paths";
import { wavesOf } from "../rollouts/plan";
import { rampOf } from "../rollouts/ramp";
import type { Selector } from "../rollouts/schemas";
import { ACTIVE_ROLLOUT_STATES, sqlList } from "../vocabulary";
import type { RingAppView } from "../apps/desired-apps";
import type { MachineView, RingView, RollbackTarget, RolloutView } from "./desired";

/** Runs one SQL statement with $1… parameters: the pg pool on the hot path, Prisma elsewhere. */
export type Query = <T>(sql: string, params: unknown[]) => Promise<T[]>;

export const prismaQuery =
  (db: PrismaClient | Prisma.TransactionClient): Query =>
  <T>(sql: string, params: unknown[]) =>
    db.$queryRawUnsafe<T[]>(sql, ...params);

/** The columns of `machines m` (with its pinned release `p` and branch `pb`) that a machine's view needs. */
export const MACHINE_VIEW_COLUMNS = `m.machine_id, m.booted_checksum, m.update_state, m.update_target, m.labels, m.cohort,
       m.rollback_to, m.pin_allows_downgrade, m.allow_downgrade_to,
       p.checksum AS pinned_checksum, p.version AS pinned_version, pb.ref AS pinned_ref,
       p.quarantined_at IS NOT NULL AS pinned_quarantined,
       (SELECT jsonb_object_agg(a.ref, jsonb_build_object('commit', a.commit, 'updateState', a.update_state, 'updateTarget', a.update_target))
          FROM machine_apps a WHERE a.machine_id = m.id AND a.ref LIKE 'app/%') AS apps,
       (SELECT jsonb_object_agg(ap.ref, jsonb_build_object('checksum', ar.checksum, 'version', ar.version, 'quarantined', ar.quarantined_at IS NOT NULL))
          FROM machine_app_pins ap JOIN releases ar ON ar.id = ap.release_id WHERE ap.machine_id = m.id) AS app_pins`;
export const MACHINE_VIEW_JOINS = `LEFT JOIN releases p ON p.id = m.pinned_release_id
         LEFT JOIN branches pb ON pb.id = p.branch_id`;

export interface MachineViewRow {
  machine_id: string;
  booted_checksum: string | null;
  update_state: string;
  update_target: string | null;
  labels: Record<string, string> | null;
  cohort: number;
  rollback_to: RollbackTarget | null;
  pin_allows_downgrade: boolean;
  allow_downgrade_to: string | null;
  pinned_checksum: string | null;
  pinned_version: string | null;
  pinned_ref: string | null;
  pinned_quarantined: boolean;
  apps: MachineView["apps"] | null;
  app_pins: MachineView["appPins"] | null;
}

export function machineViewOf(row: MachineViewRow): MachineView {
  return {
    machineId: row.machine_id,
    bootedChecksum: row.booted_checksum,
    updateState: row.update_state,
    updateTarget: row.update_target,
    labels: row.labels ?? {},
    cohort: row.cohort,
    rollbackTo: row.rollback_to,
    allowDowngradeTo: row.allow_downgrade_to,
    apps: row.apps ?? {},
    appPins: row.app_pins ?? {},
    pinned:
      row.pinned_checksum && row.pinned_ref && row.pinned_version
        ? {
            ref: row.pinned_ref,
            checksum: row.pinned_checksum,
            version: row.pinned_version,
            quarantined: row.pinned_quarantined,
            allowDowngrade: row.pin_allows_downgrade,
          }
        : null,
  };
}

/** One machine's view by its machine id (the console's pages). */
export async function readMachineView(query: Query, machineId: string): Promise<(MachineView & { ringId: string | null }) | null> {
  const [row] = await query<MachineViewRow & { ring_id: string | null }>(
    `SELECT m.ring_id, ${MACHINE_VIEW_COLUMNS} FROM machines m ${MACHINE_VIEW_JOINS} WHERE m.machine_id = $1`,
    [machineId],
  );
  return row ? { ...machineViewOf(row), ringId: row.ring_id } : null;
}

/**
 * The branch's update path (its releases in order, floors, blocked paths), or
 * null when it has neither floors nor blocked paths (every machine goes
 * straight to its target).
 */
export async function readUpdatePath(query: Query, branchId: string): Promise<UpdatePath | null> {
  const releases = await query<{ checksum: string; version: string; floor: boolean; quarantined: boolean }>(
    `SELECT checksum, version, floor, quarantined_at IS NOT NULL AS quarantined
       FROM releases
      WHERE branch_id = $1
        AND (EXISTS (SELECT 1 FROM releases f WHERE f.branch_id = $1 AND f.floor)
             OR EXISTS (SELECT 1 FROM blocked_paths bp JOIN releases t ON t.id = bp.to_release_id WHERE t.branch_id = $1))
      ORDER BY seq`,
    [branchId],
  );
  if (releases.length === 0) return null;
  const blocked = await query<{ from: string; to: string }>(
    `SELECT f.checksum AS "from", t.checksum AS "to"
       FROM blocked_paths bp
       JOIN releases f ON f.id = bp.from_release_id
       JOIN releases t ON t.id = bp.to_release_id
      WHERE t.branch_id = $1`,
    [branchId],
  );
  return { releases, blocked };
}

/** A ring's view: its current release and the rollout open in it. */
export async function readRingView(query: Query, ringId: string): Promise<RingView | null> {
  const [row] = await query<{
    id: string;
    name: string;
    check_in_interval_seconds: number;
    apps_managed: boolean;
    branch_id: string | null;
    ref: string | null;
    checksum: string | null;
    version: string | null;
    quarantined: boolean;
  }>(
    `SELECT r.id, r.name, r.check_in_interval_seconds, r.apps_managed, rel.branch_id, b.ref, rel.checksum, rel.version,
            rel.quarantined_at IS NOT NULL AS quarantined
       FROM rings r
       LEFT JOIN releases rel ON rel.id = r.current_release_id
       LEFT JOIN branches b ON b.id = rel.branch_id
      WHERE r.id = $1`,
    [ringId],
  );
  if (!row) return null;
  const rollout = await readOpenRollout(query, ringId, false);
  const appRollout = row.apps_managed ? await readOpenRollout(query, ringId, true) : null;
  const apps = row.apps_managed ? await readRingApps(query, ringId) : null;
  const paths = new Map<string, Promise<UpdatePath | null>>();
  const pathOf = (branchId: string) => {
    if (!paths.has(branchId)) paths.set(branchId, readUpdatePath(query, branchId));
    return paths.get(branchId)!;
  };
  if (rollout) rollout.release.path = await pathOf(rollout.branchId);
  return {
    id: row.id,
    name: row.name,
    checkInIntervalSeconds: row.check_in_interval_seconds,
    release:
      row.checksum && row.ref && row.version && row.branch_id
        ? { ref: row.ref, checksum: row.checksum, version: row.version, quarantined: row.quarantined, path: await pathOf(row.branch_id) }
        : null,
    rollout,
    apps,
    appRollout,
  };
}

/** A ring's app set, in order (protocol v1.2). */
async function readRingApps(query: Query, ringId: string): Promise<RingAppView[]> {
  const rows = await query<{
    ref: string;
    remote_name: string;
    remote_url: string;
    remote_gpg_key: string | null;
    allow_downgrade: boolean;
    checksum: string;
    version: string;
    quarantined: boolean;
  }>(
    `SELECT a.ref, a.remote_name, a.remote_url, a.remote_gpg_key, a.allow_downgrade, rel.checksum, rel.version,
            rel.quarantined_at IS NOT NULL AS quarantined
       FROM ring_apps a JOIN releases rel ON rel.id = a.release_id
      WHERE a.ring_id = $1
      ORDER BY a.position, a.ref`,
    [ringId],
  );
  return rows.map((r) => ({
    ref: r.ref,
    remote: { name: r.remote_name, url: r.remote_url, gpgKey: r.remote_gpg_key },
    release: { checksum: r.checksum, version: r.version, quarantined: r.quarantined },
    allowDowngrade: r.allow_downgrade,
  }));
}

/**
 * The rollout whose waves are open in the ring: an active one first, else
 * the newest aborted one, until a later rollout takes the ring (an aborted
 * rollout still keeps the machines that booted its release where they are).
 */
async function readOpenRollout(query: Query, ringId: string, apps: boolean): Promise<(RolloutView & { branchId: string }) | null> {
  const [row] = await query<{
    id: string;
    state: RolloutView["state"];
    paused_by: RolloutView["pausedBy"];
    pause_reason: string | null;
    allow_downgrade: boolean;
    open_wave: number;
    single_first: boolean;
    percents: number[];
    force_first: Partial<Selector>;
    exclude: Partial<Selector>;
    first_machine_ids: string[];
    branch_id: string;
    ref: string;
    checksum: string;
    version: string;
    quarantined: boolean;
    wave_machines: number;
    ramp_started_at: Date | null;
    ramp_seconds: number;
    ramp_held_at: Date | null;
  }>(
    `SELECT ro.id, ro.state::text AS state, ro.paused_by, ro.pause_reason, ro.allow_downgrade, rr.open_wave, rr.single_first,
            rr.ramp_started_at, rr.ramp_seconds, rr.ramp_held_at, rr.wave_machines,
            rr.percents, rr.force_first, rr.exclude, rr.first_machine_ids, rel.branch_id, b.ref, rel.checksum, rel.version,
            rel.quarantined_at IS NOT NULL AS quarantined
       FROM rollout_rings rr
       JOIN rollouts ro ON ro.id = rr.rollout_id
       JOIN releases rel ON rel.id = ro.release_id
       JOIN branches b ON b.id = rel.branch_id
      WHERE rr.ring_id = $1 AND rr.phase = 'active' AND rr.open_wave >= 0 AND (b.ref LIKE 'app/%') = $2
        AND (ro.state IN ${sqlList(ACTIVE_ROLLOUT_STATES)}
             OR (ro.state = 'aborted' AND NOT EXISTS (
                   SELECT 1 FROM rollout_rings later JOIN rollouts lro ON lro.id = later.rollout_id
                    JOIN releases lrel ON lrel.id = lro.release_id JOIN branches lb ON lb.id = lrel.branch_id
                    WHERE later.ring_id = rr.ring_id AND later.phase <> 'pending' AND lro.created_at > ro.created_at
                      AND (lb.ref LIKE 'app/%') = $2)))
      ORDER BY ro.state = 'aborted', ro.created_at DESC
      LIMIT 1`,
    [ringId, apps],
  );
  if (!row) return null;
  const waves = wavesOf({ singleFirst: row.single_first, percents: row.percents });
  return {
    id: row.id,
    branchId: row.branch_id,
    state: row.state,
    pausedBy: row.paused_by,
    pauseReason: row.pause_reason,
    allowDowngrade: row.allow_downgrade,
    openWave: row.open_wave,
    release: { ref: row.ref, checksum: row.checksum, version: row.version, quarantined: row.quarantined },
    membership: {
      waves,
      forceFirst: row.force_first,
      exclude: row.exclude,
      firstMachineIds: row.first_machine_ids,
    },
    // The machines of the open waves, as the check-in interval of those done
    // with the update is spread over them (desired.ts).
    waveMachines: Math.max(row.first_machine_ids.length, row.wave_machines),
    ramp: rampOf(
      {
        startedAt: row.ramp_started_at ? new Date(row.ramp_started_at) : null,
        seconds: row.ramp_seconds,
        heldAt: row.ramp_held_at ? new Date(row.ramp_held_at) : null,
      },
      waves,
      row.open_wave,
    ),
  };
}
