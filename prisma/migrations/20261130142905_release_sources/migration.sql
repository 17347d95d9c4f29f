-- CreateEnum
CREATE TYPE "ReleaseSourceKind" AS ENUM ('ostree', 'oci');

-- CreateEnum
CREATE TYPE "SignatureState" AS ENUM ('valid', 'unsigned', 'invalid', 'not_checked');

-- AlterTable
ALTER TABLE "releases" ADD COLUMN     "body" TEXT,
ADD COLUMN     "built_at" TIMESTAMPTZ(3),
ADD COLUMN     "metadata" JSONB,
ADD COLUMN     "signature_reason" TEXT,
ADD COLUMN     "signature_state" "SignatureState" NOT NULL DEFAULT 'not_checked',
ADD COLUMN     "source_id" TEXT,
ADD COLUMN     "subject" TEXT;

-- CreateTable
CREATE TABLE "release_sources" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "branch_id" TEXT NOT NULL,
    "kind" "ReleaseSourceKind" NOT NULL,
    "config" JSONB NOT NULL,
    "poll_interval_seconds" INTEGER NOT NULL DEFAULT 300,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "last_sync_at" TIMESTAMPTZ(3),
    "last_success_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "consecutive_failures" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_until" TIMESTAMPTZ(3),
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "release_sources_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "release_sources_name_key" ON "release_sources"("name");

-- CreateIndex
CREATE INDEX "release_sources_branch_id_idx" ON "release_sources"("branch_id");

-- CreateIndex
CREATE INDEX "release_sources_enabled_next_attempt_at_idx" ON "release_sources"("enabled", "next_attempt_at");

-- CreateIndex
CREATE INDEX "releases_source_id_idx" ON "releases"("source_id");

-- AddForeignKey
ALTER TABLE "releases" ADD CONSTRAINT "releases_source_id_fkey" FOREIGN KEY ("source_id") REFERENCES "release_sources"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "release_sources" ADD CONSTRAINT "release_sources_branch_id_fkey" FOREIGN KEY ("branch_id") REFERENCES "branches"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- A sane poll interval, and a reason wherever a release may not be sent.
ALTER TABLE "release_sources" ADD CONSTRAINT "release_sources_poll_interval" CHECK ("poll_interval_seconds" >= 1);
ALTER TABLE "releases" ADD CONSTRAINT "releases_signature_reason" CHECK ("signature_state" IN ('valid', 'not_checked') OR "signature_reason" IS NOT NULL);
