-- Webhook signing secrets are kept sealed (AES-256-GCM under the console's
-- encryption key, server/secret-box.ts): the column is renamed, so that a
-- console of an older version still running on this database fails loudly
-- instead of signing with the sealed text.
ALTER TABLE "webhook_subscriptions" RENAME COLUMN "secret" TO "sealed_secret";

-- Every row written from now on must be sealed. The rows of before hold their
-- secrets in clear: the console seals them at its first start with this
-- version, before it serves anything (it holds the key; SQL does not), so the
-- constraint is added NOT VALID, checked on every insert and update but not on
-- the rows already there.
ALTER TABLE "webhook_subscriptions" ADD CONSTRAINT "webhook_subscriptions_secret_sealed" CHECK ("sealed_secret" LIKE 'orchsec1.%') NOT VALID;
