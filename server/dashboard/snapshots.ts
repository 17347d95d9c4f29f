// The console's periodic snapshot of which versions run where, the data of
// the dashboard's version history. With several console processes on one
// database, an advisory lock and the age of the last snapshot keep it to
// one snapshot per interval.
import type { Clock } from "../clock";
import type { Database } from "../db/client";
import type { Logger } from "../logger";

export async function takeSnapshot(db: Database, now: Date, minGapMs: number): Promise<boolean> {
  return db.prisma.$transaction(async (tx) => {
    const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtext('orchard:snapshot')) AS locked`;
    if (!lock?.locked) return false;
    const last = await tx.versionSnapshot.findFirst({ orderBy: { at: "desc" }, select: { at: true } });
    if (last && now.getTime() - last.at.getTime() < minGapMs) return false;
    await tx.$executeRaw`
      INSERT INTO version_snapshots (at, ring_id, version, machines)
      SELECT ${now}, ring_id, booted_version, count(*)::int FROM machines_counted WHERE NOT retired GROUP BY 2, 3`;
    return true;
  });
}

export class Snapshotter {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Database,
    private readonly options: { clock: Clock; log: Logger; intervalMs: number },
  ) {}

  start() {
    const tick = () =>
      void takeSnapshot(this.db, this.options.clock.now(), this.options.intervalMs / 2).catch((error) =>
        this.options.log.warn({ err: error }, "version snapshot failed"),
      );
    tick();
    this.timer ??= setInterval(tick, this.options.intervalMs);
    this.timer.unref();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
