// One machine's timeline: everything that happened to it, newest first —
// changes of its reported state, its agent's events, rollout steps and
// operator actions — plus a summary of its check-ins.
import type { PrismaClient } from "../db/client";
import { notFound } from "../errors";

export type TimelineItem =
  | { at: Date; source: "state"; kind: string; before: string | null; after: string | null; detail: string | null }
  | { at: Date; source: "event"; kind: string; detail: string | null; checksum: string | null; agentTime: Date }
  | { at: Date; source: "rollout"; kind: string; rolloutId: string; release: string; wave: number; detail: string | null }
  | { at: Date; source: "operator"; kind: string; actor: string; reason: string | null; before: unknown; after: unknown };

export async function machineTimeline(db: PrismaClient, input: { machineId: string; limit?: number }) {
  const limit = Math.min(input.limit ?? 100, 500);
  const machine = await db.machine.findUnique({
    where: { machineId: input.machineId },
    select: { id: true, enrolledAt: true, lastSeenAt: true, lastSeq: true },
  });
  if (!machine) throw notFound(`machine ${input.machineId}`);
  const [changes, events, rollouts, audit] = await Promise.all([
    db.machineChange.findMany({
      where: { machineId: machine.id },
      orderBy: { at: "desc" },
      take: limit,
      select: { at: true, kind: true, before: true, after: true, detail: true },
    }),
    db.agentEvent.findMany({
      where: { machineId: machine.id },
      orderBy: { receivedAt: "desc" },
      take: limit,
      select: { receivedAt: true, at: true, type: true, detail: true, checksum: true },
    }),
    db.rolloutMachine.findMany({
      where: { machineId: machine.id },
      orderBy: { assignedAt: "desc" },
      take: limit,
      select: { rolloutId: true, wave: true, step: true, assignedAt: true, finishedAt: true, detail: true, rollout: { select: { release: { select: { version: true } } } } },
    }),
    db.auditLog.findMany({
      where: { targetType: "machine", targetId: input.machineId },
      orderBy: { at: "desc" },
      take: limit,
      select: { at: true, action: true, actorLabel: true, reason: true, before: true, after: true },
    }),
  ]);
  const items: TimelineItem[] = [
    ...changes.map((c) => ({ at: c.at, source: "state" as const, kind: c.kind, before: c.before, after: c.after, detail: c.detail })),
    ...events.map((e) => ({
      at: e.receivedAt,
      source: "event" as const,
      kind: e.type.replace("_", "."),
      detail: e.detail,
      checksum: e.checksum,
      agentTime: e.at,
    })),
    ...rollouts.flatMap((r) => {
      const base = { source: "rollout" as const, rolloutId: r.rolloutId, release: r.rollout.release.version, wave: r.wave + 1 };
      const assigned = { ...base, at: r.assignedAt, kind: "assigned", detail: null };
      return r.finishedAt ? [assigned, { ...base, at: r.finishedAt, kind: r.step, detail: r.detail }] : [assigned];
    }),
    ...audit.map((a) => ({
      at: a.at,
      source: "operator" as const,
      kind: a.action,
      actor: a.actorLabel,
      reason: a.reason,
      before: a.before,
      after: a.after,
    })),
  ];
  items.sort((a, b) => b.at.getTime() - a.at.getTime());
  return {
    checkins: {
      enrolledAt: machine.enrolledAt,
      lastSeenAt: machine.lastSeenAt,
      /** Check-ins since the machine last enrolled (its agent's seq). */
      count: Math.max(0, Number(machine.lastSeq)),
    },
    items: items.slice(0, limit),
  };
}
