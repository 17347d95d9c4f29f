-- AlterTable
ALTER TABLE "rollout_rings" ADD COLUMN     "previous_branch_id" TEXT;

