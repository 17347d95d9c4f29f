-- CreateEnum
CREATE TYPE "MachineChangeKind" AS ENUM ('deployment', 'update', 'health');

-- CreateTable
CREATE TABLE "machine_changes" (
    "id" BIGSERIAL NOT NULL,
    "machine_id" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "kind" "MachineChangeKind" NOT NULL,
    "before" TEXT,
    "after" TEXT,
    "detail" TEXT,

    CONSTRAINT "machine_changes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "version_snapshots" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "ring_id" TEXT,
    "version" TEXT,
    "machines" INTEGER NOT NULL,

    CONSTRAINT "version_snapshots_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "machine_changes_machine_id_at_idx" ON "machine_changes"("machine_id", "at");

-- CreateIndex
CREATE INDEX "version_snapshots_at_idx" ON "version_snapshots"("at");

-- AddForeignKey
ALTER TABLE "machine_changes" ADD CONSTRAINT "machine_changes_machine_id_fkey" FOREIGN KEY ("machine_id") REFERENCES "machines"("id") ON DELETE CASCADE ON UPDATE CASCADE;

