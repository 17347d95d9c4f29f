-- AlterTable
ALTER TABLE "machines" ADD COLUMN     "health_status_since" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "machines_counted" (
    "id" TEXT NOT NULL,
    "ring_id" TEXT,
    "booted_version" TEXT,
    "health_status" "HealthStatus" NOT NULL,
    "update_state" "UpdateState" NOT NULL,
    "update_state_since" TIMESTAMPTZ(3),
    "last_seen_at" TIMESTAMPTZ(3),
    "retired" BOOLEAN NOT NULL,

    CONSTRAINT "machines_counted_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "machines_health_status_health_status_since_idx" ON "machines"("health_status", "health_status_since");

-- CreateIndex
CREATE INDEX "machines_booted_ref_idx" ON "machines"("booted_ref");

-- AddForeignKey
ALTER TABLE "machines_counted" ADD CONSTRAINT "machines_counted_id_fkey" FOREIGN KEY ("id") REFERENCES "machines"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Hand-written from here on.

-- Health changed at some time no later than the row's last update.
UPDATE "machines" SET "health_status_since" = "updated_at";

-- The dashboard's "dark machines" list: few rows, read newest first.
CREATE INDEX "rollout_machines_dark_idx" ON "rollout_machines"("finished_at") WHERE "step" = 'dark';

-- machines_counted is rewritten in place on every last-seen flush: leave
-- room on each page for the new row versions (HOT updates).
ALTER TABLE "machines_counted" SET (fillfactor = 70);

-- Kept equal to machines by two statement-level triggers: one set-based
-- statement per statement on machines (a last-seen flush of 5,000 machines
-- is one UPDATE here), writing only rows whose counted columns changed.
-- Deleted machines go with the foreign key's cascade.
CREATE FUNCTION "machines_counted_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO machines_counted (id, ring_id, booted_version, health_status, update_state, update_state_since, last_seen_at, retired)
  SELECT id, ring_id, booted_version, health_status, update_state, update_state_since, last_seen_at, retired_at IS NOT NULL
    FROM new_machines;
  RETURN NULL;
END
$$;

CREATE FUNCTION "machines_counted_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE machines_counted AS c
     SET ring_id = n.ring_id, booted_version = n.booted_version, health_status = n.health_status,
         update_state = n.update_state, update_state_since = n.update_state_since,
         last_seen_at = n.last_seen_at, retired = n.retired_at IS NOT NULL
    FROM new_machines AS n
   WHERE c.id = n.id
     AND (c.ring_id, c.booted_version, c.health_status, c.update_state, c.update_state_since, c.last_seen_at, c.retired)
         IS DISTINCT FROM
         (n.ring_id, n.booted_version, n.health_status, n.update_state, n.update_state_since, n.last_seen_at, n.retired_at IS NOT NULL);
  RETURN NULL;
END
$$;

CREATE TRIGGER "machines_counted_insert" AFTER INSERT ON "machines"
  REFERENCING NEW TABLE AS new_machines
  FOR EACH STATEMENT EXECUTE FUNCTION "machines_counted_insert"();

CREATE TRIGGER "machines_counted_update" AFTER UPDATE ON "machines"
  REFERENCING NEW TABLE AS new_machines
  FOR EACH STATEMENT EXECUTE FUNCTION "machines_counted_update"();

-- The machines already there. CREATE TRIGGER locked machines against writes
-- until this migration commits, so none is missed.
INSERT INTO "machines_counted" ("id", "ring_id", "booted_version", "health_status", "update_state", "update_state_since", "last_seen_at", "retired")
SELECT "id", "ring_id", "booted_version", "health_status", "update_state", "update_state_since", "last_seen_at", "retired_at" IS NOT NULL
  FROM "machines";
