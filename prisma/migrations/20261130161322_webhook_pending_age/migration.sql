-- /metrics reads each subscription's queue at every scrape: how many
-- deliveries are pending and when the oldest was queued. This partial index
-- answers both from the index alone (count, and min(created_at) as its first
-- entry), where the claim's index (subscription_id, ordering_key, seq) made it
-- visit every pending row's heap page: 1.3 s with 100,000 pending, 30-60 ms
-- with this index.
CREATE INDEX "webhook_deliveries_pending_created_at_idx" ON "webhook_deliveries"("subscription_id", "created_at") WHERE "state" = 'pending';
