// Rollouts as operators drive them: dry run, start, pause, resume, approve,
// abort, revert (whole rollout or one ring), and the release's emergency
// brake. The controller (controller.ts) moves running rollouts forward.
import { type Actor, writeAudit } from "../audit/audit";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { Prisma, PrismaClient } from "../db/client";
import { conflict, invalid, notFound } from "../errors";
import { domainEvents } from "../events";
import { isOnline } from "../machines/machines";
import { type Candidate, pickFirstMachine, waveFor } from "./membership";
import { emptyCounts, type MachineStep, wavesOf } from "./plan";
import {
  ACTIVE_ROLLOUT_STATES,
  type BrakeInput,
  brakeInput,
  type RevertInput,
  revertInput,
  type RolloutActionInput,
  rolloutActionInput,
  type RolloutPlan,
  type RolloutPlanInput,
  rolloutPlanInput,
  type Selector,
  type StartRolloutInput,
  startRolloutInput,
} from "./schemas";

type Tx = Prisma.TransactionClient;
const PREVIEW_MACHINES_PER_WAVE = 500;

export async function findRelease(db: Tx | PrismaClient, version: string, ref?: string) {
  const releases = await db.release.findMany({
    where: { version, ...(ref ? { branch: { ref } } : {}) },
    select: { id: true, version: true, checksum: true, createdAt: true, quarantinedAt: true, branch: { select: { id: true, ref: true } } },
  });
  if (releases.length === 0) throw invalid("version", `no release ${version}${ref ? ` on ${ref}` : ""}`);
  if (releases.length > 1) throw invalid("ref", `several branches have a release ${version}: name the ref`);
  return releases[0];
}

async function ringsByName(db: Tx | PrismaClient, names: string[]) {
  const rings = await db.ring.findMany({
    where: { name: { in: names } },
    select: {
      id: true,
      name: true,
      cohortSeed: true,
      checkInIntervalSeconds: true,
      branch: { select: { ref: true } },
      currentRelease: { select: { id: true, version: true, checksum: true, createdAt: true } },
    },
  });
  const missing = names.find((n) => !rings.some((r) => r.name === n));
  if (missing) throw invalid("rings", `no ring named ${missing}`);
  return names.map((n) => rings.find((r) => r.name === n)!);
}

async function ringCandidates(db: Tx | PrismaClient, ringId: string, intervalSeconds: number, now: Date) {
  const machines = await db.machine.findMany({
    where: { ringId, retiredAt: null },
    select: { id: true, machineId: true, hostname: true, labels: true, cohort: true, pinnedReleaseId: true, lastSeenAt: true, bootedVersion: true },
    orderBy: { cohort: "asc" },
  });
  return machines.map((m) => ({
    id: m.id,
    machineId: m.machineId,
    hostname: m.hostname,
    labels: (m.labels ?? {}) as Record<string, string>,
    cohort: m.cohort,
    pinned: m.pinnedReleaseId !== null,
    online: isOnline(m.lastSeenAt, intervalSeconds, now),
    bootedVersion: m.bootedVersion,
  }));
}

function membershipOf(plan: Pick<RolloutPlan, "singleFirst" | "waves" | "forceFirst" | "exclude">) {
  return {
    waves: wavesOf({ singleFirst: plan.singleFirst, percents: plan.waves }),
    forceFirst: plan.forceFirst,
    exclude: plan.exclude,
  };
}

/** The dry run: which machines land in which wave of which ring. */
export async function previewRollout(db: PrismaClient, input: RolloutPlanInput, clock: Clock = systemClock) {
  const plan = rolloutPlanInput.parse(input);
  const release = await findRelease(db, plan.version, plan.ref);
  const rings = await ringsByName(db, plan.rings);
  const now = clock.now();
  const membership = membershipOf(plan);
  const result = [];
  for (const ring of rings) {
    const candidates = await ringCandidates(db, ring.id, ring.checkInIntervalSeconds, now);
    const first = plan.singleFirst ? pickFirstMachine(candidates, membership) : null;
    const ringMembership = { ...membership, firstMachineIds: first ? [first.machineId] : [] };
    const waves = membership.waves.map((w) => ({ index: w.index, label: w.label, count: 0, machines: [] as typeof candidates }));
    const excluded: typeof candidates = [];
    for (const c of candidates) {
      const wave = waveFor(c, ringMembership);
      if (wave === null) {
        excluded.push(c);
        continue;
      }
      waves[wave].count++;
      if (waves[wave].machines.length < PREVIEW_MACHINES_PER_WAVE) waves[wave].machines.push(c);
    }
    result.push({
      ring: ring.name,
      branch: ring.branch.ref,
      currentRelease: ring.currentRelease?.version ?? null,
      rebase: ring.branch.ref !== release.branch.ref,
      downgrade: isOlder(release, ring.currentRelease),
      machines: candidates.length,
      waves: waves.map((w) => ({ ...w, machines: w.machines.map(previewMachine) })),
      excluded: excluded.slice(0, PREVIEW_MACHINES_PER_WAVE).map(previewMachine),
      excludedCount: excluded.length,
    });
  }
  return {
    release: { version: release.version, ref: release.branch.ref, checksum: release.checksum, quarantined: release.quarantinedAt !== null },
    plan,
    rings: result,
  };
}

function previewMachine(m: { machineId: string; hostname: string; cohort: number; online: boolean; pinned: boolean; bootedVersion: string | null }) {
  return { machineId: m.machineId, hostname: m.hostname, cohort: m.cohort, online: m.online, pinned: m.pinned, bootedVersion: m.bootedVersion };
}

function isOlder(release: { createdAt: Date; id?: string }, current: { createdAt: Date; id: string } | null | undefined) {
  return Boolean(current && current.id !== release.id && release.createdAt < current.createdAt);
}

/** Creates a rollout and starts it; the controller opens its first wave. */
export async function startRollout(db: PrismaClient, actor: Actor, input: StartRolloutInput, clock: Clock = systemClock) {
  const { reason, ...planInput } = startRolloutInput.parse(input);
  const plan = rolloutPlanInput.parse(planInput);
  const now = clock.now();
  const rollout = await db.$transaction(async (tx) => {
    const release = await findRelease(tx, plan.version, plan.ref);
    if (release.quarantinedAt) throw conflict(`version: release ${release.version} is quarantined (emergency brake)`);
    const rings = await ringsByName(tx, plan.rings);
    for (const ring of rings) {
      if (isOlder(release, ring.currentRelease) && !plan.allowDowngrade) {
        throw invalid(
          "allowDowngrade",
          `ring ${ring.name} runs ${ring.currentRelease?.version}, newer than ${release.version}: rolling forward to an older release needs allowDowngrade`,
        );
      }
      // Serialise rollout starts on this ring, then refuse a second active rollout.
      await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`orchard:ring:${ring.id}`}))::text`;
      const busy = await tx.rolloutRing.findFirst({
        where: { ringId: ring.id, rollout: { state: { in: [...ACTIVE_ROLLOUT_STATES] } }, phase: { not: "completed" } },
        select: { rollout: { select: { id: true, release: { select: { version: true } } } } },
      });
      if (busy) throw conflict(`rings: ring ${ring.name} is already in rollout ${busy.rollout.id} (${busy.rollout.release.version})`);
    }
    const created = await tx.rollout.create({
      data: {
        releaseId: release.id,
        state: "running",
        allowDowngrade: plan.allowDowngrade,
        createdById: actor.id,
        createdBy: actor.label,
        startedAt: now,
        rings: {
          create: rings.map((ring, position) => ({
            ringId: ring.id,
            position,
            singleFirst: plan.singleFirst,
            percents: plan.waves,
            soakSeconds: plan.soakSeconds,
            maxFailureRate: plan.maxFailureRate,
            minSample: plan.minSample,
            darkAfterSeconds: plan.darkAfterSeconds,
            approvalRequired: plan.approveBetween && position > 0,
            forceFirst: plan.forceFirst,
            exclude: plan.exclude,
          })),
        },
      },
      select: { id: true },
    });
    await writeAudit(
      tx,
      actor,
      {
        action: "rollout.start",
        targetType: "rollout",
        targetId: created.id,
        reason,
        after: { release: release.version, ref: release.branch.ref, ...plan } as Prisma.InputJsonValue,
      },
      now,
    );
    return created;
  });
  return getRollout(db, rollout.id, clock);
}

async function loadForAction(tx: Tx, rolloutId: string) {
  // Serialise with the controller and other operators on this rollout.
  await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`orchard:rollout:${rolloutId}`}))::text`;
  const rollout = await tx.rollout.findUnique({
    where: { id: rolloutId },
    select: {
      id: true,
      state: true,
      pauseReason: true,
      releaseId: true,
      release: { select: { version: true } },
      rings: { orderBy: { position: "asc" }, select: { id: true, ringId: true, phase: true, previousReleaseId: true, ring: { select: { name: true } } } },
    },
  });
  if (!rollout) throw notFound(`rollout ${rolloutId}`);
  return rollout;
}

function ringIdsOf(rollout: { rings: { ringId: string }[] }) {
  return rollout.rings.map((r) => r.ringId);
}

async function transition(
  db: PrismaClient,
  actor: Actor,
  input: RolloutActionInput,
  clock: Clock,
  action: string,
  change: (rollout: Awaited<ReturnType<typeof loadForAction>>, tx: Tx, now: Date) => Promise<Prisma.RolloutUpdateInput>,
) {
  const data = rolloutActionInput.parse(input);
  const now = clock.now();
  const rollout = await db.$transaction(async (tx) => {
    const rollout = await loadForAction(tx, data.rolloutId);
    const update = await change(rollout, tx, now);
    const after = await tx.rollout.update({
      where: { id: rollout.id },
      data: { ...update, version: { increment: 1 } },
      select: { state: true, pauseReason: true },
    });
    await writeAudit(
      tx,
      actor,
      {
        action,
        targetType: "rollout",
        targetId: rollout.id,
        reason: data.reason,
        before: { state: rollout.state, pauseReason: rollout.pauseReason },
        after: { state: after.state, pauseReason: after.pauseReason },
      },
      now,
    );
    return rollout;
  });
  for (const ringId of ringIdsOf(rollout)) domainEvents.emit("ringChanged", ringId);
  return getRollout(db, data.rolloutId, clock);
}

export function pauseRollout(db: PrismaClient, actor: Actor, input: RolloutActionInput, clock: Clock = systemClock) {
  return transition(db, actor, input, clock, "rollout.pause", async (rollout) => {
    if (rollout.state !== "running" && rollout.state !== "awaiting_approval") {
      throw conflict(`rollout is ${rollout.state}: only a running rollout can be paused`);
    }
    return { state: "paused", pausedBy: "operator", pauseReason: `paused by ${actor.label}${input.reason ? `: ${input.reason}` : ""}` };
  });
}

export function resumeRollout(db: PrismaClient, actor: Actor, input: RolloutActionInput, clock: Clock = systemClock) {
  return transition(db, actor, input, clock, "rollout.resume", async (rollout, tx) => {
    if (rollout.state !== "paused") throw conflict(`rollout is ${rollout.state}: only a paused rollout can be resumed`);
    const release = await tx.release.findUniqueOrThrow({ where: { id: rollout.releaseId }, select: { quarantinedAt: true } });
    if (release.quarantinedAt) throw conflict(`release ${rollout.release.version} is quarantined (emergency brake): it cannot be resumed`);
    const waiting = rollout.rings.some((r) => r.phase === "awaiting_approval");
    return { state: waiting ? "awaiting_approval" : "running", pausedBy: null, pauseReason: null };
  });
}

export function approveRollout(db: PrismaClient, actor: Actor, input: RolloutActionInput, clock: Clock = systemClock) {
  return transition(db, actor, input, clock, "rollout.approve", async (rollout, tx, now) => {
    const waiting = rollout.rings.find((r) => r.phase === "awaiting_approval");
    if (rollout.state !== "awaiting_approval" || !waiting) throw conflict(`rollout is ${rollout.state}: nothing awaits approval`);
    await tx.rolloutRing.update({ where: { id: waiting.id }, data: { approvedAt: now, approvedBy: actor.label } });
    return { state: "running" };
  });
}

export function abortRollout(db: PrismaClient, actor: Actor, input: RolloutActionInput, clock: Clock = systemClock) {
  return transition(db, actor, input, clock, "rollout.abort", async (rollout, _tx, now) => {
    if (!ACTIVE_ROLLOUT_STATES.includes(rollout.state as (typeof ACTIVE_ROLLOUT_STATES)[number])) {
      throw conflict(`rollout is ${rollout.state}: it has already ended`);
    }
    // Machines that already updated (or are updating) stay where they are; nobody else is sent.
    return { state: "aborted", finishedAt: now, pausedBy: "operator", pauseReason: `aborted by ${actor.label}${input.reason ? `: ${input.reason}` : ""}` };
  });
}

/**
 * Revert: every machine the rollout touched (in one ring, or all) boots its
 * previous deployment (`action: rollback`, no download), and the rings go
 * back to the release they ran before.
 */
export async function revertRollout(db: PrismaClient, actor: Actor, input: RevertInput, clock: Clock = systemClock) {
  const data = revertInput.parse(input);
  const now = clock.now();
  const result = await db.$transaction(async (tx) => {
    const rollout = await loadForAction(tx, data.rolloutId);
    if (rollout.state === "reverted") throw conflict("rollout is already reverted");
    const rings = data.ring ? rollout.rings.filter((r) => r.ring.name === data.ring) : rollout.rings;
    if (data.ring && rings.length === 0) throw invalid("ring", `ring ${data.ring} is not part of this rollout`);
    const touched = rings.filter((r) => r.phase !== "pending");
    const reason = `revert of rollout ${rollout.release.version} by ${actor.label}${data.reason ? `: ${data.reason}` : ""}`;
    const machines = await revertMachines(tx, rollout.id, touched.map((r) => r.ringId), reason);
    for (const ring of touched) {
      await tx.rolloutRing.update({ where: { id: ring.id }, data: { phase: "reverted" } });
      if (ring.phase === "completed" || ring.phase === "active") {
        await tx.ring.update({ where: { id: ring.ringId }, data: { currentReleaseId: ring.previousReleaseId } });
      }
    }
    const whole = !data.ring || rollout.rings.every((r) => r.phase === "pending" || rings.includes(r));
    await tx.rollout.update({
      where: { id: rollout.id },
      data: whole
        ? { state: "reverted", finishedAt: now, pausedBy: "operator", pauseReason: reason, version: { increment: 1 } }
        : { state: "paused", pausedBy: "operator", pauseReason: reason, version: { increment: 1 } },
    });
    await writeAudit(
      tx,
      actor,
      {
        action: data.ring ? "rollout.revert-ring" : "rollout.revert",
        targetType: "rollout",
        targetId: rollout.id,
        reason: data.reason,
        before: { state: rollout.state },
        after: { state: whole ? "reverted" : "paused", rings: touched.map((r) => r.ring.name), machines },
      },
      now,
    );
    return { rollout, machines };
  });
  for (const ringId of ringIdsOf(result.rollout)) domainEvents.emit("ringChanged", ringId);
  domainEvents.emit("machinesChanged");
  return { ...(await getRollout(db, data.rolloutId, clock)), revertedMachines: result.machines };
}

/** Sends the touched machines of a rollout's rings back to their previous deployment; returns how many. */
async function revertMachines(tx: Tx, rolloutId: string, ringIds: string[], reason: string) {
  if (ringIds.length === 0) return 0;
  const count = await tx.$executeRaw`
    UPDATE machines AS m
       SET rollback_to = jsonb_build_object(
             'checksum', rm.previous_checksum, 'ref', rm.previous_ref, 'version', rm.previous_version,
             'reason', ${reason}::text, 'hold', false),
           updated_at = now()
      FROM rollout_machines rm
     WHERE rm.rollout_id = ${rolloutId}
       AND rm.ring_id = ANY(${ringIds}::text[])
       AND rm.machine_id = m.id
       AND rm.previous_checksum IS NOT NULL
       AND rm.step NOT IN ('pending', 'assigned')
       AND m.pinned_release_id IS NULL`;
  return count;
}

/**
 * The emergency brake on a release: every rollout of it pauses at once
 * (optionally reverting), and the release is quarantined: no machine is sent
 * to it any more.
 */
export async function brakeRelease(db: PrismaClient, actor: Actor, input: BrakeInput, clock: Clock = systemClock) {
  const data = brakeInput.parse(input);
  const now = clock.now();
  const reason = `emergency brake on ${data.version} by ${actor.label}${data.reason ? `: ${data.reason}` : ""}`;
  const result = await db.$transaction(async (tx) => {
    const release = await findRelease(tx, data.version, data.ref);
    await tx.release.update({ where: { id: release.id }, data: { quarantinedAt: release.quarantinedAt ?? now, quarantineReason: reason } });
    const rollouts = await tx.rollout.findMany({
      where: { releaseId: release.id, state: { in: [...ACTIVE_ROLLOUT_STATES, "completed"] } },
      select: { id: true, state: true, rings: { select: { ringId: true, phase: true, previousReleaseId: true } } },
    });
    let machines = 0;
    for (const rollout of rollouts) {
      await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`orchard:rollout:${rollout.id}`}))::text`;
      if (data.revert) {
        const touched = rollout.rings.filter((r) => r.phase !== "pending");
        machines += await revertMachines(tx, rollout.id, touched.map((r) => r.ringId), reason);
        for (const ring of touched) {
          await tx.ring.update({ where: { id: ring.ringId }, data: { currentReleaseId: ring.previousReleaseId } });
        }
        await tx.rolloutRing.updateMany({ where: { rolloutId: rollout.id, phase: { not: "pending" } }, data: { phase: "reverted" } });
        await tx.rollout.update({
          where: { id: rollout.id },
          data: { state: "reverted", finishedAt: now, pausedBy: "brake", pauseReason: reason, version: { increment: 1 } },
        });
      } else if (rollout.state !== "completed") {
        await tx.rollout.update({ where: { id: rollout.id }, data: { state: "paused", pausedBy: "brake", pauseReason: reason, version: { increment: 1 } } });
      }
    }
    await writeAudit(
      tx,
      actor,
      {
        action: "release.brake",
        targetType: "release",
        targetId: `${release.branch.ref}@${release.version}`,
        reason: data.reason,
        before: { quarantined: release.quarantinedAt !== null },
        after: { quarantined: true, rollouts: rollouts.map((r) => r.id), revert: data.revert, machines },
      },
      now,
    );
    return { rollouts: rollouts.length, machines, ringIds: rollouts.flatMap((r) => r.rings.map((x) => x.ringId)) };
  });
  for (const ringId of result.ringIds) domainEvents.emit("ringChanged", ringId);
  domainEvents.emit("machinesChanged");
  return { version: data.version, quarantined: true, rolloutsStopped: result.rollouts, machinesReverted: result.machines };
}

// ---------------------------------------------------------------- reads

const rolloutSummarySelect = {
  id: true,
  state: true,
  pauseReason: true,
  pausedBy: true,
  waitingFor: true,
  allowDowngrade: true,
  createdBy: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
  release: { select: { version: true, checksum: true, quarantinedAt: true, branch: { select: { ref: true } } } },
} satisfies Prisma.RolloutSelect;

type RolloutStateName = NonNullable<Prisma.EnumRolloutStateFilter["equals"]>;

export async function listRollouts(
  db: PrismaClient,
  input: { state?: string; states?: RolloutStateName[]; page?: number; pageSize?: number } = {},
) {
  const states = input.states ?? (input.state ? [input.state as RolloutStateName] : undefined);
  const where: Prisma.RolloutWhereInput = states ? { state: { in: states } } : {};
  const page = input.page ?? 0;
  const pageSize = input.pageSize ?? 50;
  const [rows, total] = await Promise.all([
    db.rollout.findMany({
      where,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      skip: page * pageSize,
      take: pageSize,
      select: { ...rolloutSummarySelect, rings: { orderBy: { position: "asc" }, select: { phase: true, openWave: true, percents: true, singleFirst: true, ring: { select: { name: true } } } } },
    }),
    db.rollout.count({ where }),
  ]);
  const counts = await stepCounts(db, rows.map((r) => r.id));
  return {
    total,
    rows: rows.map((r) => ({ ...r, progress: counts.get(r.id) ?? { total: 0, steps: emptyCounts() } })),
  };
}

async function stepCounts(db: PrismaClient, rolloutIds: string[]) {
  const grouped = rolloutIds.length
    ? await db.rolloutMachine.groupBy({ by: ["rolloutId", "step"], where: { rolloutId: { in: rolloutIds } }, _count: { _all: true } })
    : [];
  const out = new Map<string, { total: number; steps: Record<MachineStep, number> }>();
  for (const g of grouped) {
    const entry = out.get(g.rolloutId) ?? { total: 0, steps: emptyCounts() };
    entry.steps[g.step as MachineStep] += g._count._all;
    entry.total += g._count._all;
    out.set(g.rolloutId, entry);
  }
  return out;
}

/** One rollout with per-ring, per-wave progress. */
export async function getRollout(db: PrismaClient, rolloutId: string, clock: Clock = systemClock) {
  const rollout = await db.rollout.findUnique({
    where: { id: rolloutId },
    select: {
      ...rolloutSummarySelect,
      version: true,
      rings: {
        orderBy: { position: "asc" },
        select: {
          position: true,
          phase: true,
          openWave: true,
          waveOpenedAt: true,
          singleFirst: true,
          percents: true,
          soakSeconds: true,
          maxFailureRate: true,
          minSample: true,
          darkAfterSeconds: true,
          approvalRequired: true,
          approvedAt: true,
          approvedBy: true,
          forceFirst: true,
          exclude: true,
          startedAt: true,
          completedAt: true,
          ringId: true,
          ring: { select: { name: true } },
        },
      },
    },
  });
  if (!rollout) throw notFound(`rollout ${rolloutId}`);
  const grouped = await db.rolloutMachine.groupBy({
    by: ["ringId", "wave", "step"],
    where: { rolloutId },
    _count: { _all: true },
  });
  const eligible = await db.machine.groupBy({
    by: ["ringId"],
    where: { ringId: { in: rollout.rings.map((r) => r.ringId) }, retiredAt: null, pinnedReleaseId: null },
    _count: { _all: true },
  });
  const now = clock.now();
  return {
    ...rollout,
    serverTime: now,
    rings: rollout.rings.map((r) => {
      const waves = wavesOf({ singleFirst: r.singleFirst, percents: r.percents as number[] });
      return {
        ...r,
        machines: eligible.find((e) => e.ringId === r.ringId)?._count._all ?? 0,
        waves: waves.map((w) => {
          const steps = emptyCounts();
          for (const g of grouped) if (g.ringId === r.ringId && g.wave === w.index) steps[g.step as MachineStep] += g._count._all;
          return { ...w, open: w.index <= r.openWave, steps };
        }),
      };
    }),
  };
}

/** The machines of a rollout with their step, for the rollout page. */
export async function listRolloutMachines(
  db: PrismaClient,
  input: { rolloutId: string; ring?: string; step?: MachineStep; page?: number; pageSize?: number },
) {
  // The ring the machine was in when the rollout took it (it may have moved since).
  const ringId = input.ring ? ((await db.ring.findUnique({ where: { name: input.ring }, select: { id: true } }))?.id ?? "none") : undefined;
  const where: Prisma.RolloutMachineWhereInput = { rolloutId: input.rolloutId, step: input.step, ringId };
  const page = input.page ?? 0;
  const pageSize = input.pageSize ?? 50;
  const [rows, total] = await Promise.all([
    db.rolloutMachine.findMany({
      where,
      orderBy: [{ wave: "asc" }, { assignedAt: "asc" }, { id: "asc" }],
      skip: page * pageSize,
      take: pageSize,
      select: {
        wave: true,
        step: true,
        assignedAt: true,
        finishedAt: true,
        previousVersion: true,
        detail: true,
        machine: { select: { machineId: true, hostname: true, healthStatus: true, bootedVersion: true, ring: { select: { name: true } } } },
      },
    }),
    db.rolloutMachine.count({ where }),
  ]);
  return { rows, total, page, pageSize };
}

export type SelectorJson = Partial<Selector>;
export type { Candidate };
