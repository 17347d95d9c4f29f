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

-- Kept by three statement-level triggers on machines_counted (itself kept
-- equal to machines by triggers), each appending one signed delta per group
-- that the statement changed: a last-seen flush of 5,000 machines changes
-- no group and appends nothing. Only appended to, never updated in place,
-- so that writers never wait on each other's counts; summed when read and
-- folded by the console (server/machines/counts.ts).
CREATE FUNCTION "machine_counts_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO machine_counts (ring_id, booted_version, health_status, update_state, n)
  SELECT ring_id, booted_version, health_status, update_state, count(*)
    FROM new_counted WHERE NOT retired
   GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END
$$;

CREATE FUNCTION "machine_counts_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO machine_counts (ring_id, booted_version, health_status, update_state, n)
  SELECT d.ring_id, d.booted_version, d.health_status, d.update_state, sum(d.n)
    FROM old_counted o JOIN new_counted c ON c.id = o.id
   CROSS JOIN LATERAL (VALUES (o.ring_id, o.booted_version, o.health_status, o.update_state, CASE WHEN o.retired THEN 0 ELSE -1 END),
                              (c.ring_id, c.booted_version, c.health_status, c.update_state, CASE WHEN c.retired THEN 0 ELSE 1 END))
                 AS d(ring_id, booted_version, health_status, update_state, n)
   WHERE (o.ring_id, o.booted_version, o.health_status, o.update_state, o.retired)
         IS DISTINCT FROM (c.ring_id, c.booted_version, c.health_status, c.update_state, c.retired)
   GROUP BY 1, 2, 3, 4
  HAVING sum(d.n) <> 0;
  RETURN NULL;
END
$$;

CREATE FUNCTION "machine_counts_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO machine_counts (ring_id, booted_version, health_status, update_state, n)
  SELECT ring_id, booted_version, health_status, update_state, -count(*)
    FROM old_counted WHERE NOT retired
   GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END
$$;

CREATE TRIGGER "machine_counts_insert" AFTER INSERT ON "machines_counted"
  REFERENCING NEW TABLE AS new_counted
  FOR EACH STATEMENT EXECUTE FUNCTION "machine_counts_insert"();

CREATE TRIGGER "machine_counts_update" AFTER UPDATE ON "machines_counted"
  REFERENCING OLD TABLE AS old_counted NEW TABLE AS new_counted
  FOR EACH STATEMENT EXECUTE FUNCTION "machine_counts_update"();

-- Deleted machines leave machines_counted through its foreign key's cascade.
CREATE TRIGGER "machine_counts_delete" AFTER DELETE ON "machines_counted"
  REFERENCING OLD TABLE AS old_counted
  FOR EACH STATEMENT EXECUTE FUNCTION "machine_counts_delete"();

-- The machines already there. CREATE TRIGGER locked machines_counted against
-- writes until this migration commits, so none is missed.
INSERT INTO "machine_counts" ("ring_id", "booted_version", "health_status", "update_state", "n")
SELECT "ring_id", "booted_version", "health_status", "update_state", count(*)
  FROM "machines_counted" WHERE NOT "retired"
 GROUP BY 1, 2, 3, 4;
