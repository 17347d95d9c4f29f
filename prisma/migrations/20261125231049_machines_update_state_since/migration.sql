-- CreateIndex
CREATE INDEX "machines_update_state_update_state_since_idx" ON "machines"("update_state", "update_state_since");

