-- CreateTable
CREATE TABLE "machine_counts" (
    "id" BIGSERIAL NOT NULL,
    "ring_id" TEXT,
    "booted_version" TEXT,
    "health_status" "HealthStatus" NOT NULL,
    "update_state" "UpdateState" NOT NULL,
    "n" INTEGER NOT NULL,

    CONSTRAINT "machine_counts_pkey" PRIMARY KEY ("id")
);



-- Hand-written from here on.

-- No write to machines from here until this migration commits: the counts
-- below start from the machines as they are then.
LOCK TABLE "machines" IN SHARE ROW EXCLUSIVE MODE;

-- Kept in the statements that keep machines_counted (migration
-- 20261126004231_machine_counted), whose functions are replaced here, and
-- by a statement-level trigger on deletes: each statement on machines
-- appends one signed delta per group it changed. The old values of an
-- update are the copy's own, read in the statement that rewrites it, so a
-- last-seen flush of 5,000 machines (no group changed) appends nothing and
-- costs no more than before. Only appended to, never updated in place, so
-- that writers never wait on each other's counts; summed when read and
-- folded by the console (server/machines/counts.ts).
CREATE OR REPLACE FUNCTION "machines_counted_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO machines_counted (id, ring_id, booted_version, health_status, update_state, update_state_since, last_seen_at, retired)
  SELECT id, ring_id, booted_version, health_status, update_state, update_state_since, last_seen_at, retired_at IS NOT NULL
    FROM new_machines;
  INSERT INTO machine_counts (ring_id, booted_version, health_status, update_state, n)
  SELECT ring_id, booted_version, health_status, update_state, count(*)
    FROM new_machines WHERE retired_at IS NULL
   GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END
$$;

-- The copy's rows locked by the statement on machines (it holds their
-- machines rows until it commits), so the old values read here are the
-- ones this statement replaces.
CREATE OR REPLACE FUNCTION "machines_counted_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH changed AS (
    SELECT n.id, c.ring_id AS was_ring_id, c.booted_version AS was_booted_version, c.health_status AS was_health_status,
           c.update_state AS was_update_state, c.retired AS was_retired,
           n.ring_id, n.booted_version, n.health_status, n.update_state, n.update_state_since, n.last_seen_at,
           n.retired_at IS NOT NULL AS retired
      FROM machines_counted AS c JOIN new_machines AS n ON n.id = c.id
     WHERE (c.ring_id, c.booted_version, c.health_status, c.update_state, c.update_state_since, c.last_seen_at, c.retired)
           IS DISTINCT FROM
           (n.ring_id, n.booted_version, n.health_status, n.update_state, n.update_state_since, n.last_seen_at, n.retired_at IS NOT NULL)
  ), copied AS (
    UPDATE machines_counted AS c
       SET ring_id = n.ring_id, booted_version = n.booted_version, health_status = n.health_status,
           update_state = n.update_state, update_state_since = n.update_state_since,
           last_seen_at = n.last_seen_at, retired = n.retired
      FROM changed AS n
     WHERE c.id = n.id
  )
  INSERT INTO machine_counts (ring_id, booted_version, health_status, update_state, n)
  SELECT d.ring_id, d.booted_version, d.health_status, d.update_state, sum(d.n)
    FROM changed AS ch
   CROSS JOIN LATERAL (VALUES (ch.was_ring_id, ch.was_booted_version, ch.was_health_status, ch.was_update_state,
                               CASE WHEN ch.was_retired THEN 0 ELSE -1 END),
                              (ch.ring_id, ch.booted_version, ch.health_status, ch.update_state,
                               CASE WHEN ch.retired THEN 0 ELSE 1 END))
                 AS d(ring_id, booted_version, health_status, update_state, n)
   WHERE (ch.was_ring_id, ch.was_booted_version, ch.was_health_status, ch.was_update_state, ch.was_retired)
         IS DISTINCT FROM (ch.ring_id, ch.booted_version, ch.health_status, ch.update_state, ch.retired)
   GROUP BY 1, 2, 3, 4
  HAVING sum(d.n) <> 0;
  RETURN NULL;
END
$$;

-- Deleted machines (their copy goes with the foreign key's cascade).
CREATE FUNCTION "machine_counts_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO machine_counts (ring_id, booted_version, health_status, update_state, n)
  SELECT ring_id, booted_version, health_status, update_state, -count(*)
    FROM old_machines WHERE retired_at IS NULL
   GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END
$$;

CREATE TRIGGER "machine_counts_delete" AFTER DELETE ON "machines"
  REFERENCING OLD TABLE AS old_machines
  FOR EACH STATEMENT EXECUTE FUNCTION "machine_counts_delete"();

-- The machines already there (none written meanwhile: the lock above).
INSERT INTO "machine_counts" ("ring_id", "booted_version", "health_status", "update_state", "n")
SELECT "ring_id", "booted_version", "health_status", "update_state", count(*)
  FROM "machines" WHERE "retired_at" IS NULL
 GROUP BY 1, 2, 3, 4;
