-- AlterTable
ALTER TABLE "machines" ADD COLUMN     "public_key" TEXT,
ADD COLUMN     "reenroll_allowed_until" TIMESTAMPTZ(3),
ADD COLUMN     "slot_refused_target" TEXT;

-- AlterTable
ALTER TABLE "rollout_machines" ADD COLUMN     "previous_boot_id" TEXT;

