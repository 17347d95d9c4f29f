// The console's periodic snapshot of which versions run where, the data of
// the dashboard's version history. With several console processes on one
// database, an advisory lock and the age of the last snapshot keep it to
// one snapshot per interval. It runs as a background job (server/console.ts):
// on the console's connections, retried with backoff when it fails.
import type { PrismaClient } from "../db/client";

/**
 * Under load the count of every machine may wait for a connection and take
 * a while: far past Prisma's default 5 s, which once failed the snapshot on
 * a restart under load.
 */
const SNAPSHOT_TRANSACTION = { maxWait: 30_000, timeout: 120_000 };

/** Records the versions running in each ring, unless one was recorded less than `minGapMs` ago; whether it did. */
export async function takeSnapshot(
  prisma: PrismaClient,
  now: Date,
  minGapMs: number,
  transaction: { maxWait: number; timeout: number } = SNAPSHOT_TRANSACTION,
): Promise<boolean> {
  return prisma.$transaction(async (tx) => {
    const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtext('orchard:snapshot')) AS locked`;
    if (!lock?.locked) return false;
    const last = await tx.versionSnapshot.findFirst({ orderBy: { at: "desc" }, select: { at: true } });
    if (last && now.getTime() - last.at.getTime() < minGapMs) return false;
    await tx.$executeRaw`
      INSERT INTO version_snapshots (at, ring_id, version, machines)
      SELECT ${now}, ring_id, booted_version, sum(n)::int FROM machine_counts GROUP BY 2, 3 HAVING sum(n) <> 0`;
    return true;
  }, transaction);
}
