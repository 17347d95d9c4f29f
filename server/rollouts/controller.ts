// The rollout controller: runs inside the console, acts only from stored
// state, and can be killed at any point. Each step of a rollout is one
// transaction under a PostgreSQL advisory lock (so two console processes on
// one database never both act) that tracks the active ring's machines,
// judges its health gate and applies at most one decision.
import { type Actor, writeAudit } from "../audit/audit";
import type { Clock } from "../clock";
import { type Database, Prisma } from "../db/client";
import { domainEvents } from "../events";
import { prismaQuery, readUpdatePath } from "../agents/views";
import { routeOf } from "../releases/paths";
import { PeriodicJob } from "../jobs/periodic-job";
import type { Logger } from "../logger";
import { isOnline } from "../machines/machines";
import { type Candidate, pickFirstMachine, type RingMembership } from "./membership";
import {
  type Decision,
  type Disposition,
  emptyCounts,
  machineStep,
  type MachineStep,
  nextDecision,
  type RingProgress,
  wavesOf,
} from "./plan";
import { DEFAULT_WAVE_AT_WORK, DEFAULT_WAVE_STARTS, nextHold, rampOf, rampSecondsFor, turnAt } from "./ramp";
import type { Selector } from "./schemas";
import { countEligible, ELIGIBLE_SQL, rejudgeRollout } from "./tracking";
import {
  ACTIVE_ROLLOUT_STATES,
  isActiveRollout,
  isAppRef,
  isTerminalStep,
  reportsHealth,
  sqlList,
  type StepCounts,
  sumOf,
  UNDER_WAY_STEPS,
  WEBHOOK_STEP_EVENTS,
} from "../vocabulary";
import { enqueueEvents, rolloutEvent, type WebhookEvent } from "../webhooks/outbox";
import { type MaintenanceWindow, nextOpening, windowOpen, type WindowPolicy } from "./windows";

type Tx = Prisma.TransactionClient;

const ACTIVE_STATES_SQL = Prisma.raw(sqlList(ACTIVE_ROLLOUT_STATES));

/** How fast a wave starts its machines (rollouts/ramp.ts). */
interface WavePace {
  /** Machines a second (ORCHARD_WAVE_STARTS). */
  startsPerSecond: number;
  /** Machines of the ring at work at which the ramp stands still (ORCHARD_WAVE_AT_WORK). */
  atWork: number;
}

/** Rows a wave's opening adds before the controller refreshes rollout_machines' statistics. */
const ANALYZE_AFTER_ROWS = 10_000;

const controllerActor: Actor = { id: null, label: "controller", role: "admin", rings: null };

export interface StepResult {
  rolloutId: string;
  /** False when another process held the rollout's lock. */
  acted: boolean;
  decision: Decision | null;
}

export class RolloutController {
  private readonly job: PeriodicJob;

  constructor(
    private readonly db: Database,
    private readonly options: {
      clock: Clock;
      log: Logger;
      intervalMs: number;
      /** Machines an opening wave starts a second (ORCHARD_WAVE_STARTS; rollouts/ramp.ts). */
      waveStartsPerSecond?: number;
      /** Machines of a ring at work at which its wave's ramp stands still (ORCHARD_WAVE_AT_WORK). */
      waveAtWork?: number;
    },
  ) {
    this.job = new PeriodicJob({
      name: "rollout controller step",
      intervalMs: options.intervalMs,
      runAtStart: false,
      // Back at work within ten seconds of the database's return.
      maxRetryMs: 10_000,
      log: options.log,
      step: () => this.step(),
    });
  }

  start() {
    this.job.start();
  }

  stop() {
    return this.job.stop();
  }

  /**
   * One pass over every active rollout, and over ended ones (aborted,
   * reverted) while machines they withdrew have not yet said that they
   * stopped (through the partial index of unfinished rows).
   */
  async step(): Promise<StepResult[]> {
    const rollouts = await this.db.prisma.$queryRaw<{ id: string }[]>`
      SELECT ro.id FROM rollouts ro
       WHERE ro.state IN ${ACTIVE_STATES_SQL}
          OR (ro.state IN ('aborted', 'reverted')
              AND EXISTS (SELECT 1 FROM rollout_machines rm WHERE rm.rollout_id = ro.id AND rm.finished_at IS NULL))
       ORDER BY ro.created_at ASC`;
    const results: StepResult[] = [];
    for (const { id } of rollouts) results.push(await this.stepRollout(id));
    return results;
  }

  async stepRollout(rolloutId: string): Promise<StepResult> {
    const now = this.options.clock.now();
    const outcome = await this.db.prisma.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`
          SELECT pg_try_advisory_xact_lock(hashtext(${`orchard:rollout:${rolloutId}`})) AS locked`;
        if (!lock?.locked) return { acted: false, decision: null, ringIds: [] as string[], assigned: 0, rampsMoved: false };
        return stepInTransaction(tx, rolloutId, now, {
          startsPerSecond: this.options.waveStartsPerSecond ?? DEFAULT_WAVE_STARTS,
          atWork: this.options.waveAtWork ?? DEFAULT_WAVE_AT_WORK,
        });
      },
      { timeout: 120_000, maxWait: 30_000 },
    );
    // A large wave just added its rows: statistics that still describe the
    // table without them would plan the next steps' reads badly.
    if (outcome.assigned >= ANALYZE_AFTER_ROWS) await this.db.prisma.$executeRaw`ANALYZE rollout_machines`;
    if (outcome.decision && outcome.decision.kind !== "wait") {
      this.options.log.info({ rolloutId, decision: outcome.decision }, "rollout decision");
    }
    // Only a decision changes what the rings answer (a wave, a phase, a pause),
    // or a ramp held or let go; a step that only tracked progress leaves the
    // agents' cached ring views be.
    if ((outcome.decision && outcome.decision.kind !== "wait") || outcome.rampsMoved) {
      for (const ringId of outcome.ringIds) domainEvents.emit("ringChanged", ringId);
    }
    return { rolloutId, acted: outcome.acted, decision: outcome.decision };
  }
}

async function loadRollout(tx: Tx, rolloutId: string) {
  return tx.rollout.findUnique({
    where: { id: rolloutId },
    select: {
      id: true,
      state: true,
      waitingFor: true,
      pendingVersion: true,
      pendingWriters: true,
      release: { select: { id: true, version: true, checksum: true, branchId: true, quarantinedAt: true, branch: { select: { ref: true } } } },
      rings: {
        orderBy: { position: "asc" },
        select: {
          id: true,
          ringId: true,
          position: true,
          phase: true,
          openWave: true,
          waveOpenedAt: true,
          rampStartedAt: true,
          rampSeconds: true,
          rampHeldAt: true,
          singleFirst: true,
          percents: true,
          soakSeconds: true,
          maxFailureRate: true,
          minSample: true,
          darkAfterSeconds: true,
          approvalRequired: true,
          approvedAt: true,
          forceFirst: true,
          exclude: true,
          firstMachineIds: true,
          trackedVersion: true,
          ring: {
            select: {
              name: true,
              branchId: true,
              currentReleaseId: true,
              checkInIntervalSeconds: true,
              timeZone: true,
              maintenanceWindows: true,
              blackoutDates: true,
            },
          },
        },
      },
    },
  });
}

type LoadedRing = NonNullable<Awaited<ReturnType<typeof loadRollout>>>["rings"][number] & {
  /** An app rollout: the ring's release of the app (in its app set) now. */
  appReleaseId?: string | null;
};
type LoadedRollout = Omit<NonNullable<Awaited<ReturnType<typeof loadRollout>>>, "rings"> & {
  rings: LoadedRing[];
  /** The Flatpak app ref of an app release's rollout; null for an OS release. */
  appRef: string | null;
};

/**
 * An app release's rollout (its ref is a Flatpak app's) runs on the same
 * machinery as an OS release's; what differs is read from the app's rows:
 * each ring's release of the app is its app set's (ring_apps), a machine's
 * progress is its installed app (machine_apps: commit, update state, the
 * app's health), and nothing reboots.
 */
async function withAppReleases(tx: Tx, loaded: Awaited<ReturnType<typeof loadRollout>>): Promise<LoadedRollout | null> {
  if (!loaded) return null;
  const ref = loaded.release.branch.ref;
  if (!isAppRef(ref)) return { ...loaded, appRef: null };
  const apps = await tx.ringApp.findMany({
    where: { ringId: { in: loaded.rings.map((r) => r.ringId) }, ref },
    select: { ringId: true, releaseId: true },
  });
  return {
    ...loaded,
    appRef: ref,
    rings: loaded.rings.map((r) => ({ ...r, appReleaseId: apps.find((a) => a.ringId === r.ringId)?.releaseId ?? null })),
  };
}

function membershipOf(ring: LoadedRing): RingMembership {
  return {
    waves: wavesOf({ singleFirst: ring.singleFirst, percents: ring.percents as number[] }),
    forceFirst: ring.forceFirst as Partial<Selector>,
    exclude: ring.exclude as Partial<Selector>,
    firstMachineIds: ring.firstMachineIds as string[],
  };
}

/** What the rollout as a whole wants of machines on their way (per machine, a pin, move or rollback withdraws too). */
function dispositionOf(rollout: LoadedRollout): Disposition {
  if (rollout.release.quarantinedAt || !isActiveRollout(rollout.state)) return "withdrawn";
  return rollout.state === "running" ? "go" : "hold";
}

function policyOf(ring: LoadedRing): WindowPolicy {
  return {
    timeZone: ring.ring.timeZone,
    windows: ring.ring.maintenanceWindows as MaintenanceWindow[],
    blackoutDates: ring.ring.blackoutDates as string[],
  };
}

async function stepInTransaction(tx: Tx, rolloutId: string, now: Date, pace: WavePace) {
  // Before anything else this step reads (see readVersionMark).
  const mark = await readVersionMark(tx);
  const rollout = await withAppReleases(tx, await loadRollout(tx, rolloutId));
  const ringIds = rollout?.rings.map((r) => r.ringId) ?? [];
  if (!rollout) return { acted: true, decision: null, ringIds, assigned: 0, rampsMoved: false };
  const safe = await safeVersion(tx, rollout, mark);
  // Raw, so as not to move the rollout's updated_at; only when it moved.
  await tx.$executeRaw`
    UPDATE rollouts SET pending_version = ${mark.last}, pending_writers = ${mark.writers}::text[]
     WHERE id = ${rollout.id} AND (pending_version IS DISTINCT FROM ${mark.last} OR pending_writers IS DISTINCT FROM ${mark.writers}::text[])`;
  if (!isActiveRollout(rollout.state)) {
    // Ended: only its withdrawn machines are followed until they stop.
    for (const ring of rollout.rings) if (ring.phase !== "pending") await trackRing(tx, rollout, ring, now, safe);
    return { acted: true, decision: null, ringIds, assigned: 0, rampsMoved: false };
  }

  const progress: RingProgress[] = [];
  let rampsMoved = false;
  for (const ring of rollout.rings) {
    const base: RingProgress = {
      name: ring.ring.name,
      phase: ring.phase === "reverted" ? "completed" : ring.phase,
      openWave: ring.openWave,
      waves: membershipOf(ring).waves,
      counts: emptyCounts(),
      settledAt: null,
      soakSeconds: ring.soakSeconds,
      gate: { maxFailureRate: ring.maxFailureRate, minSample: ring.minSample },
      approvalRequired: ring.approvalRequired,
      approved: ring.approvedAt !== null,
      windowOpen: windowOpen(policyOf(ring), now),
      windowOpensAt: null,
      machines: 0,
    };
    if (!base.windowOpen) base.windowOpensAt = nextOpening(policyOf(ring), now);
    if (ring.phase === "active") {
      Object.assign(base, await trackRing(tx, rollout, ring, now, safe));
      if (rollout.state === "running" && (await holdRamp(tx, ring, base.counts, now, pace.atWork))) rampsMoved = true;
    }
    else if ((ring.phase === "pending" || ring.phase === "awaiting_approval") && progress.every((p) => p.phase === "completed")) {
      // Only the first ring not completed is decided on, and only a ring not started by its machines.
      base.machines = await countEligible(tx, ring.ringId);
    }
    progress.push(base);
  }

  // Paused and awaiting rollouts are tracked (their progress stays true) but make no decisions.
  if (rollout.state !== "running") return { acted: true, decision: null, ringIds, assigned: 0, rampsMoved };
  if (rollout.release.quarantinedAt) {
    await pause(tx, rollout, `release ${rollout.release.version} is quarantined`, "brake", now);
    return { acted: true, decision: { kind: "pause", ring: 0, reason: "quarantined" } as Decision, ringIds, assigned: 0, rampsMoved };
  }

  const decision = nextDecision(progress, now);
  const assigned = await apply(tx, rollout, decision, now, safe, pace.startsPerSecond);
  return { acted: true, decision, ringIds, assigned: assigned ?? 0, rampsMoved };
}

/**
 * Holds the ring's open wave while ORCHARD_WAVE_AT_WORK of its machines are
 * at work: none of its machines that has not begun starts, its turn come or
 * not; and lets it go on (the ramp's start moved on by the time held) once
 * half are left (rollouts/ramp.ts). True when it changed what the ring answers.
 */
async function holdRamp(tx: Tx, ring: LoadedRing, counts: StepCounts, now: Date, limit: number): Promise<boolean> {
  const { rampStartedAt, rampSeconds, rampHeldAt } = ring;
  if (!rampStartedAt || rampSeconds <= 0) return false;
  // Every machine of the wave has begun (or gone dark): nothing left to hold.
  if (!rampHeldAt && counts.assigned === 0) return false;
  const next = nextHold(rampHeldAt, sumOf(counts, UNDER_WAY_STEPS), limit, now);
  if (next === undefined) return false;
  const data = next
    ? { rampHeldAt: next }
    : { rampHeldAt: null, rampStartedAt: new Date(rampStartedAt.getTime() + (now.getTime() - rampHeldAt!.getTime())) };
  await tx.rolloutRing.update({ where: { id: ring.id }, data });
  return true;
}

/**
 * The watermark. A step reads, of a large ring, only the machines whose
 * state_version is above the ring's watermark (rollout_rings.tracked_version),
 * so it must never pass over a change committed late with a smaller number:
 * a transaction may take a value from machine_state_version, and commit it
 * well after another has taken and committed a larger one.
 *
 * The rule: a value is only ever taken by a statement that writes machines
 * (the state writer; the triggers on enrollment and on a change of ring,
 * pin, labels…), so its transaction holds a write lock on machines from before
 * it takes the value until it ends, and the sequence hands out values in
 * order (CACHE 1, set by the migration). Each step reads, before anything
 * else, the sequence's last value `last` and then the transactions holding
 * such a lock (`writers`, from pg_locks, in this database, not this one):
 * every transaction that took a value at most `last` and has not ended is
 * among them. So once every one of `writers` has ended, every value at most
 * `last` is committed (or never will be), and whatever reads after that sees
 * all of them. The step sets a ring's watermark, after reading its rows, to:
 * `last`, when there were no writers; else the previous step's `last` when
 * none of that step's writers is still running; else it leaves it as it was
 * (and reads a little more next time). Never lower: a stalled watermark only
 * costs reading. Its rows are judged on `m.state_version > rm.seen_version`
 * as always, so reading more than needed changes nothing.
 */
interface VersionMark {
  last: bigint;
  writers: string[];
}

async function readVersionMark(tx: Tx): Promise<VersionMark> {
  // In this order, in two statements: the sequence, then the writers.
  const [sequence] = await tx.$queryRaw<{ last: bigint }[]>`
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS last FROM machine_state_version`;
  const writers = await tx.$queryRaw<{ vxid: string }[]>`
    SELECT DISTINCT l.virtualtransaction AS vxid FROM pg_locks l
     WHERE l.locktype = 'relation' AND l.relation = 'machines'::regclass
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
       AND l.pid IS DISTINCT FROM pg_backend_pid()`;
  return { last: sequence.last, writers: writers.map((w) => w.vxid) };
}

/** The largest version below which every change is committed and seen by this step's reads, or null (see VersionMark). */
async function safeVersion(tx: Tx, rollout: LoadedRollout, mark: VersionMark): Promise<bigint | null> {
  if (mark.writers.length === 0) return mark.last;
  if (rollout.pendingVersion === null) return null;
  if (rollout.pendingWriters.length === 0) return rollout.pendingVersion;
  // A running transaction always holds the lock on its own virtual transaction id.
  const [still] = await tx.$queryRaw<{ running: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM pg_locks WHERE virtualtransaction = ANY(${rollout.pendingWriters}::text[])) AS running`;
  return still.running ? null : rollout.pendingVersion;
}

interface TrackedRow {
  id: string;
  machine_id: string;
  previous_checksum: string | null;
  previous_boot_id: string | null;
  boot_id: string | null;
  state_version: string;
  step: MachineStep;
  assigned_at: Date;
  dark_at: Date;
  finished_at: Date | null;
  booted_checksum: string | null;
  update_state: string;
  update_target: string | null;
  update_error: string | null;
  health_status: string;
  /** An app rollout: whether the app's health counts (null: an OS rollout, the backend says). */
  health_reported: boolean | null;
  last_seen_at: Date | null;
  backend: string;
  cohort: number;
  /** Pinned, moved to another ring, held by an operator's rollback or retired since it was assigned. */
  excluded: boolean;
}

/**
 * Brings the active ring's rollout machines up to date and returns its
 * progress. Only rows whose machine's state version moved since they were
 * last judged (or marked to be judged again, or just assigned on the release
 * already, or past their dark deadline) are judged again, and the rows to
 * look at are found through the ring's watermark (see VersionMark): the
 * machines changed since, the rows marked, the unfinished rows past their
 * deadline, each through its own index. So a step over a quiet ring of a
 * million machines reads little; the counts come from one GROUP BY.
 */
async function trackRing(tx: Tx, rollout: LoadedRollout, ring: LoadedRing, now: Date, safe: bigint | null): Promise<Partial<RingProgress>> {
  const target = rollout.release.checksum;
  const active = isActiveRollout(rollout.state);
  const since = ring.trackedVersion;
  if (active) await assignOpenWaves(tx, rollout, ring, membershipOf(ring), now, since);
  const disposition = dispositionOf(rollout);

  // An ended rollout judges only the machines it has not finished with (a
  // revert moves the others on, and their steps stay as they were).
  // An app rollout reads the machine's installed app where an OS rollout
  // reads its booted deployment; an app that reports no health (no checks
  // configured on the machine) succeeds by its succeeded update, as an
  // updater that reports no health succeeds by its boot.
  const app = rollout.appRef;
  const columns = app
    ? Prisma.sql`NULL::text AS boot_id, a.commit AS booted_checksum, COALESCE(a.update_state, 'idle') AS update_state,
           a.update_target, a.update_error, COALESCE(a.health_status, 'unknown') AS health_status,
           NOT (a.health_status IS NULL AND a.update_state = 'succeeded') AS health_reported`
    : Prisma.sql`m.boot_id, m.booted_checksum, m.update_state::text AS update_state, m.update_target, m.update_error,
           m.health_status::text AS health_status, NULL::boolean AS health_reported`;
  const appJoin = app ? Prisma.sql`LEFT JOIN machine_apps a ON a.machine_id = m.id AND a.ref = ${app}` : Prisma.empty;
  const appPinned = app
    ? Prisma.sql`OR EXISTS (SELECT 1 FROM machine_app_pins ap WHERE ap.machine_id = m.id AND ap.ref = ${app})`
    : Prisma.empty;
  const read = (where: Prisma.Sql) => Prisma.sql`
    SELECT rm.id, m.machine_id, rm.previous_checksum, rm.previous_boot_id,
           m.state_version::text AS state_version, rm.step::text AS step, rm.assigned_at, rm.dark_at, rm.finished_at,
           ${columns}, m.last_seen_at, m.backend::text AS backend, m.cohort,
           (m.retired_at IS NOT NULL OR m.pinned_release_id IS NOT NULL OR m.ring_id IS DISTINCT FROM rm.ring_id
            OR COALESCE((m.rollback_to ->> 'hold')::boolean, false) ${appPinned}) AS excluded
      FROM rollout_machines rm JOIN machines m ON m.id = rm.machine_id ${appJoin}
     WHERE rm.rollout_id = ${rollout.id} AND rm.ring_id = ${ring.ringId} AND ${where}
       AND (${active} OR rm.finished_at IS NULL)
       AND (m.state_version > rm.seen_version OR (rm.finished_at IS NULL AND rm.dark_at <= ${now}))`;
  // With a watermark, two disjoint parts, each through its own index: the
  // machines changed since; and of the others, the rows marked to be judged
  // again (seen_version -1) or unfinished past their deadline.
  const rows = await tx.$queryRaw<TrackedRow[]>(
    since === null
      ? read(Prisma.sql`true`)
      : Prisma.sql`${read(Prisma.sql`m.state_version > ${since}`)}
         UNION ALL
         ${read(Prisma.sql`m.state_version <= ${since} AND (rm.seen_version < 0 OR (rm.finished_at IS NULL AND rm.dark_at <= ${now}))`)}`,
  );
  // Every change up to `safe` was committed before this step read the ring's rows.
  if (safe !== null && (since === null || safe > since)) {
    await tx.rolloutRing.update({ where: { id: ring.id }, data: { trackedVersion: safe } });
  }

  const judged: { id: string; step: MachineStep; finishedAt: Date | null; detail: string | null; version: string; darkAt: Date | null }[] = [];
  const ramp = rampOf({ startedAt: ring.rampStartedAt, seconds: ring.rampSeconds, heldAt: ring.rampHeldAt }, membershipOf(ring).waves, ring.openWave);
  const events: WebhookEvent[] = [];
  // An app has no floors or blocked paths: its machines go straight to the commit.
  const path = rows.length > 0 && !app ? await readUpdatePath(prismaQuery(tx), rollout.release.branchId) : null;
  for (const row of rows) {
    const route = path ? routeOf(path, row.booted_checksum, target) : null;
    const via = route?.kind === "hops" ? route.hops.map((h) => h.checksum) : [];
    // Not started, in a ramp that was held: its turn, and so its deadline, moved on.
    // Begun since the last step: its deadline counts from the report that
    // says so, however late its turn, a hold or its check-in interval let it
    // begin (in runs 10 and 11 of docs/scaling.md, machines at work and
    // reporting were judged dark on the deadline of a turn that holds had
    // kept them from taking).
    let darkAt: Date | null = null;
    const begun = row.update_target === target || row.booted_checksum === target;
    const deadline =
      row.step !== "assigned" ? null
      : begun ? (row.last_seen_at ?? now).getTime() + ring.darkAfterSeconds * 1000
      : ramp ? turnAt(ramp, row.cohort, now).getTime() + ring.darkAfterSeconds * 1000
      : null;
    if (deadline !== null && deadline > row.dark_at.getTime() + 1000) darkAt = new Date(deadline);
    const step = machineStep(
      {
        bootedChecksum: row.booted_checksum,
        bootId: row.boot_id,
        updateState: row.update_state,
        updateTarget: row.update_target,
        healthStatus: row.health_status,
        lastSeenAt: row.last_seen_at,
        healthReported: row.health_reported ?? reportsHealth(row.backend),
      },
      target,
      darkAt ?? row.dark_at,
      now,
      row.excluded ? "excluded" : disposition,
      { previousChecksum: row.previous_checksum, previousBootId: row.previous_boot_id, step: row.step },
      via,
    );
    const terminal = isTerminalStep(step);
    const finishedAt = terminal ? (isTerminalStep(row.step) && row.finished_at ? row.finished_at : now) : null;
    const detail = step === "failed" || step === "rolled_back" ? row.update_error : step === "dark" ? darkDetail(row, now, target, app) : null;
    judged.push({ id: row.id, step, finishedAt, detail, version: row.state_version, darkAt });
    if (step !== row.step && step in WEBHOOK_STEP_EVENTS) {
      const kind = WEBHOOK_STEP_EVENTS[step as keyof typeof WEBHOOK_STEP_EVENTS];
      events.push(rolloutEvent(kind, rolloutRef(rollout), now, { machineId: row.machine_id, ring: ring.ring.name, detail }));
    }
  }
  // Each machine's outcome once, when the step first records it, in the rollout's order (under its lock).
  await enqueueEvents(tx, events);
  for (let i = 0; i < judged.length; i += 5000) {
    const slice = judged.slice(i, i + 5000);
    await tx.$executeRaw`
      UPDATE rollout_machines AS rm
         SET step = v.step::"MachineStep", finished_at = v.finished_at, detail = COALESCE(v.detail, rm.detail),
             seen_version = v.seen_version, dark_at = COALESCE(v.dark_at, rm.dark_at),
             updated_at = CASE WHEN rm.step::text = v.step THEN rm.updated_at ELSE ${now} END
        FROM unnest(${slice.map((c) => c.id)}::text[], ${slice.map((c) => c.step)}::text[],
                    ${slice.map((c) => c.finishedAt)}::timestamptz[], ${slice.map((c) => c.detail)}::text[],
                    ${slice.map((c) => c.version)}::bigint[], ${slice.map((c) => c.darkAt)}::timestamptz[])
             AS v(id, step, finished_at, detail, seen_version, dark_at)
       WHERE rm.id = v.id`;
  }

  const grouped = await tx.$queryRaw<{ step: MachineStep; n: number; last: Date | null }[]>`
    SELECT step::text AS step, count(*)::int AS n, max(finished_at) AS last FROM rollout_machines
     WHERE rollout_id = ${rollout.id} AND ring_id = ${ring.ringId} GROUP BY step`;
  const counts = emptyCounts();
  let last = 0;
  for (const g of grouped) {
    counts[g.step] = g.n;
    if (g.last) last = Math.max(last, g.last.getTime());
  }
  const allTerminal = grouped.every((g) => isTerminalStep(g.step));
  return {
    counts,
    // No machines yet, or all finished: settled when the last one finished.
    settledAt: allTerminal ? new Date(last) : null,
  };
}

function darkDetail(row: TrackedRow, now: Date, target: string, app: string | null) {
  if (app) {
    const silence = row.last_seen_at ? Math.round((now.getTime() - row.last_seen_at.getTime()) / 1000) : null;
    const what = row.booted_checksum === target ? `runs the app's commit but reports it ${row.health_status}` : `last ${row.update_state}`;
    return `no healthy update of ${app} before the deadline; ${what}${silence === null ? ", never seen" : `, seen ${silence} s ago`}`;
  }
  if (row.booted_checksum === target) {
    const why = row.boot_id && row.boot_id === row.previous_boot_id ? "without a new boot" : `but reports ${row.health_status}`;
    return `booted the release ${why} until the deadline`;
  }
  const silence = row.last_seen_at ? Math.round((now.getTime() - row.last_seen_at.getTime()) / 1000) : null;
  return `no healthy boot of the release before the deadline; last ${row.update_state}${silence === null ? ", never seen" : `, seen ${silence} s ago`}`;
}

/**
 * Adds the machines of the ring's open waves that have no rollout row yet
 * (late joiners included), in one INSERT … SELECT. The wave expression is
 * `waveFor` (membership.ts) in SQL: the first wave takes the chosen and
 * forced machines, then each wave the machines below its threshold;
 * pinned and excluded machines take no part. A test keeps the two in step.
 * With `since` (the ring's watermark) only machines changed since are looked
 * at: whatever makes a machine join (enrolled, moved in, unpinned, no longer
 * held, relabelled) moves its state_version (triggers, migration
 * controller_watermark). A row assigned on the release already (or updating
 * to it) is marked to be judged at once (seen_version -1). Machines that have a row
 * already are passed over by the conflict's check of the unique index (no
 * NOT EXISTS: planned over a rollout_machines its statistics call empty,
 * that anti-join rescanned the rows being inserted, for minutes).
 */
async function assignOpenWaves(
  tx: Tx,
  rollout: LoadedRollout,
  ring: LoadedRing,
  membership: RingMembership,
  now: Date,
  since: bigint | null,
) {
  if (ring.openWave < 0) return 0;
  const target = rollout.release.checksum;
  const first = [...membership.firstMachineIds, ...(membership.forceFirst.machineIds ?? [])];
  const forcedLabels = membership.forceFirst.labels ?? {};
  const isFirst = Object.keys(forcedLabels).length
    ? Prisma.sql`(m.machine_id = ANY(${first}::text[]) OR m.labels @> ${JSON.stringify(forcedLabels)}::jsonb)`
    : Prisma.sql`m.machine_id = ANY(${first}::text[])`;
  const excludedLabels = membership.exclude.labels ?? {};
  const excluded = Object.keys(excludedLabels).length
    ? Prisma.sql`(m.machine_id = ANY(${membership.exclude.machineIds ?? []}::text[]) OR m.labels @> ${JSON.stringify(excludedLabels)}::jsonb)`
    : Prisma.sql`m.machine_id = ANY(${membership.exclude.machineIds ?? []}::text[])`;
  const waves = membership.waves;
  const waveCase = Prisma.sql`CASE WHEN ${isFirst} THEN 0 ${Prisma.join(
    waves.map((w) => Prisma.sql`WHEN m.cohort < ${w.threshold}::float8 THEN ${w.index}::int`),
    " ",
  )} ELSE ${waves.length - 1}::int END`;
  const threshold = waves[ring.openWave].threshold;
  // A machine's dark deadline counts from its start: in a wave that starts
  // its machines over time, its turn (rollouts/ramp.ts: startsAt), as the answer gives it.
  let darkAt = Prisma.sql`${new Date(now.getTime() + ring.darkAfterSeconds * 1000)}::timestamptz`;
  if (ring.rampStartedAt && ring.rampSeconds > 0) {
    const from = waves[ring.openWave - 1]?.threshold ?? 0;
    const share = Prisma.sql`CASE WHEN ${isFirst} THEN 0 ELSE LEAST(1, GREATEST(0, (m.cohort - ${from}::float8) / ${threshold - from}::float8)) END`;
    darkAt = Prisma.sql`GREATEST(${now}::timestamptz, ${ring.rampStartedAt}::timestamptz + make_interval(secs => ${ring.rampSeconds}::float8 * ${share}))
      + make_interval(secs => ${ring.darkAfterSeconds}::int)`;
  }
  const changed = since === null ? Prisma.empty : Prisma.sql`AND m.state_version > ${since}`;
  if (rollout.appRef) {
    // An app rollout: what the machine had is its installed app (what a revert goes back to); machines pinned for the app take no part.
    const app = rollout.appRef;
    return tx.$executeRaw`
      INSERT INTO rollout_machines (id, rollout_id, machine_id, ring_id, wave, step, assigned_at, dark_at,
                                    previous_checksum, previous_ref, previous_version, previous_boot_id, seen_version, updated_at)
      SELECT gen_random_uuid()::text, ${rollout.id}, m.id, m.ring_id, ${waveCase}, 'assigned', ${now}, ${darkAt},
             a.commit, ${app}, pr.version, NULL,
             CASE WHEN a.commit = ${target} OR a.update_target = ${target} THEN -1 ELSE m.state_version END, ${now}
        FROM machines m
        LEFT JOIN machine_apps a ON a.machine_id = m.id AND a.ref = ${app}
        LEFT JOIN LATERAL (SELECT r.version FROM releases r WHERE r.branch_id = ${rollout.release.branchId} AND r.checksum = a.commit) pr ON true
       WHERE m.ring_id = ${ring.ringId} AND ${ELIGIBLE_SQL} ${changed}
         AND NOT EXISTS (SELECT 1 FROM machine_app_pins ap WHERE ap.machine_id = m.id AND ap.ref = ${app})
         AND NOT ${excluded}
         AND (${isFirst} OR m.cohort < ${threshold}::float8)
      ON CONFLICT (rollout_id, machine_id) DO NOTHING`;
  }
  return tx.$executeRaw`
    INSERT INTO rollout_machines (id, rollout_id, machine_id, ring_id, wave, step, assigned_at, dark_at,
                                  previous_checksum, previous_ref, previous_version, previous_boot_id, seen_version, updated_at)
    SELECT gen_random_uuid()::text, ${rollout.id}, m.id, m.ring_id, ${waveCase}, 'assigned', ${now}, ${darkAt},
           m.booted_checksum, m.booted_ref, m.booted_version, m.boot_id,
           CASE WHEN m.booted_checksum = ${target} OR m.update_target = ${target} THEN -1 ELSE m.state_version END, ${now}
      FROM machines m
     WHERE m.ring_id = ${ring.ringId} AND ${ELIGIBLE_SQL} ${changed}
       AND NOT ${excluded}
       AND (${isFirst} OR m.cohort < ${threshold}::float8)
    ON CONFLICT (rollout_id, machine_id) DO NOTHING`;
}

async function pause(tx: Tx, rollout: LoadedRollout, reason: string, by: "gate" | "brake", now: Date) {
  await tx.rollout.update({
    where: { id: rollout.id },
    data: { state: "paused", pausedAt: now, pausedBy: by, pauseReason: reason, waitingFor: null, version: { increment: 1 } },
  });
  await rejudgeRollout(tx, rollout.id);
  await enqueueEvents(tx, [rolloutEvent("rollout.paused", rolloutRef(rollout), now, { reason, pausedBy: by })]);
  await writeAudit(
    tx,
    controllerActor,
    { action: "rollout.pause", targetType: "rollout", targetId: rollout.id, reason, before: { state: rollout.state }, after: { state: "paused", pausedBy: by } },
    now,
  );
}

/** What a revert puts back: the ring's release (none, for a new ring) and its branch (the one a rebase leaves). */
function previousOf(ring: LoadedRing) {
  // An app rollout: the ring's release of the app (the ring's branch is not the app's).
  if (ring.appReleaseId !== undefined) return { previousReleaseId: ring.appReleaseId, previousBranchId: null };
  return { previousReleaseId: ring.ring.currentReleaseId, previousBranchId: ring.ring.branchId };
}

/** Applies the decision; returns the machines it assigned (a wave opened). */
async function apply(
  tx: Tx,
  rollout: LoadedRollout,
  decision: Decision,
  now: Date,
  safe: bigint | null,
  waveStartsPerSecond: number,
): Promise<number | void> {
  switch (decision.kind) {
    case "wait": {
      if (rollout.waitingFor !== decision.why) {
        await tx.rollout.update({ where: { id: rollout.id }, data: { waitingFor: decision.why } });
      }
      return;
    }
    case "pause":
      return pause(tx, rollout, decision.reason, "gate", now);
    case "await-approval": {
      const ring = rollout.rings[decision.ring];
      await tx.rolloutRing.update({ where: { id: ring.id }, data: { phase: "awaiting_approval", ...previousOf(ring) } });
      await tx.rollout.update({
        where: { id: rollout.id },
        data: { state: "awaiting_approval", waitingFor: `approval to start ring ${ring.ring.name}`, version: { increment: 1 } },
      });
      return audit(tx, rollout, "rollout.await-approval", { ring: ring.ring.name }, now);
    }
    case "open-wave": {
      const ring = rollout.rings[decision.ring];
      const membership = membershipOf(ring);
      // The machines the open waves reach, by the ring's share: the answer
      // spreads their check-ins by it. An OS release's wave starts its new
      // machines over time (rollouts/ramp.ts; none for a wave of the single
      // first machine).
      const eligible = await countEligible(tx, ring.ringId);
      const threshold = membership.waves[decision.wave].threshold;
      const ramp = { rampStartedAt: null as Date | null, rampSeconds: 0, rampHeldAt: null as Date | null };
      if (!rollout.appRef) {
        const share = threshold - (membership.waves[decision.wave - 1]?.threshold ?? 0);
        ramp.rampSeconds = rampSecondsFor(Math.ceil(eligible * share), waveStartsPerSecond);
        if (ramp.rampSeconds > 0) ramp.rampStartedAt = now;
      }
      const data: Prisma.RolloutRingUpdateInput = { openWave: decision.wave, waveOpenedAt: now, waveMachines: Math.ceil(eligible * threshold), ...ramp };
      if (decision.wave === 0) {
        data.phase = "active";
        data.startedAt = now;
        // Its machines are read below, after every change up to `safe` was committed.
        data.trackedVersion = safe;
        Object.assign(data, previousOf(ring));
        if (ring.singleFirst) {
          const first = await chooseFirstMachine(tx, ring, membership, now);
          data.firstMachineIds = first ? [first] : [];
          membership.firstMachineIds = first ? [first] : [];
        }
      }
      await tx.rolloutRing.update({ where: { id: ring.id }, data });
      const assigned = await assignOpenWaves(
        tx,
        rollout,
        { ...ring, openWave: decision.wave, firstMachineIds: membership.firstMachineIds, ...ramp },
        membership,
        now,
        null,
      );
      await tx.rollout.update({ where: { id: rollout.id }, data: { waitingFor: null, version: { increment: 1 } } });
      const wave = membership.waves[decision.wave];
      await enqueueEvents(tx, [
        rolloutEvent("rollout.wave_opened", rolloutRef(rollout), now, {
          ring: ring.ring.name,
          wave: decision.wave + 1,
          of: membership.waves.length,
          label: wave.label,
        }),
      ]);
      await audit(tx, rollout, "rollout.open-wave", { ring: ring.ring.name, wave: decision.wave + 1, of: membership.waves.length, label: wave.label }, now);
      return assigned;
    }
    case "complete-ring": {
      const ring = rollout.rings[decision.ring];
      // What a revert puts back: the ring's release just before the rollout takes it over.
      await tx.rolloutRing.update({
        where: { id: ring.id },
        data: { phase: "completed", completedAt: now, ...previousOf(ring) },
      });
      if (rollout.appRef) {
        // The ring's app set now runs the app's release (no longer allowed down: that was a revert's).
        await tx.$executeRaw`
          UPDATE ring_apps SET release_id = ${rollout.release.id}, allow_downgrade = false, updated_at = ${now}
           WHERE ring_id = ${ring.ringId} AND ref = ${rollout.appRef}`;
      } else {
        // The ring now runs the release (and follows its branch: a rebase completes here).
        await tx.ring.update({
          where: { id: ring.ringId },
          data: { currentReleaseId: rollout.release.id, branchId: rollout.release.branchId },
        });
      }
      await tx.rollout.update({ where: { id: rollout.id }, data: { waitingFor: null, version: { increment: 1 } } });
      return audit(tx, rollout, "rollout.complete-ring", { ring: ring.ring.name, release: rollout.release.version }, now);
    }
    case "complete": {
      await tx.rollout.update({
        where: { id: rollout.id },
        data: { state: "completed", finishedAt: now, waitingFor: null, version: { increment: 1 } },
      });
      await enqueueEvents(tx, [rolloutEvent("rollout.completed", rolloutRef(rollout), now, { rings: rollout.rings.map((r) => r.ring.name) })]);
      return audit(tx, rollout, "rollout.complete", { release: rollout.release.version }, now);
    }
  }
}

/** The rollout as its webhook messages name it. */
function rolloutRef(rollout: LoadedRollout) {
  return { id: rollout.id, version: rollout.release.version, ref: rollout.release.branch.ref };
}

async function audit(tx: Tx, rollout: LoadedRollout, action: string, after: Prisma.InputJsonValue, now: Date) {
  await writeAudit(tx, controllerActor, { action, targetType: "rollout", targetId: rollout.id, after }, now);
}

async function chooseFirstMachine(tx: Tx, ring: LoadedRing, membership: RingMembership, now: Date) {
  const machines = await tx.$queryRaw<{ machineId: string; labels: Record<string, string> | null; cohort: number; lastSeenAt: Date | null }[]>`
    SELECT m.machine_id AS "machineId", m.labels, m.cohort, m.last_seen_at AS "lastSeenAt"
      FROM machines m WHERE m.ring_id = ${ring.ringId} AND ${ELIGIBLE_SQL}
     ORDER BY m.cohort ASC LIMIT 1000`;
  const candidates: (Candidate & { online: boolean })[] = machines.map((m) => ({
    machineId: m.machineId,
    labels: m.labels ?? {},
    cohort: m.cohort,
    pinned: false,
    online: isOnline(m.lastSeenAt, ring.ring.checkInIntervalSeconds, now),
  }));
  return pickFirstMachine(candidates, membership)?.machineId ?? null;
}
