// Rollouts as operators drive them: dry run, start, pause, resume, approve,
// abort, revert (whole rollout or one ring), and the release's emergency
// brake. The controller (controller.ts) moves running rollouts forward.
import { assertSendable, sendability } from "../releases/sendable";
import { type Actor, writeAudit } from "../audit/audit";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import { Prisma, type PrismaClient } from "../db/client";
import { conflict, invalid, notFound } from "../errors";
import { domainEvents } from "../events";
import { prismaQuery, readUpdatePath } from "../agents/views";
import { hopCount } from "../releases/paths";
import { isOnline } from "../machines/machines";
import {
  ACTIVE_ROLLOUT_STATES,
  BUSY_APP_UPDATE_STATES,
  emptyStepCounts,
  type HealthStatus,
  HOLDABLE_UPDATE_STATES,
  WAITING_STEPS,
  isActiveRollout,
  isAppRef,
  type MachineStep,
  ringsOutside,
  type RingPhase,
  ROLLOUT_STATES,
  type RolloutState,
  sqlList,
  type StepCounts,
} from "../vocabulary";
import { enqueueEvents, rolloutEvent, type WebhookEvent } from "../webhooks/outbox";
import { eligibleByRingQuery, rejudgeRollout } from "./tracking";
import { type Candidate, pickFirstMachine, waveFor } from "./membership";
import { wavesOf } from "./plan";
import type { RolloutPolicy } from "./policy";
import {
  type BrakeInput,
  brakeInput,
  type LiftQuarantineInput,
  liftQuarantineInput,
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
/** On their way and not granted a reboot slot yet: held by a pause, cancelled by an abort or a brake. */
const HOLDABLE_SQL = Prisma.raw(sqlList(HOLDABLE_UPDATE_STATES));
/** Granted their slot: they may boot the release any moment (a revert sends them back once they do). */
const REBOOTING_SQL = Prisma.raw(sqlList(["rebooting", "verifying"]));

export async function findRelease(db: Tx | PrismaClient, version: string, ref?: string) {
  const releases = await db.release.findMany({
    where: { version, ...(ref ? { branch: { ref } } : {}) },
    select: { id: true, version: true, checksum: true, createdAt: true, quarantinedAt: true, signatureState: true, signatureReason: true, branch: { select: { id: true, ref: true } } },
  });
  if (releases.length === 0) throw invalid("version", `no release ${version}${ref ? ` on ${ref}` : ""}`);
  if (releases.length > 1) throw invalid("ref", `several branches have a release ${version}: name the ref`);
  return releases[0];
}

/** What starting a rollout reads of each of its rings. */
export const startRingSelect = {
  id: true,
  name: true,
  cohortSeed: true,
  checkInIntervalSeconds: true,
  branch: { select: { ref: true } },
  currentRelease: { select: { id: true, version: true, checksum: true, createdAt: true } },
} satisfies Prisma.RingSelect;
export type StartRing = Prisma.RingGetPayload<{ select: typeof startRingSelect }>;
export type StartRelease = Awaited<ReturnType<typeof findRelease>>;

async function ringsByName(db: Tx | PrismaClient, names: string[]) {
  const rings = await db.ring.findMany({ where: { name: { in: names } }, select: startRingSelect });
  const missing = names.find((n) => !rings.some((r) => r.name === n));
  if (missing) throw invalid("rings", `no ring named ${missing}`);
  return names.map((n) => rings.find((r) => r.name === n)!);
}

async function ringCandidates(db: Tx | PrismaClient, ringId: string, intervalSeconds: number, now: Date) {
  const machines = await db.machine.findMany({
    where: { ringId, retiredAt: null },
    select: {
      id: true,
      machineId: true,
      hostname: true,
      labels: true,
      cohort: true,
      pinnedReleaseId: true,
      rollbackTo: true,
      lastSeenAt: true,
      bootedVersion: true,
      bootedChecksum: true,
    },
    orderBy: { cohort: "asc" },
  });
  return machines.map((m) => ({
    id: m.id,
    machineId: m.machineId,
    hostname: m.hostname,
    labels: (m.labels ?? {}) as Record<string, string>,
    cohort: m.cohort,
    // Held back by an operator's rollback: left out as a pinned machine is.
    pinned: m.pinnedReleaseId !== null || (m.rollbackTo as { hold?: boolean } | null)?.hold === true,
    online: isOnline(m.lastSeenAt, intervalSeconds, now),
    bootedVersion: m.bootedVersion,
    bootedChecksum: m.bootedChecksum,
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
  // An app release: each ring's release is its app set's (and every ring must list the app).
  const app = isAppRef(release.branch.ref);
  const rings = app ? await db.$transaction((tx) => ringsByName(tx, plan.rings).then((r) => appRingsOf(tx, release, r))) : await ringsByName(db, plan.rings);
  const now = clock.now();
  const membership = membershipOf(plan);
  const path = app ? null : await readUpdatePath(prismaQuery(db), release.branch.id);
  // Boots each machine needs to reach the release: more than one through floors or around blocked paths, none at a dead end.
  // An app has no update path: one update each (the machine's booted deployment says nothing of its apps).
  const hopsOf = (c: { bootedChecksum: string | null }) =>
    app ? 1 : path ? hopCount(path, c.bootedChecksum, release.checksum) : c.bootedChecksum === release.checksum ? 0 : 1;
  const result = [];
  for (const ring of rings) {
    const candidates = (await ringCandidates(db, ring.id, ring.checkInIntervalSeconds, now)).map((c) => ({ ...c, hops: hopsOf(c) }));
    const first = plan.singleFirst ? pickFirstMachine(candidates, membership) : null;
    const ringMembership = { ...membership, firstMachineIds: first ? [first.machineId] : [] };
    const waves = membership.waves.map((w) => ({ number: w.index + 1, label: w.label, count: 0, machines: [] as typeof candidates }));
    const excluded: typeof candidates = [];
    let multiHop = 0;
    let noPath = 0;
    for (const c of candidates) {
      const wave = waveFor(c, ringMembership);
      if (wave === null) {
        excluded.push(c);
        continue;
      }
      waves[wave].count++;
      if (c.hops > 1) multiHop++;
      if (c.hops === 0 && c.bootedChecksum !== release.checksum) noPath++;
      if (waves[wave].machines.length < PREVIEW_MACHINES_PER_WAVE) waves[wave].machines.push(c);
    }
    result.push({
      ring: ring.name,
      branch: ring.branch.ref,
      currentRelease: ring.currentRelease?.version ?? null,
      rebase: !app && ring.branch.ref !== release.branch.ref,
      downgrade: isOlder(release, ring.currentRelease),
      machines: candidates.length,
      waves: waves.map((w) => ({ ...w, machines: w.machines.map(previewMachine) })),
      excluded: excluded.slice(0, PREVIEW_MACHINES_PER_WAVE).map(previewMachine),
      excludedCount: excluded.length,
      /** Machines that boot one or more floors (or go around a blocked path) on their way. */
      multiHop,
      /** Machines no allowed path takes to the release: they are sent nothing. */
      noPath,
    });
  }
  return {
    release: {
      version: release.version,
      ref: release.branch.ref,
      checksum: release.checksum,
      quarantined: release.quarantinedAt !== null,
      signatureState: release.signatureState,
      // Whether it may be sent at all (server/releases/sendable.ts): the dry run says so before anyone presses start.
      sendable: sendability(release).sendable,
      unsendableReason: sendability(release).reason,
    },
    plan,
    rings: result,
  };
}

function previewMachine(m: { machineId: string; hostname: string; cohort: number; online: boolean; pinned: boolean; bootedVersion: string | null; hops: number }) {
  return { machineId: m.machineId, hostname: m.hostname, cohort: m.cohort, online: m.online, pinned: m.pinned, bootedVersion: m.bootedVersion, hops: m.hops };
}

function isOlder(release: { createdAt: Date; id?: string }, current: { createdAt: Date; id: string } | null | undefined) {
  return Boolean(current && current.id !== release.id && release.createdAt < current.createdAt);
}

/** One ring of a rollout to be: its policy, and whether an operator approves before it starts. */
export interface RingStart {
  ring: StartRing;
  policy: RolloutPolicy;
  approvalRequired: boolean;
  forceFirst: Selector;
  exclude: Selector;
}

/**
 * Takes the rollout-start locks of the rings (in one order, so that two
 * starts over the same rings never wait for each other), then says why a
 * rollout of the release may not start on them now (the field it concerns,
 * the fact and the message that adds what to do), or null. Every start takes these locks: no two active
 * rollouts share a ring.
 */
export async function whyNotStart(tx: Tx, release: StartRelease, rings: readonly StartRing[], allowDowngrade: boolean) {
  for (const id of rings.map((r) => r.id).sort()) {
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`orchard:ring:${id}`}))::text`;
  }
  for (const ring of rings) {
    if (isOlder(release, ring.currentRelease) && !allowDowngrade) {
      const why = `ring ${ring.name} runs ${ring.currentRelease?.version}, newer than ${release.version}`;
      return { field: "allowDowngrade", why, message: `${why}: rolling forward to an older release needs allowDowngrade` };
    }
    const busy = await tx.rolloutRing.findFirst({
      where: { ringId: ring.id, rollout: { state: { in: [...ACTIVE_ROLLOUT_STATES] } }, phase: { not: "completed" } },
      select: { rollout: { select: { id: true, release: { select: { version: true } } } } },
    });
    if (busy) {
      const why = `ring ${ring.name} is already in rollout ${busy.rollout.id} (${busy.rollout.release.version})`;
      return { field: "rings", why, message: why };
    }
  }
  return null;
}

/**
 * Creates a running rollout over the rings, in order, with its webhook
 * message and audit row, in the caller's transaction (after whyNotStart said
 * nothing against it): an operator's start and a ring's follow mode both
 * start rollouts here.
 */
export async function insertRollout(
  tx: Tx,
  actor: Actor,
  release: StartRelease,
  starts: readonly RingStart[],
  options: { allowDowngrade: boolean; reason?: string; after: Record<string, unknown> },
  now: Date,
) {
  const created = await tx.rollout.create({
    data: {
      releaseId: release.id,
      state: "running",
      allowDowngrade: options.allowDowngrade,
      createdById: actor.id,
      createdBy: actor.label,
      startedAt: now,
      rings: {
        create: starts.map((start, position) => ({
          ringId: start.ring.id,
          position,
          singleFirst: start.policy.singleFirst,
          percents: start.policy.waves,
          soakSeconds: start.policy.soakSeconds,
          maxFailureRate: start.policy.maxFailureRate,
          minSample: start.policy.minSample,
          darkAfterSeconds: start.policy.darkAfterSeconds,
          approvalRequired: start.approvalRequired && position > 0,
          forceFirst: start.forceFirst,
          exclude: start.exclude,
        })),
      },
    },
    select: { id: true },
  });
  await enqueueEvents(tx, [
    rolloutEvent("rollout.started", { id: created.id, version: release.version, ref: release.branch.ref }, now, {
      rings: starts.map((s) => s.ring.name),
      startedBy: actor.label,
      reason: options.reason ?? null,
    }),
  ]);
  await writeAudit(
    tx,
    actor,
    {
      action: "rollout.start",
      targetType: "rollout",
      targetId: created.id,
      reason: options.reason,
      after: { release: release.version, ref: release.branch.ref, ...options.after } as Prisma.InputJsonValue,
    },
    now,
  );
  return created;
}

/**
 * The rings of an app release's rollout (its ref is a Flatpak app's), each
 * with the app's release in its app set as its current release (what
 * "older" is measured against): every ring must have the app in its set,
 * which says the remote its machines install from. An OS release's rings
 * are returned as they are.
 */
export async function appRingsOf(tx: Tx, release: StartRelease, rings: StartRing[]): Promise<StartRing[]> {
  if (!isAppRef(release.branch.ref)) return rings;
  const apps = await tx.ringApp.findMany({
    where: { ringId: { in: rings.map((r) => r.id) }, ref: release.branch.ref },
    select: { ringId: true, release: { select: { id: true, version: true, checksum: true, createdAt: true } } },
  });
  return rings.map((ring) => {
    const app = apps.find((a) => a.ringId === ring.id);
    if (!app) throw invalid("rings", `ring ${ring.name} has no app ${release.branch.ref} in its app set: add it first (with its remote)`);
    return { ...ring, currentRelease: app.release };
  });
}

/** Creates a rollout and starts it; the controller opens its first wave. */
export async function startRollout(db: PrismaClient, actor: Actor, input: StartRolloutInput, clock: Clock = systemClock) {
  const { reason, ...planInput } = startRolloutInput.parse(input);
  const plan = rolloutPlanInput.parse(planInput);
  const now = clock.now();
  const rollout = await db.$transaction(async (tx) => {
    const release = await findRelease(tx, plan.version, plan.ref);
    if (release.quarantinedAt) throw conflict(`release ${release.version} is quarantined (emergency brake)`, "version");
    assertSendable(release, "version");
    const rings = await appRingsOf(tx, release, await ringsByName(tx, plan.rings));
    const refusal = await whyNotStart(tx, release, rings, plan.allowDowngrade);
    if (refusal) throw refusal.field === "rings" ? conflict(refusal.message, refusal.field) : invalid(refusal.field, refusal.message);
    const policy: RolloutPolicy = {
      waves: plan.waves,
      singleFirst: plan.singleFirst,
      soakSeconds: plan.soakSeconds,
      maxFailureRate: plan.maxFailureRate,
      minSample: plan.minSample,
      darkAfterSeconds: plan.darkAfterSeconds,
    };
    const starts = rings.map((ring) => ({ ring, policy, approvalRequired: plan.approveBetween, forceFirst: plan.forceFirst, exclude: plan.exclude }));
    const { version: _version, ref: _ref, ...after } = plan;
    return insertRollout(tx, actor, release, starts, { allowDowngrade: plan.allowDowngrade, reason, after }, now);
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
      release: { select: { version: true, checksum: true, quarantinedAt: true, branch: { select: { ref: true } } } },
      rings: {
        orderBy: { position: "asc" },
        select: {
          id: true,
          ringId: true,
          phase: true,
          previousReleaseId: true,
          previousBranchId: true,
          ring: { select: { name: true, currentReleaseId: true } },
        },
      },
    },
  });
  if (!rollout) throw notFound(`rollout ${rolloutId}`);
  return rollout;
}

type ActionRollout = Awaited<ReturnType<typeof loadForAction>>;

/** The rollout as its webhook messages name it. */
function rolloutRef(rollout: ActionRollout) {
  return { id: rollout.id, version: rollout.release.version, ref: rollout.release.branch.ref };
}

/** The messages an operator's action on a rollout sends: approving sends none (it is not among the kinds). */
const ACTION_EVENTS: Record<RolloutAction, "rollout.paused" | "rollout.resumed" | "rollout.aborted" | null> = {
  pause: "rollout.paused",
  resume: "rollout.resumed",
  approve: null,
  abort: "rollout.aborted",
  revert: null,
};

function ringIdsOf(rollout: { rings: { ringId: string }[] }) {
  return rollout.rings.map((r) => r.ringId);
}

// ---------------------------------------------------------------- what may be done now

export const ROLLOUT_ACTIONS = ["pause", "resume", "approve", "abort", "revert"] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

export interface ActionAllowed {
  allowed: boolean;
  /** Why not, in an operator's words (null when allowed). */
  why: string | null;
}

interface ActionFacts {
  state: RolloutState;
  quarantined: boolean;
  rings: { name: string; phase: RingPhase }[];
}

const yes: ActionAllowed = { allowed: true, why: null };
const no = (why: string): ActionAllowed => ({ allowed: false, why });

/**
 * What an operator may do to a rollout now, and why not: decided here once,
 * enforced by each action and shown as it is by the app and the CLI.
 */
/**
 * Why a caller holding `scope` (null: every ring) may do nothing to a rollout
 * over `rings`, or null: acting on a rollout needs every one of its rings
 * (server/auth/scope.ts).
 */
export function outOfScope(rings: readonly string[], scope: readonly string[] | null): string | null {
  const outside = ringsOutside({ role: "operator", rings: scope }, rings);
  if (outside.length === 0) return null;
  return `ring${outside.length > 1 ? "s" : ""} ${outside.join(", ")} ${outside.length > 1 ? "are" : "is"} outside your rings`;
}

export function rolloutActions(
  r: ActionFacts,
  scope: readonly string[] | null = null,
): Record<RolloutAction, ActionAllowed> & { revertRing: Record<string, ActionAllowed> } {
  const refusal = outOfScope(r.rings.map((ring) => ring.name), scope);
  if (refusal) {
    const why = no(refusal);
    return {
      pause: why,
      resume: why,
      approve: why,
      abort: why,
      revert: why,
      revertRing: Object.fromEntries(r.rings.map((ring) => [ring.name, why])),
    };
  }
  const ended = !isActiveRollout(r.state);
  const reverted = r.rings.filter((ring) => ring.phase === "reverted").map((ring) => ring.name);
  const touched = r.rings.filter((ring) => ring.phase !== "pending" && ring.phase !== "reverted");
  const revertable = (ring: ActionFacts["rings"][number]): ActionAllowed =>
    r.state === "reverted" ? no("the rollout is already reverted")
    : ring.phase === "reverted" ? no(`ring ${ring.name} is already reverted`)
    : ring.phase === "pending" ? no(`ring ${ring.name} has not started: there is nothing to revert`)
    : yes;
  return {
    pause: r.state === "running" || r.state === "awaiting_approval" ? yes : no(`the rollout is ${stateWords(r.state)}: only a running one can be paused`),
    resume:
      r.state !== "paused" ? no(`the rollout is ${stateWords(r.state)}: only a paused one can be resumed`)
      : r.quarantined ? no("its release is quarantined (emergency brake): lift the quarantine first, or revert or abort the rollout")
      : reverted.length ? no(`ring ${reverted.join(", ")} was reverted: start a new rollout to send the release again, or abort this one`)
      : yes,
    approve:
      r.state === "awaiting_approval" && r.rings.some((ring) => ring.phase === "awaiting_approval") ? yes : no("nothing awaits approval"),
    abort: ended ? no(`the rollout has already ended (${stateWords(r.state)})`) : yes,
    revert:
      r.state === "reverted" ? no("the rollout is already reverted")
      : touched.length === 0 ? no("no ring has started: there is nothing to revert")
      : yes,
    revertRing: Object.fromEntries(r.rings.map((ring) => [ring.name, revertable(ring)])),
  };
}

function stateWords(state: RolloutState) {
  return state.replace("_", " ");
}

function factsOf(rollout: ActionRollout): ActionFacts {
  return {
    state: rollout.state,
    quarantined: rollout.release.quarantinedAt !== null,
    rings: rollout.rings.map((r) => ({ name: r.ring.name, phase: r.phase })),
  };
}

function requireAllowed(rollout: ActionRollout, action: RolloutAction) {
  const verdict = rolloutActions(factsOf(rollout))[action];
  if (!verdict.allowed) throw conflict(verdict.why ?? `${action} is not possible now`);
}

async function transition(
  db: PrismaClient,
  actor: Actor,
  input: RolloutActionInput,
  clock: Clock,
  action: RolloutAction,
  change: (rollout: ActionRollout, tx: Tx, now: Date) => Promise<Prisma.RolloutUpdateInput>,
) {
  const data = rolloutActionInput.parse(input);
  const now = clock.now();
  const rollout = await db.$transaction(async (tx) => {
    const rollout = await loadForAction(tx, data.rolloutId);
    requireAllowed(rollout, action);
    const update = await change(rollout, tx, now);
    const after = await tx.rollout.update({
      where: { id: rollout.id },
      data: { ...update, version: { increment: 1 } },
      select: { state: true, pauseReason: true },
    });
    // Held, going on or withdrawn: the controller judges its machines again.
    await rejudgeRollout(tx, rollout.id);
    const kind = ACTION_EVENTS[action];
    if (kind) {
      await enqueueEvents(tx, [
        rolloutEvent(kind, rolloutRef(rollout), now, { state: after.state, reason: after.pauseReason, by: actor.label }),
      ]);
    }
    await writeAudit(
      tx,
      actor,
      {
        action: `rollout.${action}`,
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

/** Paused: machines that have not rebooted into the release hold (keep what they staged) until it resumes. */
export function pauseRollout(db: PrismaClient, actor: Actor, input: RolloutActionInput, clock: Clock = systemClock) {
  return transition(db, actor, input, clock, "pause", async (_rollout, _tx, now) => ({
    state: "paused",
    pausedAt: now,
    pausedBy: "operator",
    pauseReason: `paused by ${actor.label}${input.reason ? `: ${input.reason}` : ""}`,
  }));
}

/**
 * Resumed: held machines go on, and every unfinished machine's dark deadline
 * moves on by the time spent paused, as does an open wave's ramp (the
 * machines that had not started yet start as they would have).
 */
export function resumeRollout(db: PrismaClient, actor: Actor, input: RolloutActionInput, clock: Clock = systemClock) {
  return transition(db, actor, input, clock, "resume", async (rollout, tx, now) => {
    const { pausedAt } = await tx.rollout.findUniqueOrThrow({ where: { id: rollout.id }, select: { pausedAt: true } });
    if (pausedAt) {
      await tx.$executeRaw`
        UPDATE rollout_machines SET dark_at = dark_at + (${now}::timestamptz - GREATEST(assigned_at, ${pausedAt}::timestamptz))
         WHERE rollout_id = ${rollout.id} AND finished_at IS NULL`;
      // A ramp held for its machines at work stays held: letting it go covers the pause.
      await tx.$executeRaw`
        UPDATE rollout_rings SET ramp_started_at = ramp_started_at + (${now}::timestamptz - GREATEST(ramp_started_at, ${pausedAt}::timestamptz))
         WHERE rollout_id = ${rollout.id} AND ramp_started_at IS NOT NULL AND ramp_held_at IS NULL`;
    }
    const waiting = rollout.rings.some((r) => r.phase === "awaiting_approval");
    return { state: waiting ? "awaiting_approval" : "running", pausedAt: null, pausedBy: null, pauseReason: null };
  });
}

export function approveRollout(db: PrismaClient, actor: Actor, input: RolloutActionInput, clock: Clock = systemClock) {
  return transition(db, actor, input, clock, "approve", async (rollout, tx, now) => {
    const waiting = rollout.rings.find((r) => r.phase === "awaiting_approval")!;
    await tx.rolloutRing.update({ where: { id: waiting.id }, data: { approvedAt: now, approvedBy: actor.label } });
    return { state: "running" };
  });
}

/**
 * Aborted: the rollout ends where it stands. Machines that booted the
 * release stay on it (revert sends them back); every other machine of it
 * cancels its update, a staged one included.
 */
export function abortRollout(db: PrismaClient, actor: Actor, input: RolloutActionInput, clock: Clock = systemClock) {
  return transition(db, actor, input, clock, "abort", async (_rollout, _tx, now) => ({
    state: "aborted",
    finishedAt: now,
    pausedBy: "operator",
    pauseReason: `aborted by ${actor.label}${input.reason ? `: ${input.reason}` : ""}`,
  }));
}

/**
 * Puts the given rings of a rollout back, with one rule for every revert (a
 * rollout's, one ring's, the brake's): a ring that left pending is marked
 * reverted, and goes back to the release it ran before only while it still
 * runs the rollout's release (a later rollout's release stays); machines go
 * back only while they still boot the release or are rebooting into it (the
 * others have moved on, or cancel by themselves since the rollout no longer
 * wants the release). Returns how many machines are sent back.
 */
async function revertRings(tx: Tx, rollout: ActionRollout, rings: ActionRollout["rings"], reason: string) {
  if (isAppRef(rollout.release.branch.ref)) return revertAppRings(tx, rollout, rings);
  const touched = rings.filter((r) => r.phase !== "pending" && r.phase !== "reverted");
  for (const ring of touched) {
    await tx.rolloutRing.update({ where: { id: ring.id }, data: { phase: "reverted" } });
    if (ring.ring.currentReleaseId === rollout.releaseId) {
      // A reverted rebase puts the ring back on its old branch too (rows from before the branch was recorded keep it).
      await tx.ring.update({
        where: { id: ring.ringId },
        data: { currentReleaseId: ring.previousReleaseId, ...(ring.previousBranchId ? { branchId: ring.previousBranchId } : {}) },
      });
    }
  }
  if (touched.length === 0) return 0;
  return tx.$executeRaw`
    UPDATE machines AS m
       SET rollback_to = jsonb_build_object(
             'checksum', rm.previous_checksum, 'ref', rm.previous_ref, 'version', rm.previous_version,
             'reason', ${reason}::text, 'hold', false),
           updated_at = now()
      FROM rollout_machines rm
     WHERE rm.rollout_id = ${rollout.id}
       AND rm.ring_id = ANY(${touched.map((r) => r.ringId)}::text[])
       AND rm.machine_id = m.id
       AND rm.previous_checksum IS NOT NULL AND rm.previous_checksum <> ${rollout.release.checksum}
       AND m.pinned_release_id IS NULL
       AND (m.booted_checksum = ${rollout.release.checksum}
            OR (m.update_target = ${rollout.release.checksum} AND m.update_state IN ${REBOOTING_SQL}))`;
}

/**
 * The revert of an app rollout: no reboot, no rollback directive. Each ring
 * the rollout reached goes back to the app's release it ran before (in its
 * app set), allowed down to it; its machines are answered that release, with
 * allowDowngrade, and the agent updates the app back to it. Returns how many
 * machines run the rollout's commit of the app and are sent back.
 */
async function revertAppRings(tx: Tx, rollout: ActionRollout, rings: ActionRollout["rings"]) {
  const touched = rings.filter((r) => r.phase !== "pending" && r.phase !== "reverted");
  const ref = rollout.release.branch.ref;
  for (const ring of touched) {
    await tx.rolloutRing.update({ where: { id: ring.id }, data: { phase: "reverted" } });
    const previous = ring.previousReleaseId;
    if (previous) {
      await tx.$executeRaw`
        UPDATE ring_apps SET release_id = ${previous}, allow_downgrade = true, updated_at = now()
         WHERE ring_id = ${ring.ringId} AND ref = ${ref}`;
    }
  }
  if (touched.length === 0) return 0;
  const [row] = await tx.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM rollout_machines rm JOIN machine_apps a ON a.machine_id = rm.machine_id AND a.ref = ${ref}
     WHERE rm.rollout_id = ${rollout.id} AND rm.ring_id = ANY(${touched.map((r) => r.ringId)}::text[])
       AND (a.commit = ${rollout.release.checksum} OR a.update_target = ${rollout.release.checksum})`;
  return row?.n ?? 0;
}

/**
 * Revert: every machine the rollout moved (in one ring, or all) boots its
 * previous deployment (`action: rollback`, no download), machines still on
 * their way cancel, and the rings go back to their previous release (see
 * revertRings for what "still ours" means).
 */
export async function revertRollout(db: PrismaClient, actor: Actor, input: RevertInput, clock: Clock = systemClock) {
  const data = revertInput.parse(input);
  const now = clock.now();
  const result = await db.$transaction(async (tx) => {
    const rollout = await loadForAction(tx, data.rolloutId);
    const actions = rolloutActions(factsOf(rollout));
    const rings = data.ring ? rollout.rings.filter((r) => r.ring.name === data.ring) : rollout.rings;
    if (data.ring && rings.length === 0) throw invalid("ring", `ring ${data.ring} is not part of this rollout`);
    const verdict = data.ring ? actions.revertRing[data.ring] : actions.revert;
    if (!verdict.allowed) throw conflict(verdict.why ?? "nothing to revert");
    const reason = `revert of rollout ${rollout.release.version} by ${actor.label}${data.reason ? `: ${data.reason}` : ""}`;
    const machines = await revertRings(tx, rollout, rings, reason);
    // Whole once no ring is left that went on with the release.
    const left = rollout.rings.filter((r) => !rings.includes(r) && r.phase !== "pending" && r.phase !== "reverted");
    const whole = left.length === 0;
    const state: RolloutState = whole ? "reverted" : isActiveRollout(rollout.state) ? "paused" : rollout.state;
    await tx.rollout.update({
      where: { id: rollout.id },
      data: {
        state,
        ...(whole ? { finishedAt: now } : {}),
        ...(state !== rollout.state ? { pausedBy: "operator", pauseReason: reason, ...(state === "paused" ? { pausedAt: now } : {}) } : {}),
        version: { increment: 1 },
      },
    });
    await rejudgeRollout(tx, rollout.id);
    const reverted = rings.filter((r) => r.phase !== "pending").map((r) => r.ring.name);
    const events: WebhookEvent[] = [rolloutEvent("rollout.reverted", rolloutRef(rollout), now, { rings: reverted, whole, state, machines, reason })];
    if (state === "paused" && rollout.state !== "paused") events.push(rolloutEvent("rollout.paused", rolloutRef(rollout), now, { reason, pausedBy: "operator" }));
    await enqueueEvents(tx, events);
    await writeAudit(
      tx,
      actor,
      {
        action: data.ring ? "rollout.revert-ring" : "rollout.revert",
        targetType: "rollout",
        targetId: rollout.id,
        reason: data.reason,
        before: { state: rollout.state },
        after: { state, rings: rings.filter((r) => r.phase !== "pending").map((r) => r.ring.name), machines },
      },
      now,
    );
    return { rollout, machines };
  });
  for (const ringId of ringIdsOf(result.rollout)) domainEvents.emit("ringChanged", ringId);
  domainEvents.emit("machinesChanged");
  return { ...(await getRollout(db, data.rolloutId, clock)), revertedMachines: result.machines };
}

/** Machines on their way to `checksum` that have not booted it: what a brake or an abort cancels. */
async function inFlightTo(db: Tx | PrismaClient, checksum: string) {
  const [row] = await db.$queryRaw<{ staged: number; rebooting: number; booted: number }[]>`
    SELECT count(*) FILTER (WHERE update_target = ${checksum} AND booted_checksum IS DISTINCT FROM ${checksum}
                              AND update_state IN ${HOLDABLE_SQL})::int AS staged,
           count(*) FILTER (WHERE update_target = ${checksum} AND booted_checksum IS DISTINCT FROM ${checksum}
                              AND update_state = 'rebooting')::int AS rebooting,
           count(*) FILTER (WHERE booted_checksum = ${checksum})::int AS booted
      FROM machines WHERE retired_at IS NULL AND (update_target = ${checksum} OR booted_checksum = ${checksum})`;
  return row ?? { staged: 0, rebooting: 0, booted: 0 };
}

/** What the emergency brake on a release would do now: for its confirmation. */
export async function previewBrake(db: PrismaClient, input: Pick<BrakeInput, "version" | "ref">) {
  const release = await findRelease(db, input.version, input.ref);
  const [rollouts, machines] = await Promise.all([
    db.rollout.count({ where: { releaseId: release.id, state: { in: [...ACTIVE_ROLLOUT_STATES] } } }),
    inFlightTo(db, release.checksum),
  ]);
  return {
    version: release.version,
    ref: release.branch.ref,
    quarantined: release.quarantinedAt !== null,
    /** Rollouts under way that stop. */
    rollouts,
    /** Machines downloading or staged: they cancel. */
    cancel: machines.staged,
    /** Granted a reboot slot already: they may still boot it (a revert sends them back). */
    rebooting: machines.rebooting,
    /** Booted on it: they stay unless the brake reverts. */
    booted: machines.booted,
  };
}

/**
 * The emergency brake on a release: every rollout of it stops at once
 * (optionally reverting), and the release is quarantined: no machine is sent
 * to it any more, and machines that have not rebooted into it cancel.
 */
export async function brakeRelease(db: PrismaClient, actor: Actor, input: BrakeInput, clock: Clock = systemClock) {
  const data = brakeInput.parse(input);
  const now = clock.now();
  const reason = `emergency brake on ${data.version} by ${actor.label}${data.reason ? `: ${data.reason}` : ""}`;
  const result = await db.$transaction(async (tx) => {
    const release = await findRelease(tx, data.version, data.ref);
    await tx.release.update({ where: { id: release.id }, data: { quarantinedAt: release.quarantinedAt ?? now, quarantineReason: reason } });
    const cancelled = (await inFlightTo(tx, release.checksum)).staged;
    const states: RolloutState[] = data.revert ? [...ACTIVE_ROLLOUT_STATES, "completed", "aborted"] : [...ACTIVE_ROLLOUT_STATES];
    const ids = await tx.rollout.findMany({ where: { releaseId: release.id, state: { in: states } }, select: { id: true } });
    let machines = 0;
    const ringIds: string[] = [];
    const events: WebhookEvent[] = [];
    for (const { id } of ids) {
      const rollout = await loadForAction(tx, id);
      ringIds.push(...ringIdsOf(rollout));
      if (data.revert) {
        const sent = await revertRings(tx, rollout, rollout.rings, reason);
        machines += sent;
        const reverted = rollout.rings.filter((r) => r.phase !== "pending").map((r) => r.ring.name);
        events.push(rolloutEvent("rollout.reverted", rolloutRef(rollout), now, { rings: reverted, whole: true, state: "reverted", machines: sent, reason }));
        await tx.rollout.update({
          where: { id },
          data: { state: "reverted", finishedAt: isActiveRollout(rollout.state) ? now : undefined, pausedBy: "brake", pauseReason: reason, version: { increment: 1 } },
        });
      } else {
        const pausedAt = rollout.state === "paused" ? undefined : now;
        await tx.rollout.update({ where: { id }, data: { state: "paused", pausedAt, pausedBy: "brake", pauseReason: reason, version: { increment: 1 } } });
        if (rollout.state !== "paused") events.push(rolloutEvent("rollout.paused", rolloutRef(rollout), now, { reason, pausedBy: "brake" }));
      }
      await rejudgeRollout(tx, id);
    }
    // The brake first, then what it did to each rollout (each on its rollout's key, under its lock).
    events.unshift({
      kind: "release.braked",
      key: `release:${release.id}`,
      at: now,
      data: { release: { version: release.version, ref: release.branch.ref }, reason, revert: data.revert, rollouts: ids.map((r) => r.id), machinesCancelled: cancelled },
    });
    await enqueueEvents(tx, events);
    await writeAudit(
      tx,
      actor,
      {
        action: "release.brake",
        targetType: "release",
        targetId: `${release.branch.ref}@${release.version}`,
        reason: data.reason,
        before: { quarantined: release.quarantinedAt !== null },
        after: { quarantined: true, rollouts: ids.map((r) => r.id), revert: data.revert, machines, cancelled },
      },
      now,
    );
    return { rollouts: ids.length, machines, cancelled, ringIds };
  });
  for (const ringId of result.ringIds) domainEvents.emit("ringChanged", ringId);
  domainEvents.emit("machinesChanged");
  return {
    version: data.version,
    quarantined: true,
    rolloutsStopped: result.rollouts,
    machinesReverted: result.machines,
    machinesCancelled: result.cancelled,
  };
}

/**
 * Lifts a release's quarantine: it is in reach again (rings, pins, new
 * rollouts). Nothing restarts by itself: rollouts the brake stopped stay
 * paused until an operator resumes them.
 */
export async function liftQuarantine(db: PrismaClient, actor: Actor, input: LiftQuarantineInput, clock: Clock = systemClock) {
  const data = liftQuarantineInput.parse(input);
  const now = clock.now();
  const ringIds = await db.$transaction(async (tx) => {
    const release = await findRelease(tx, data.version, data.ref);
    if (!release.quarantinedAt) throw conflict(`release ${release.version} is not quarantined`);
    const previous = await tx.release.findUniqueOrThrow({ where: { id: release.id }, select: { quarantineReason: true } });
    await tx.release.update({ where: { id: release.id }, data: { quarantinedAt: null, quarantineReason: null } });
    await writeAudit(
      tx,
      actor,
      {
        action: "release.lift-quarantine",
        targetType: "release",
        targetId: `${release.branch.ref}@${release.version}`,
        reason: data.reason,
        before: { quarantined: true, since: release.quarantinedAt.toISOString(), reason: previous.quarantineReason },
        after: { quarantined: false },
      },
      now,
    );
    const rings = await tx.ring.findMany({
      where: { OR: [{ currentReleaseId: release.id }, { rolloutRings: { some: { rollout: { releaseId: release.id } } } }] },
      select: { id: true },
    });
    return rings.map((r) => r.id);
  });
  for (const ringId of ringIds) domainEvents.emit("ringChanged", ringId);
  domainEvents.emit("machinesChanged");
  return { version: data.version, quarantined: false };
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

interface ProgressRing {
  ringId: string;
  phase: RingPhase;
}

/**
 * The machines of rollouts, counted once for every view (list, dashboard,
 * rollout page): every machine with a row, by ring, wave and step, plus the
 * eligible machines of rings still to go that no wave has reached yet. A
 * ring's not-reached count is its eligible machines less those it already
 * has (withdrawn ones, cancelled, no longer count as eligible).
 */
async function rolloutProgress(db: PrismaClient, rollouts: { id: string; state: RolloutState; rings: ProgressRing[] }[]) {
  if (rollouts.length === 0) return new Map<string, RolloutProgress>();
  const ids = rollouts.map((r) => r.id);
  const ringIds = [...new Set(rollouts.flatMap((r) => r.rings.map((x) => x.ringId)))];
  // Without JIT and parallel workers: the planner guesses half the machines
  // held out (an OR it cannot estimate), which buys a JIT compile and a
  // Gather (20 and 40 ms at a million machines on two cores) to count the few
  // rows of one partial index; a rollout's rows are read through their index.
  const [, , grouped, eligibleRows] = await db.$transaction([
    db.$executeRawUnsafe("SET LOCAL jit = off"),
    db.$executeRawUnsafe("SET LOCAL max_parallel_workers_per_gather = 0"),
    db.rolloutMachine.groupBy({ by: ["rolloutId", "ringId", "wave", "step"], where: { rolloutId: { in: ids } }, _count: { _all: true } }),
    eligibleByRingQuery(db, ringIds),
  ]);
  const eligible = new Map(eligibleRows.map((r) => [r.ring_id, r.n]));
  const out = new Map<string, RolloutProgress>();
  for (const rollout of rollouts) {
    const rows = grouped.filter((g) => g.rolloutId === rollout.id);
    const rings = rollout.rings.map((ring) => {
      const steps = emptyStepCounts();
      const byWave = new Map<number, StepCounts>();
      for (const g of rows) {
        if (g.ringId !== ring.ringId) continue;
        steps[g.step as MachineStep] += g._count._all;
        const wave = byWave.get(g.wave) ?? emptyStepCounts();
        wave[g.step as MachineStep] += g._count._all;
        byWave.set(g.wave, wave);
      }
      const machines = eligible.get(ring.ringId) ?? 0;
      const counted = sumSteps(steps);
      const stillToGo = isActiveRollout(rollout.state) && ["pending", "active", "awaiting_approval"].includes(ring.phase);
      const notReached = stillToGo ? Math.max(0, machines - (counted - steps.cancelled)) : 0;
      return { ringId: ring.ringId, machines, steps, byWave, notReached, total: counted + notReached };
    });
    const steps = emptyStepCounts();
    for (const ring of rings) for (const step of Object.keys(steps) as MachineStep[]) steps[step] += ring.steps[step];
    const notReached = rings.reduce((sum, r) => sum + r.notReached, 0);
    out.set(rollout.id, { steps, notReached, total: sumSteps(steps) + notReached, rings });
  }
  return out;
}

interface RolloutProgress {
  /** Machines with a row, by step. */
  steps: StepCounts;
  /** Eligible machines of rings still to go that no wave has reached. */
  notReached: number;
  /** Every machine of the rollout: with a row, or not reached yet. */
  total: number;
  rings: { ringId: string; machines: number; steps: StepCounts; byWave: Map<number, StepCounts>; notReached: number; total: number }[];
}

function sumSteps(steps: StepCounts) {
  return Object.values(steps).reduce((a, b) => a + b, 0);
}

const emptyProgress = (): Omit<RolloutProgress, "rings"> => ({ steps: emptyStepCounts(), notReached: 0, total: 0 });

/** The number (from 1) of a ring's newest open wave, or null before the first opens. */
const currentWaveOf = (openWave: number) => (openWave >= 0 ? openWave + 1 : null);

/** A page of rollouts, newest first; `scope`: only those touching one of these rings (null: all). */
export async function listRollouts(
  db: PrismaClient,
  input: { state?: RolloutState; states?: RolloutState[]; page?: number; pageSize?: number } = {},
  scope: readonly string[] | null = null,
) {
  const states = input.states ?? (input.state ? [input.state] : undefined);
  const where: Prisma.RolloutWhereInput = states ? { state: { in: states } } : {};
  if (scope) where.rings = { some: { ring: { name: { in: [...scope] } } } };
  const page = input.page ?? 0;
  const pageSize = input.pageSize ?? 50;
  const [rows, total] = await Promise.all([
    db.rollout.findMany({
      where,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      skip: page * pageSize,
      take: pageSize,
      select: {
        ...rolloutSummarySelect,
        rings: { orderBy: { position: "asc" }, select: { ringId: true, phase: true, openWave: true, percents: true, singleFirst: true, ring: { select: { name: true } } } },
      },
    }),
    db.rollout.count({ where }),
  ]);
  const progress = await rolloutProgress(db, rows);
  return {
    total,
    rows: rows.map(({ rings, ...r }) => {
      const { rings: _rings, ...overall } = progress.get(r.id) ?? { ...emptyProgress(), rings: [] };
      return {
        ...r,
        progress: overall,
        rings: rings.map(({ ringId: _ringId, openWave, percents, singleFirst, ...ring }) => ({
          ...ring,
          currentWave: currentWaveOf(openWave),
          waves: wavesOf({ singleFirst, percents: percents as number[] }).length,
        })),
      };
    }),
  };
}

/** Where the rollout goes on from when it runs (or resumes): the first ring not done with, and its wave. */
function nextText(rings: { phase: RingPhase; openWave: number; name: string; waves: { label: string }[] }[]) {
  const ring = rings.find((r) => r.phase !== "completed" && r.phase !== "reverted");
  if (!ring) return "every ring is done, so it completes";
  if (ring.phase === "pending") return `ring ${ring.name} starts with its first wave`;
  if (ring.phase === "awaiting_approval") return `ring ${ring.name} still waits for an approval`;
  const wave = ring.waves[Math.max(0, ring.openWave)];
  return `ring ${ring.name}, wave ${Math.max(0, ring.openWave) + 1} (${wave.label}) goes on`;
}

/** How many rollouts there are in each state, every state named (for /metrics). */
export async function countRolloutsByState(db: PrismaClient): Promise<Record<RolloutState, number>> {
  const rows = await db.rollout.groupBy({ by: ["state"], _count: { _all: true } });
  const counts = Object.fromEntries(ROLLOUT_STATES.map((state) => [state, 0])) as Record<RolloutState, number>;
  for (const row of rows) counts[row.state] = row._count._all;
  return counts;
}

/**
 * Every rollout under way (at most one per ring), each ring with its phase,
 * its current wave (0 before the first opens) out of how many, and its
 * machines per step with those no wave has reached yet (for /metrics).
 */
export async function activeRolloutProgress(db: PrismaClient) {
  const rows = await db.rollout.findMany({
    where: { state: { in: [...ACTIVE_ROLLOUT_STATES] } },
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    select: {
      id: true,
      state: true,
      pausedBy: true,
      release: { select: { version: true } },
      rings: { orderBy: { position: "asc" }, select: { ringId: true, phase: true, openWave: true, percents: true, singleFirst: true, ring: { select: { name: true } } } },
    },
  });
  const progress = await rolloutProgress(db, rows);
  return rows.map((rollout) => ({
    id: rollout.id,
    state: rollout.state,
    pausedBy: rollout.pausedBy,
    version: rollout.release.version,
    rings: rollout.rings.map((ring, i) => {
      const counted = progress.get(rollout.id)!.rings[i];
      return {
        name: ring.ring.name,
        phase: ring.phase,
        currentWave: currentWaveOf(ring.openWave) ?? 0,
        waves: wavesOf({ singleFirst: ring.singleFirst, percents: ring.percents as number[] }).length,
        steps: counted.steps,
        notReached: counted.notReached,
      };
    }),
  }));
}

/** One rollout with per-ring, per-wave progress, what may be done to it now, and what goes on next. */
/** `scope`: the caller's rings (null: every ring); the actions say which rings a scoped caller lacks. */
export async function getRollout(db: PrismaClient, rolloutId: string, clock: Clock = systemClock, scope: readonly string[] | null = null) {
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
  const progress = (await rolloutProgress(db, [rollout])).get(rollout.id)!;
  const now = clock.now();
  const rings = rollout.rings.map(({ openWave, rampStartedAt, rampSeconds, rampHeldAt, ...r }, i) => {
    const counted = progress.rings[i];
    // Paused or held, the ramp's clock stands still (resuming, or letting it go, moves it on).
    const starting = rampStartedAt && rollout.state === "running" && r.phase === "active";
    const rampEnd = starting && !rampHeldAt ? new Date(rampStartedAt.getTime() + rampSeconds * 1000) : null;
    const startingUntil = rampEnd && rampEnd > now ? rampEnd : null;
    const startingHeld = Boolean(starting && rampHeldAt);
    const waves = wavesOf({ singleFirst: r.singleFirst, percents: r.percents as number[] });
    return {
      ...r,
      // As the start wrote them (checked by rolloutPlanInput).
      percents: r.percents as number[],
      forceFirst: r.forceFirst as Selector,
      exclude: r.exclude as Selector,
      currentWave: currentWaveOf(openWave),
      machines: counted.machines,
      steps: counted.steps,
      notReached: counted.notReached,
      total: counted.total,
      waves: waves.map((w) => ({
        number: w.index + 1,
        label: w.label,
        open: w.index <= openWave,
        current: r.phase === "active" && w.index === openWave && isActiveRollout(rollout.state),
        startingUntil: w.index === openWave ? startingUntil : null,
        startingHeld: w.index === openWave && startingHeld,
        steps: counted.byWave.get(w.index) ?? emptyStepCounts(),
      })),
    };
  });
  const facts: ActionFacts = {
    state: rollout.state,
    quarantined: rollout.release.quarantinedAt !== null,
    rings: rollout.rings.map((r) => ({ name: r.ring.name, phase: r.phase })),
  };
  return {
    ...rollout,
    serverTime: now,
    progress: { steps: progress.steps, notReached: progress.notReached, total: progress.total },
    rings,
    actions: rolloutActions(facts, scope),
    /** Why the caller may do nothing to this rollout (some of its rings are outside theirs), or null. */
    readOnly: outOfScope(facts.rings.map((ring) => ring.name), scope),
    /** What goes on when the rollout runs (or resumes). */
    next: isActiveRollout(rollout.state)
      ? nextText(rollout.rings.map((r, i) => ({ phase: r.phase, openWave: r.openWave, name: r.ring.name, waves: rings[i].waves })))
      : null,
  };
}

/**
 * What an action would do to the rollout's machines now, counted from what
 * they report: for its confirmation. `hold`: on their way, they keep what
 * they staged; `cancel`: on their way, they stop and drop it; `goOn`: granted
 * their reboot slot, they go on; `stay`: booted on the release, they stay;
 * `sendBack`: booted on it (or rebooting into it), a revert sends them back;
 * `waiting`: assigned, not started.
 */
export async function previewRolloutAction(db: PrismaClient, input: { rolloutId: string; ring?: string }) {
  const rollout = await db.rollout.findUnique({
    where: { id: input.rolloutId },
    select: {
      id: true,
      release: { select: { checksum: true, branch: { select: { ref: true } } } },
      rings: { select: { ringId: true, ring: { select: { name: true } } } },
    },
  });
  if (!rollout) throw notFound(`rollout ${input.rolloutId}`);
  const ringIds = rollout.rings.filter((r) => !input.ring || r.ring.name === input.ring).map((r) => r.ringId);
  if (input.ring && ringIds.length === 0) throw invalid("ring", `ring ${input.ring} is not part of this rollout`);
  const target = rollout.release.checksum;
  const ref = rollout.release.branch.ref;
  // An app rollout is judged by the app as the machine reports it: an app update has no reboot.
  const [row] = isAppRef(ref)
    ? await db.$queryRaw<{ on_way: number; rebooting: number; booted: number; waiting: number }[]>`
    SELECT count(*) FILTER (WHERE a.commit IS DISTINCT FROM ${target} AND a.update_target = ${target}
                              AND a.update_state IN ${Prisma.raw(sqlList(BUSY_APP_UPDATE_STATES))})::int AS on_way,
           0 AS rebooting,
           count(*) FILTER (WHERE a.commit = ${target})::int AS booted,
           count(*) FILTER (WHERE rm.step IN ${Prisma.raw(sqlList(WAITING_STEPS))})::int AS waiting
      FROM rollout_machines rm JOIN machines m ON m.id = rm.machine_id
      LEFT JOIN machine_apps a ON a.machine_id = m.id AND a.ref = ${ref}
     WHERE rm.rollout_id = ${rollout.id} AND rm.ring_id = ANY(${ringIds}::text[]) AND m.retired_at IS NULL`
    : await db.$queryRaw<{ on_way: number; rebooting: number; booted: number; waiting: number }[]>`
    SELECT count(*) FILTER (WHERE m.booted_checksum IS DISTINCT FROM ${target} AND m.update_target = ${target}
                              AND m.update_state IN ${HOLDABLE_SQL})::int AS on_way,
           count(*) FILTER (WHERE m.booted_checksum IS DISTINCT FROM ${target} AND m.update_target = ${target}
                              AND m.update_state = 'rebooting')::int AS rebooting,
           count(*) FILTER (WHERE m.booted_checksum = ${target})::int AS booted,
           count(*) FILTER (WHERE rm.step IN ${Prisma.raw(sqlList(WAITING_STEPS))})::int AS waiting
      FROM rollout_machines rm JOIN machines m ON m.id = rm.machine_id
     WHERE rm.rollout_id = ${rollout.id} AND rm.ring_id = ANY(${ringIds}::text[]) AND m.retired_at IS NULL`;
  const counts = row ?? { on_way: 0, rebooting: 0, booted: 0, waiting: 0 };
  return {
    onTheirWay: counts.on_way,
    rebooting: Number(counts.rebooting),
    booted: counts.booted,
    waiting: counts.waiting,
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
  const rollout = await db.rollout.findUnique({ where: { id: input.rolloutId }, select: { release: { select: { branch: { select: { ref: true } } } } } });
  if (!rollout) throw notFound(`rollout ${input.rolloutId}`);
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
        machine: { select: { machineId: true, hostname: true, backend: true, healthStatus: true, bootedVersion: true, ring: { select: { name: true } } } },
      },
    }),
    db.rolloutMachine.count({ where }),
  ]);
  // An app rollout's machines show the app as each reports it: its release's version and the app's own health.
  const ref = rollout.release.branch.ref;
  const apps = isAppRef(ref) ? await appsOf(db, ref, rows.map((r) => r.machine.machineId)) : null;
  const shown = rows.map((r) => {
    if (!apps) return r;
    const app = apps.get(r.machine.machineId);
    return { ...r, machine: { ...r.machine, bootedVersion: app?.version ?? null, healthStatus: app?.health ?? "unknown" } };
  });
  // Waves are numbered from 1 wherever they are shown or exported.
  return { rows: shown.map((r) => ({ ...r, wave: r.wave + 1 })), total, page, pageSize, appRollout: apps !== null };
}

/** The app `ref` on each of these machines: the version of the release it runs (its commit when no release names it) and its health. */
async function appsOf(db: PrismaClient, ref: string, machineIds: string[]) {
  const rows = await db.$queryRaw<{ machine_id: string; version: string | null; health: HealthStatus | null }[]>`
    SELECT m.machine_id, coalesce(r.version, left(a.commit, 12)) AS version, a.health_status AS health
      FROM machines m JOIN machine_apps a ON a.machine_id = m.id AND a.ref = ${ref}
      LEFT JOIN branches b ON b.ref = a.ref
      LEFT JOIN releases r ON r.branch_id = b.id AND r.checksum = a.commit
     WHERE m.machine_id = ANY(${machineIds}::text[])`;
  return new Map(rows.map((r) => [r.machine_id, { version: r.version, health: r.health ?? "unknown" }]));
}

export type SelectorJson = Partial<Selector>;
export type { Candidate };
