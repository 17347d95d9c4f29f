// Machines as the console sees them: lists with server-side paging, sorting
// and filtering, one machine's detail, and operator actions on machines.
import { type Actor, writeAudit } from "../audit/audit";
import { enqueueEvents, machineKey } from "../webhooks/outbox";
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { z } from "zod";
import type { Prisma, PrismaClient } from "../db/client";
import { invalid, notFound } from "../errors";
import { ringNameWhere } from "../auth/scope";
import { domainEvents } from "../events";
import { answerTo } from "../agents/desired";
import { explainAnswer } from "../agents/explain";
import { prismaQuery, readMachineView, readRingView } from "../agents/views";
import { appAnswersTo } from "../apps/desired-apps";
import type { Deployment, HealthCheck } from "../protocol/v1";
import type { RollbackTarget } from "../agents/desired";
import { cohortOf } from "../rollouts/cohort";
import { rejudgeMachines } from "../rollouts/tracking";
import { escapeLike } from "../text";
import { countMachines } from "./counts";
import { failureDomains, reservedLabelsOf } from "../rings/failure-domains";
import type { ActionAllowed } from "../rollouts/rollouts";
import { type Grant, mayAct, roleAtLeast } from "../vocabulary";
import {
  LAST_SEEN_SECONDS,
  type ListMachinesInput,
  listMachinesInput,
  MAX_MATCHING,
  type MachineFilter,
  TOTAL_CAP,
  machineFilterSchema,
  type MachineSortField,
  type MoveMachinesInput,
  moveMachinesInput,
  retireMachineInput,
  type SetLabelsInput,
  setLabelsInput,
} from "./schemas";

/** The deployment a rollback boots: the first reported one that is not booted and is another commit. */
export function previousDeploymentOf(deployments: unknown, booted: string | null): Deployment | null {
  if (!Array.isArray(deployments)) return null;
  return (deployments as Deployment[]).find((d) => !d.booted && d.checksum !== booted) ?? null;
}

/** A machine's labels as stored (checked by labelsSchema on the way in). */
export function labelsOf(labels: Prisma.JsonValue): Record<string, string> {
  return labels && typeof labels === "object" && !Array.isArray(labels) ? (labels as Record<string, string>) : {};
}

/** A machine counts as offline after this many of its check-in intervals of silence. */
export const OFFLINE_AFTER_INTERVALS = 3;
const DEFAULT_INTERVAL_SECONDS = 300;

const machineRowSelect = {
  machineId: true,
  hostname: true,
  backend: true,
  agentVersion: true,
  labels: true,
  lastSeenAt: true,
  enrolledAt: true,
  bootedVersion: true,
  bootedChecksum: true,
  bootedRef: true,
  updateState: true,
  updateProgress: true,
  healthStatus: true,
  ring: { select: { name: true, checkInIntervalSeconds: true } },
} satisfies Prisma.MachineSelect;

function orderBy(sort: MachineSortField, dir: "asc" | "desc"): Prisma.MachineOrderByWithRelationInput[] {
  const nulls: Prisma.NullsOrder = dir === "asc" ? "last" : "first";
  const primary: Prisma.MachineOrderByWithRelationInput = {
    hostname: { hostname: dir },
    machineId: { machineId: dir },
    ring: { ring: { position: dir } },
    health: { healthStatus: dir },
    updateState: { updateState: dir },
    version: { bootedVersion: { sort: dir, nulls } },
    lastSeenAt: { lastSeenAt: { sort: dir, nulls } },
    enrolledAt: { enrolledAt: dir },
  }[sort];
  // A unique tie-breaker keeps pages stable.
  return sort === "machineId" ? [primary] : [primary, { machineId: "asc" }];
}

export function isOnline(lastSeenAt: Date | null, intervalSeconds: number | undefined, now: Date) {
  if (!lastSeenAt) return false;
  const interval = intervalSeconds ?? DEFAULT_INTERVAL_SECONDS;
  return now.getTime() - lastSeenAt.getTime() <= OFFLINE_AFTER_INTERVALS * interval * 1000;
}

/** The Prisma filter of the machines table's filters, within the caller's rings. */
function machineWhere(
  query: z.output<typeof machineFilterSchema>,
  clock: Clock,
  scope: readonly string[] | null,
  appCommit: string | null = null,
): Prisma.MachineWhereInput {
  const where: Prisma.MachineWhereInput = { retiredAt: null };
  if (query.app) where.apps = { some: { ref: query.app, ...(appCommit ? { commit: appCommit } : {}) } };
  const ring = ringNameWhere(scope, query.ring);
  if (ring) where.ring = ring;
  if (query.health) where.healthStatus = query.health;
  if (query.updateState) where.updateState = query.updateState;
  if (query.version) where.bootedVersion = query.version;
  if (query.branch) where.bootedRef = query.branch;
  if (query.label) {
    const at = query.label.indexOf("=");
    where.labels = { path: [query.label.slice(0, at)], equals: query.label.slice(at + 1) };
  }
  if (query.lastSeen === "never") where.lastSeenAt = null;
  else if (query.lastSeen === "15m") where.lastSeenAt = { gte: new Date(clock.now().getTime() - LAST_SEEN_SECONDS["15m"] * 1000) };
  else if (query.lastSeen) where.lastSeenAt = { lt: new Date(clock.now().getTime() - LAST_SEEN_SECONDS[query.lastSeen] * 1000) };
  if (query.q) {
    where.OR = [
      { hostname: { contains: escapeLike(query.q), mode: "insensitive" } },
      { machineId: { contains: escapeLike(query.q), mode: "insensitive" } },
    ];
  }
  return where;
}

/** The commit the app filter's version names (the release of the app's ref), or the error naming the field. */
async function appCommitOf(db: Prisma.TransactionClient | PrismaClient, query: z.output<typeof machineFilterSchema>): Promise<string | null> {
  if (!query.appVersion) return null;
  if (!query.app) throw invalid("appVersion", "filter on an app's version together with the app (its ref)");
  const release = await db.release.findFirst({ where: { version: query.appVersion, branch: { ref: query.app } }, select: { checksum: true } });
  if (!release) throw invalid("appVersion", `app ${query.app} has no release ${query.appVersion}`);
  return release.checksum;
}

/**
 * The ids of every machine a filter matches, within the caller's rings, for a
 * bulk action: refused (naming `matching`) when none matches or more than
 * MAX_MATCHING do.
 */
export async function machinesMatching(db: Prisma.TransactionClient, filter: MachineFilter, clock: Clock, scope: readonly string[] | null) {
  const query = machineFilterSchema.parse(filter);
  const where = machineWhere(query, clock, scope, await appCommitOf(db, query));
  const rows = await db.machine.findMany({ where, orderBy: { machineId: "asc" }, take: MAX_MATCHING + 1, select: { machineId: true } });
  if (rows.length === 0) throw invalid("matching", "no machine matches the filter");
  if (rows.length > MAX_MATCHING) throw invalid("matching", `the filter matches more than ${MAX_MATCHING} machines: narrow it`);
  return rows.map((r) => r.machineId);
}

/**
 * How many machines a list's filter matches: summed from machine_counts when
 * the filter is on ring, health, update state or version only (exact, and a
 * few hundred rows at any fleet size); otherwise counted, up to TOTAL_CAP
 * unless the caller asks for every one (a count of a million rows takes
 * seconds).
 */
async function listTotal(
  db: PrismaClient,
  query: z.output<typeof listMachinesInput>,
  where: Prisma.MachineWhereInput,
  scope: readonly string[] | null,
): Promise<{ total: number; exact: boolean }> {
  const counted = !query.branch && !query.label && !query.lastSeen && !query.q && !query.app;
  if (counted) {
    const rings = query.ring ? (scope === null || scope.includes(query.ring) ? [query.ring] : []) : scope;
    const ringIds = rings === null ? null : (await db.ring.findMany({ where: { name: { in: [...rings] } }, select: { id: true } })).map((r) => r.id);
    const total = await countMachines(db, { ringIds, health: query.health, updateState: query.updateState, version: query.version });
    return { total, exact: true };
  }
  if (query.exactTotal) return { total: await db.machine.count({ where }), exact: true };
  const total = await db.machine.count({ where, take: TOTAL_CAP + 1 });
  return total > TOTAL_CAP ? { total: TOTAL_CAP, exact: false } : { total, exact: true };
}

/** A page of the machines table; `scope`: the caller's rings (null: every ring). */
export async function listMachines(db: PrismaClient, input: ListMachinesInput, clock: Clock = systemClock, scope: readonly string[] | null = null) {
  const query = listMachinesInput.parse(input);
  const where = machineWhere(query, clock, scope, await appCommitOf(db, query));
  const [rows, { total, exact }] = await Promise.all([
    db.machine.findMany({
      where,
      orderBy: orderBy(query.sort, query.dir),
      ...(query.cursor ? { cursor: { machineId: query.cursor }, skip: 1 } : { skip: query.page * query.pageSize }),
      take: query.pageSize,
      select: machineRowSelect,
    }),
    listTotal(db, query, where, scope),
  ]);
  const now = clock.now();
  return {
    total,
    totalExact: exact,
    page: query.page,
    pageSize: query.pageSize,
    /** The cursor of the next page, or null on the last one. */
    nextCursor: rows.length === query.pageSize ? rows.at(-1)!.machineId : null,
    rows: rows.map(({ ring, ...m }) => ({
      ...m,
      labels: labelsOf(m.labels),
      ring: ring?.name ?? null,
      online: isOnline(m.lastSeenAt, ring?.checkInIntervalSeconds, now),
    })),
  };
}

const allowed: ActionAllowed = { allowed: true, why: null };
const refused = (why: string): ActionAllowed => ({ allowed: false, why });

/**
 * What `grant` may do to one machine now, and why not: decided here, shown as
 * it is by the console (which offers an action only when it is allowed).
 */
export function machineActions(
  grant: Grant,
  machine: { ring: string | null; retired: boolean; pinned: boolean; held: boolean; hasPrevious: boolean; backend: string },
) {
  const acting = !roleAtLeast(grant.role, "operator")
    ? refused("acting on a machine needs the operator role")
    : !mayAct(grant, "operator", machine.ring ? [machine.ring] : [])
      ? refused(`ring ${machine.ring} is outside your rings`)
      : allowed;
  const live = acting.allowed && machine.retired ? refused("the machine is retired") : acting;
  return {
    move: live,
    pin: live,
    unpin: live.allowed && !machine.pinned && !machine.held ? refused("the machine is neither pinned nor held") : live,
    rollback: live.allowed && !machine.hasPrevious ? refused("the machine reports no previous deployment") : live,
    retire: live,
    // A retired machine may be let back in too (it enrolls anew).
    allowReenroll: acting,
    setLabels: live.allowed || !acting.allowed ? live : refused("the machine is retired: its labels stay as they were until it enrolls again"),
    // A DDI device's own credential (server/ddi/target-tokens.ts); our agent and Zincati have none of this kind.
    issueTargetToken: live.allowed && machine.backend !== "swupdate" ? refused("only a device updated over hawkBit DDI takes a target token") : live,
  };
}

/** Everything about one machine; `grant`: who asks (what they may do to it; by default anything). */
export async function getMachine(db: PrismaClient, machineId: string, clock: Clock = systemClock, grant: Grant = { role: "admin", rings: null }) {
  const machine = await db.machine.findUnique({
    where: { machineId },
    select: {
      ...machineRowSelect,
      id: true,
      osId: true,
      osVersionId: true,
      osArch: true,
      lastSeq: true,
      bootId: true,
      deployments: true,
      updateTarget: true,
      updateError: true,
      updateStateSince: true,
      healthChecks: true,
      retiredAt: true,
      ring: {
        select: {
          name: true,
          checkInIntervalSeconds: true,
          branch: { select: { ref: true } },
          currentRelease: { select: { version: true, checksum: true } },
        },
      },
      rebootLease: { select: { acquiredAt: true, expiresAt: true } },
      publicKey: true,
      reenrollAllowedUntil: true,
      pinnedAt: true,
      pinAllowsDowngrade: true,
      pinnedRelease: { select: { version: true, checksum: true, quarantinedAt: true, branch: { select: { ref: true } } } },
      rollbackTo: true,
      rollouts: {
        orderBy: { assignedAt: "desc" },
        take: 10,
        select: {
          wave: true,
          step: true,
          assignedAt: true,
          finishedAt: true,
          previousVersion: true,
          detail: true,
          rollout: { select: { id: true, state: true, release: { select: { version: true } } } },
        },
      },
      tokens: {
        orderBy: { createdAt: "desc" },
        take: 10,
        select: { prefix: true, createdAt: true, lastUsedAt: true, revokedAt: true },
      },
      events: {
        orderBy: { receivedAt: "desc" },
        take: 50,
        select: { eventId: true, type: true, at: true, receivedAt: true, checksum: true, detail: true },
      },
    },
  });
  if (!machine) throw notFound(`machine ${machineId}`);
  const { id: _id, rollouts, publicKey, ...rest } = machine;
  const ring = machine.ring?.name ?? null;
  return {
    ...rest,
    // As the check-in stored them (checked by the protocol's schemas), or as an operator's rollback or a revert set it.
    labels: labelsOf(rest.labels),
    deployments: Array.isArray(rest.deployments) ? (rest.deployments as unknown as Deployment[]) : [],
    healthChecks: Array.isArray(rest.healthChecks) ? (rest.healthChecks as unknown as HealthCheck[]) : [],
    rollbackTo: rest.rollbackTo as unknown as RollbackTarget | null,
    /** What the caller may do to the machine now, and why not. */
    actions: machineActions(grant, {
      ring,
      retired: machine.retiredAt !== null,
      pinned: machine.pinnedRelease !== null,
      held: machine.rollbackTo !== null,
      hasPrevious: previousDeploymentOf(machine.deployments, machine.bootedChecksum) !== null,
      backend: machine.backend,
    }),
    /** Labels its agent cannot set for itself (a ring's failure domain), with why. */
    reservedLabels: reservedLabelsOf(await failureDomains(db), ring, grant.rings),
    /** It proves itself with a key when it enrolls again (protocol v1.1). */
    hasKey: publicKey !== null,
    // Waves are numbered from 1 wherever they are shown or exported.
    rollouts: rollouts.map((r) => ({ ...r, wave: r.wave + 1 })),
    /** What a rollback would boot (null: nothing to go back to). */
    previousDeployment: previousDeploymentOf(machine.deployments, machine.bootedChecksum),
    lastSeq: Number(machine.lastSeq),
    online: isOnline(machine.lastSeenAt, machine.ring?.checkInIntervalSeconds, clock.now()),
    answer: await machineAnswer(db, machineId, machine, clock.now()),
  };
}

/** The console's answer to the machine now, as its agent gets it, in words. */
async function machineAnswer(
  db: PrismaClient,
  machineId: string,
  facts: { updateError: string | null; bootedVersion: string | null; bootedRef: string | null; backend: string },
  now: Date,
) {
  const query = prismaQuery(db);
  const view = await readMachineView(query, machineId);
  if (!view) throw notFound(`machine ${machineId}`);
  const ring = view.ringId ? await readRingView(query, view.ringId) : null;
  const answer = answerTo(view, ring, now);
  const apps = appAnswersTo(view, ring);
  // A DDI device is offered only a release that carries an artifact (server/ddi/ddi-service.ts).
  const ddi =
    facts.backend === "swupdate" && answer.desired
      ? { targetHasArtifacts: (await db.releaseArtifact.count({ where: { release: { checksum: answer.desired.checksum } }, take: 1 })) > 0 }
      : undefined;
  return {
    action: answer.action,
    desired: answer.desired,
    hold: answer.hold,
    cancel: answer.cancel,
    apps: apps?.map((a) => ({ ref: a.ref, commit: a.commit, version: a.version, reason: a.reason, allowDowngrade: a.allowDowngrade, source: a.source })) ?? null,
    ...explainAnswer({ ...view, ...facts, ddi }, ring, answer),
  };
}

export async function moveMachinesToRing(db: PrismaClient, actor: Actor, input: MoveMachinesInput, clock: Clock = systemClock) {
  const data = moveMachinesInput.parse(input);
  const moved = await db.$transaction(async (tx) => {
    const machineIds = data.machineIds ?? (await machinesMatching(tx, data.matching!, clock, actor.rings));
    const ring = await tx.ring.findUnique({ where: { name: data.ring }, select: { id: true, cohortSeed: true } });
    if (!ring) throw invalid("ring", `no ring named ${data.ring}`);
    const machines = await tx.machine.findMany({
      where: { machineId: { in: machineIds }, retiredAt: null },
      select: { id: true, machineId: true, ring: { select: { name: true } } },
    });
    const found = new Set(machines.map((m) => m.machineId));
    const missing = machineIds.find((id) => !found.has(id));
    if (missing) throw invalid("machineIds", `no machine ${missing}`);
    // A machine takes its place in the new ring's cohort space.
    await tx.$executeRaw`
      UPDATE machines AS m SET ring_id = ${ring.id}, cohort = v.cohort, updated_at = now()
        FROM unnest(${machines.map((m) => m.id)}::text[], ${machines.map((m) => cohortOf(m.machineId, ring.cohortSeed))}::float8[])
             AS v(id, cohort)
       WHERE m.id = v.id`;
    // Moved out of a ring mid-rollout: its update there is withdrawn.
    await rejudgeMachines(tx, machines.map((m) => m.id));
    for (const m of machines) {
      await writeAudit(tx, actor, {
        action: "machine.move",
        targetType: "machine",
        targetId: m.machineId,
        reason: data.reason,
        before: { ring: m.ring?.name ?? null },
        after: { ring: data.ring },
      });
    }
    return machines;
  });
  for (const m of moved) domainEvents.emit("machineChanged", m.id);
  return { moved: moved.length };
}

/** Retires a machine: its agent gets 410 on every route until it enrolls again. */
export async function retireMachine(
  db: PrismaClient,
  actor: Actor,
  input: { machineId: string; reason?: string },
  clock: Clock = systemClock,
) {
  const data = retireMachineInput.parse(input);
  const machine = await db.$transaction(async (tx) => {
    const machine = await tx.machine.findUnique({
      where: { machineId: data.machineId },
      select: { id: true, retiredAt: true, hostname: true },
    });
    if (!machine) throw notFound(`machine ${data.machineId}`);
    if (machine.retiredAt) return machine;
    const now = clock.now();
    await tx.machine.update({ where: { id: machine.id }, data: { retiredAt: now } });
    await tx.rebootLease.deleteMany({ where: { machineId: machine.id } });
    await rejudgeMachines(tx, [machine.id]);
    await enqueueEvents(tx, [
      { kind: "machine.retired", key: machineKey(data.machineId), at: now, data: { machineId: data.machineId, hostname: machine.hostname, by: actor.label, reason: data.reason ?? null } },
    ]);
    await writeAudit(tx, actor, {
      action: "machine.retire",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { retired: false },
      after: { retired: true },
    });
    return machine;
  });
  domainEvents.emit("machineChanged", machine.id);
  return { machineId: data.machineId, retired: true };
}

/**
 * An operator sets or removes a machine's labels (the filters, a rollout's
 * force-first and exclude lists, and the ring's failure domain read them).
 * Audited with the labels before and after.
 */
export async function setMachineLabels(db: PrismaClient, actor: Actor, input: SetLabelsInput) {
  const data = setLabelsInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    const machine = await tx.machine.findUnique({ where: { machineId: data.machineId }, select: { id: true, labels: true, retiredAt: true } });
    if (!machine || machine.retiredAt) throw notFound(`machine ${data.machineId}`);
    const before = (machine.labels ?? {}) as Record<string, string>;
    const after: Record<string, string> = { ...before, ...data.set };
    for (const key of data.remove) delete after[key];
    if (Object.keys(after).length > 32) throw invalid("set", "a machine has at most 32 labels");
    await tx.machine.update({ where: { id: machine.id }, data: { labels: after } });
    await writeAudit(tx, actor, {
      action: "machine.labels",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { labels: before },
      after: { labels: after },
    });
    return { id: machine.id, labels: after };
  });
  domainEvents.emit("machineChanged", result.id);
  return { machineId: data.machineId, labels: result.labels };
}

/** How long an operator's re-image allowance lasts. */
export const REENROLL_ALLOWANCE_HOURS = 24;

/**
 * A re-image: the machine may enroll again once without proving itself with
 * its key (its disk was wiped, or it enrolled before machines had keys), also
 * when it is retired, within the next 24 hours. It takes the new key it
 * enrolls with.
 */
export async function allowReenroll(db: PrismaClient, actor: Actor, input: { machineId: string; reason?: string }, clock: Clock = systemClock) {
  const data = retireMachineInput.parse(input);
  const now = clock.now();
  const until = new Date(now.getTime() + REENROLL_ALLOWANCE_HOURS * 3600 * 1000);
  const machine = await db.$transaction(async (tx) => {
    const machine = await tx.machine.findUnique({ where: { machineId: data.machineId }, select: { id: true, retiredAt: true, publicKey: true } });
    if (!machine) throw notFound(`machine ${data.machineId}`);
    await tx.machine.update({ where: { id: machine.id }, data: { reenrollAllowedUntil: until } });
    await writeAudit(
      tx,
      actor,
      {
        action: "machine.allow-reenroll",
        targetType: "machine",
        targetId: data.machineId,
        reason: data.reason,
        before: { retired: machine.retiredAt !== null, key: machine.publicKey !== null },
        after: { reenrollAllowedUntil: until.toISOString() },
      },
      now,
    );
    return machine;
  });
  domainEvents.emit("machineChanged", machine.id);
  return { machineId: data.machineId, reenrollAllowedUntil: until };
}
