-- AlterTable
ALTER TABLE "rollout_machines" ADD COLUMN     "previous_boot_id" TEXT;

