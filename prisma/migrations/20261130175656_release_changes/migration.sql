-- CreateTable
CREATE TABLE "release_changes" (
    "release_id" TEXT NOT NULL,
    "base_release_id" TEXT,
    "base_version" TEXT NOT NULL,
    "kind" "ReleaseSourceKind" NOT NULL,
    "added" INTEGER,
    "removed" INTEGER,
    "modified" INTEGER,
    "paths" JSONB,
    "paths_truncated" BOOLEAN NOT NULL DEFAULT false,
    "metadata" JSONB,
    "image" JSONB,
    "error" TEXT,
    "computed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "release_changes_pkey" PRIMARY KEY ("release_id")
);

-- CreateIndex
CREATE INDEX "release_changes_base_release_id_idx" ON "release_changes"("base_release_id");

-- AddForeignKey
ALTER TABLE "release_changes" ADD CONSTRAINT "release_changes_release_id_fkey" FOREIGN KEY ("release_id") REFERENCES "releases"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "release_changes" ADD CONSTRAINT "release_changes_base_release_id_fkey" FOREIGN KEY ("base_release_id") REFERENCES "releases"("id") ON DELETE SET NULL ON UPDATE CASCADE;

