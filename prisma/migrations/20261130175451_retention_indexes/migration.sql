-- CreateIndex
CREATE INDEX "machines_retired_at_idx" ON "machines"("retired_at");

-- CreateIndex
CREATE INDEX "machine_changes_at_idx" ON "machine_changes"("at");

