// The rollout's A/B view: per ring, machines already on the new release next
// to those still on the old one — their health, and the new side's rollbacks
// and failures.
import { Prisma, type PrismaClient } from "../db/client";
import { FAILURE_STEPS, isAppRef, sqlList } from "../vocabulary";
import { notFound } from "../errors";

export async function healthComparison(db: PrismaClient, rolloutId: string) {
  const rollout = await db.rollout.findUnique({
    where: { id: rolloutId },
    select: { release: { select: { checksum: true, branch: { select: { ref: true } } } }, rings: { orderBy: { position: "asc" }, select: { ringId: true, ring: { select: { name: true } } } } },
  });
  if (!rollout) throw notFound(`rollout ${rolloutId}`);
  const target = rollout.release.checksum;
  const ringIds = rollout.rings.map((r) => r.ringId);
  const ref = rollout.release.branch.ref;
  const [health, outcomes] = await Promise.all([
    // An app rollout compares the app's own health on its new commit against its old one (a machine without the app: unknown).
    isAppRef(ref)
      ? db.$queryRaw<{ ring_id: string; on_new: boolean; health: string; n: number }[]>`
      SELECT m.ring_id, a.commit IS NOT DISTINCT FROM ${target} AS on_new, coalesce(a.health_status, 'unknown') AS health, count(*)::int AS n
        FROM machines m LEFT JOIN machine_apps a ON a.machine_id = m.id AND a.ref = ${ref}
       WHERE m.ring_id = ANY(${ringIds}::text[]) AND m.retired_at IS NULL
       GROUP BY 1, 2, 3`
      : db.$queryRaw<{ ring_id: string; on_new: boolean; health: string; n: number }[]>`
      SELECT ring_id, booted_checksum = ${target} AS on_new, health_status::text AS health, count(*)::int AS n
        FROM machines WHERE ring_id = ANY(${ringIds}::text[]) AND retired_at IS NULL
       GROUP BY 1, 2, 3`,
    db.$queryRaw<{ ring_id: string; step: string; n: number }[]>`
      SELECT ring_id, step::text AS step, count(*)::int AS n FROM rollout_machines
       WHERE rollout_id = ${rolloutId} AND step IN ${Prisma.raw(sqlList([...FAILURE_STEPS, "succeeded"]))}
       GROUP BY 1, 2`,
  ]);
  return rollout.rings.map((ring) => {
    const side = (onNew: boolean) => {
      const rows = health.filter((h) => h.ring_id === ring.ringId && h.on_new === onNew);
      const total = rows.reduce((a, r) => a + r.n, 0);
      const count = (status: string) => rows.find((r) => r.health === status)?.n ?? 0;
      return {
        machines: total,
        healthy: count("healthy"),
        degraded: count("degraded"),
        unhealthy: count("unhealthy"),
        unknown: count("unknown"),
        unhealthyRate: total ? count("unhealthy") / total : 0,
      };
    };
    const outcome = (step: string) => outcomes.find((o) => o.ring_id === ring.ringId && o.step === step)?.n ?? 0;
    const finished = outcome("succeeded") + outcome("failed") + outcome("rolled_back") + outcome("dark");
    return {
      ring: ring.ring.name,
      newRelease: side(true),
      oldRelease: side(false),
      rollout: {
        finished,
        failed: outcome("failed"),
        rolledBack: outcome("rolled_back"),
        dark: outcome("dark"),
        failureRate: finished ? (outcome("failed") + outcome("dark")) / finished : 0,
        rollbackRate: finished ? outcome("rolled_back") / finished : 0,
      },
    };
  });
}
