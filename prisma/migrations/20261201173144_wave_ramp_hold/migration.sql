-- AlterTable
ALTER TABLE "rollout_rings" ADD COLUMN     "ramp_held_at" TIMESTAMPTZ(3);

