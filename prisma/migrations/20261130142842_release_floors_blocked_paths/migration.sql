-- AlterTable
ALTER TABLE "releases" ADD COLUMN     "floor" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "floor_reason" TEXT,
ADD COLUMN     "seq" SERIAL NOT NULL;

-- CreateTable
CREATE TABLE "blocked_paths" (
    "id" TEXT NOT NULL,
    "from_release_id" TEXT NOT NULL,
    "to_release_id" TEXT NOT NULL,
    "reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "blocked_paths_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "blocked_paths_to_release_id_idx" ON "blocked_paths"("to_release_id");

-- CreateIndex
CREATE UNIQUE INDEX "blocked_paths_from_release_id_to_release_id_key" ON "blocked_paths"("from_release_id", "to_release_id");

-- CreateIndex
CREATE INDEX "releases_branch_id_seq_idx" ON "releases"("branch_id", "seq");

-- AddForeignKey
ALTER TABLE "blocked_paths" ADD CONSTRAINT "blocked_paths_from_release_id_fkey" FOREIGN KEY ("from_release_id") REFERENCES "releases"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "blocked_paths" ADD CONSTRAINT "blocked_paths_to_release_id_fkey" FOREIGN KEY ("to_release_id") REFERENCES "releases"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Releases already registered are numbered in the order they were registered.
UPDATE "releases" r SET "seq" = o.n
  FROM (SELECT "id", row_number() OVER (ORDER BY "created_at", "id") AS n FROM "releases") o
 WHERE r."id" = o."id";
SELECT setval(pg_get_serial_sequence('releases', 'seq'), COALESCE((SELECT max("seq") FROM "releases"), 0) + 1, false);

-- A blocked path goes forward, from one release to another.
ALTER TABLE "blocked_paths" ADD CONSTRAINT "blocked_paths_not_self" CHECK ("from_release_id" <> "to_release_id");
