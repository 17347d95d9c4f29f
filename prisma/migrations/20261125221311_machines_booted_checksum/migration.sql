-- CreateIndex
CREATE INDEX "machines_booted_checksum_idx" ON "machines"("booted_checksum");

