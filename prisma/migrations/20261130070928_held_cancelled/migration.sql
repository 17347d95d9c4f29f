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


-- Hand-written: the controller follows an ended (aborted, reverted) rollout
-- while some of its machines have not finished (a withdrawn update not yet
-- confirmed as cancelled). Unfinished rows are few; this index finds them
-- without reading a finished rollout's every row.
CREATE INDEX "rollout_machines_unfinished_idx" ON "rollout_machines" ("rollout_id") WHERE "finished_at" IS NULL;
