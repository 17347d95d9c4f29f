-- AlterTable
ALTER TABLE "rings" ADD COLUMN     "follow" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "follow_approval" BOOLEAN NOT NULL DEFAULT true,
ADD COLUMN     "rollout_policy" JSONB NOT NULL DEFAULT '{}';

-- CreateIndex
CREATE INDEX "rings_branch_id_follow_idx" ON "rings"("branch_id", "follow");

