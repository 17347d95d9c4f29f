-- AlterTable
ALTER TABLE "rollout_rings" ADD COLUMN     "ramp_seconds" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "ramp_started_at" TIMESTAMPTZ(3),
ADD COLUMN     "wave_machines" INTEGER NOT NULL DEFAULT 0;

