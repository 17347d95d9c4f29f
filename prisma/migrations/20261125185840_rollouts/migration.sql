-- CreateEnum
CREATE TYPE "RolloutState" AS ENUM ('draft', 'running', 'paused', 'awaiting_approval', 'completed', 'aborted', 'reverted');

-- CreateEnum
CREATE TYPE "RolloutRingPhase" AS ENUM ('pending', 'active', 'awaiting_approval', 'completed', 'reverted');

-- CreateEnum
CREATE TYPE "MachineStep" AS ENUM ('pending', 'assigned', 'downloading', 'staged', 'rebooting', 'verifying', 'succeeded', 'failed', 'rolled_back', 'dark');

-- AlterTable
ALTER TABLE "releases" ADD COLUMN     "quarantine_reason" TEXT,
ADD COLUMN     "quarantined_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "rings" ADD COLUMN     "blackout_dates" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "cohort_seed" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "failure_domain_label" TEXT,
ADD COLUMN     "maintenance_windows" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "time_zone" TEXT NOT NULL DEFAULT 'UTC';

-- AlterTable
ALTER TABLE "machines" ADD COLUMN     "cohort" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "pin_allows_downgrade" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "pinned_at" TIMESTAMPTZ(3),
ADD COLUMN     "pinned_release_id" TEXT,
ADD COLUMN     "rollback_to" JSONB,
ADD COLUMN     "state_version" BIGINT NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "reboot_leases" ADD COLUMN     "domain" TEXT;

-- CreateTable
CREATE TABLE "rollouts" (
    "id" TEXT NOT NULL,
    "release_id" TEXT NOT NULL,
    "state" "RolloutState" NOT NULL DEFAULT 'draft',
    "pause_reason" TEXT,
    "waiting_for" TEXT,
    "paused_by" TEXT,
    "allow_downgrade" BOOLEAN NOT NULL DEFAULT false,
    "created_by_id" TEXT,
    "created_by" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "rollouts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rollout_rings" (
    "id" TEXT NOT NULL,
    "rollout_id" TEXT NOT NULL,
    "ring_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "single_first" BOOLEAN NOT NULL DEFAULT true,
    "percents" JSONB NOT NULL,
    "soak_seconds" INTEGER NOT NULL,
    "max_failure_rate" DOUBLE PRECISION NOT NULL,
    "min_sample" INTEGER NOT NULL,
    "dark_after_seconds" INTEGER NOT NULL,
    "approval_required" BOOLEAN NOT NULL DEFAULT false,
    "force_first" JSONB NOT NULL DEFAULT '{}',
    "exclude" JSONB NOT NULL DEFAULT '{}',
    "phase" "RolloutRingPhase" NOT NULL DEFAULT 'pending',
    "open_wave" INTEGER NOT NULL DEFAULT -1,
    "wave_opened_at" TIMESTAMPTZ(3),
    "first_machine_ids" JSONB NOT NULL DEFAULT '[]',
    "previous_release_id" TEXT,
    "approved_at" TIMESTAMPTZ(3),
    "approved_by" TEXT,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollout_rings_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rollout_machines" (
    "id" TEXT NOT NULL,
    "rollout_id" TEXT NOT NULL,
    "machine_id" TEXT NOT NULL,
    "ring_id" TEXT NOT NULL,
    "wave" INTEGER NOT NULL,
    "step" "MachineStep" NOT NULL DEFAULT 'assigned',
    "assigned_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3),
    "previous_checksum" TEXT,
    "previous_ref" TEXT,
    "previous_version" TEXT,
    "detail" TEXT,
    "seen_version" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "rollout_machines_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "rollouts_state_created_at_idx" ON "rollouts"("state", "created_at");

-- CreateIndex
CREATE INDEX "rollouts_release_id_idx" ON "rollouts"("release_id");

-- CreateIndex
CREATE INDEX "rollouts_created_at_idx" ON "rollouts"("created_at");

-- CreateIndex
CREATE INDEX "rollout_rings_ring_id_phase_idx" ON "rollout_rings"("ring_id", "phase");

-- CreateIndex
CREATE UNIQUE INDEX "rollout_rings_rollout_id_position_key" ON "rollout_rings"("rollout_id", "position");

-- CreateIndex
CREATE UNIQUE INDEX "rollout_rings_rollout_id_ring_id_key" ON "rollout_rings"("rollout_id", "ring_id");

-- CreateIndex
CREATE INDEX "rollout_machines_rollout_id_ring_id_wave_step_idx" ON "rollout_machines"("rollout_id", "ring_id", "wave", "step");

-- CreateIndex
CREATE INDEX "rollout_machines_machine_id_assigned_at_idx" ON "rollout_machines"("machine_id", "assigned_at");

-- CreateIndex
CREATE UNIQUE INDEX "rollout_machines_rollout_id_machine_id_key" ON "rollout_machines"("rollout_id", "machine_id");

-- CreateIndex
CREATE INDEX "machines_ring_id_cohort_idx" ON "machines"("ring_id", "cohort");

-- AddForeignKey
ALTER TABLE "machines" ADD CONSTRAINT "machines_pinned_release_id_fkey" FOREIGN KEY ("pinned_release_id") REFERENCES "releases"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_release_id_fkey" FOREIGN KEY ("release_id") REFERENCES "releases"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_rings" ADD CONSTRAINT "rollout_rings_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_rings" ADD CONSTRAINT "rollout_rings_ring_id_fkey" FOREIGN KEY ("ring_id") REFERENCES "rings"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_machines" ADD CONSTRAINT "rollout_machines_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_machines" ADD CONSTRAINT "rollout_machines_machine_id_fkey" FOREIGN KEY ("machine_id") REFERENCES "machines"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Hand-written: the sequence behind machines.state_version.
CREATE SEQUENCE "machine_state_version";

-- Hand-written: place existing machines in their ring's cohort space, exactly
-- as server/rollouts/cohort.ts does: the first 52 bits of
-- sha256(seed || ':' || machine_id), divided by 2^52.
UPDATE "machines" AS m
   SET "cohort" = ('x' || substr(encode(sha256(convert_to(
          COALESCE((SELECT r."cohort_seed" FROM "rings" r WHERE r."id" = m."ring_id"), '') || ':' || m."machine_id",
          'UTF8')), 'hex'), 1, 13))::bit(52)::bigint::float8 / 4503599627370496;
