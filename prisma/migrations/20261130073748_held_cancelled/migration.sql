-- AlterEnum
ALTER TYPE "AgentEventType" ADD VALUE 'update.cancelled';

-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "MachineStep" ADD VALUE 'held';
ALTER TYPE "MachineStep" ADD VALUE 'cancelled';

-- AlterTable
ALTER TABLE "machines" ADD COLUMN     "allow_downgrade_to" TEXT;

-- AlterTable
ALTER TABLE "rollouts" ADD COLUMN     "paused_at" TIMESTAMPTZ(3);

-- Hand-written: a rollout paused before this migration counts as paused since its last change.
UPDATE "rollouts" SET "paused_at" = "updated_at" WHERE "state" = 'paused';

-- AlterTable (hand-written in three steps: existing rows get their deadline
-- from their ring's dark-after, as the controller computed it until now)
ALTER TABLE "rollout_machines" ADD COLUMN     "dark_at" TIMESTAMPTZ(3);
UPDATE "rollout_machines" rm
   SET "dark_at" = rm."assigned_at" + make_interval(secs => rr."dark_after_seconds")
  FROM "rollout_rings" rr
 WHERE rr."rollout_id" = rm."rollout_id" AND rr."ring_id" = rm."ring_id";
UPDATE "rollout_machines" SET "dark_at" = "assigned_at" WHERE "dark_at" IS NULL;
ALTER TABLE "rollout_machines" ALTER COLUMN "dark_at" SET NOT NULL;

-- Hand-written: the controller follows an ended (aborted, reverted) rollout
-- while some of its machines have not finished (a withdrawn update not yet
-- confirmed as cancelled). Unfinished rows are few; this index finds them
-- without reading a finished rollout's every row.
CREATE INDEX "rollout_machines_unfinished_idx" ON "rollout_machines" ("rollout_id") WHERE "finished_at" IS NULL;


-- Hand-written: machines an operator holds out of rollouts (pinned, or held
-- on a rollback) are few; the rollout pages count a ring's eligible machines
-- as its machines_counted rows less these (server/rollouts/tracking.ts keeps
-- the same expression).
CREATE INDEX "machines_held_out_idx" ON "machines" ("ring_id")
  WHERE ("pinned_release_id" IS NOT NULL OR COALESCE(("rollback_to" ->> 'hold')::boolean, false));
