-- AlterTable
ALTER TABLE "machines" ADD COLUMN     "slot_refused_target" TEXT;

-- AlterTable
ALTER TABLE "rollout_machines" ADD COLUMN     "previous_boot_id" TEXT;

