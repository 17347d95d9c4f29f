-- AlterTable
ALTER TABLE "rollouts" ADD COLUMN     "pending_version" BIGINT,
ADD COLUMN     "pending_writers" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "rollout_rings" ADD COLUMN     "tracked_version" BIGINT;

-- CreateIndex
CREATE INDEX "machines_state_version_idx" ON "machines"("state_version");



-- Hand-written from here on.

-- The controller's watermark (server/rollouts/controller.ts) relies on every
-- value of this sequence being handed out in order, when taken: no values
-- cached ahead in a session.
ALTER SEQUENCE "machine_state_version" CACHE 1;

-- A new machine takes a version, and what decides a machine's part in
-- rollouts moves it too, so the controller's "changed since" finds late
-- joiners (enrolled, moved in, unpinned, no longer held or excluded) as it
-- finds changes of reported state. Keep the columns in step with
-- ELIGIBLE_SQL and the wave expression in server/rollouts/controller.ts and
-- tracking.ts. (A trigger, not the column's default: Prisma reads a
-- nextval() default as a sequence of the column's own.)
CREATE FUNCTION "machines_membership_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.state_version := nextval('machine_state_version');
  RETURN NEW;
END
$$;

CREATE TRIGGER "machines_membership_version" BEFORE UPDATE ON "machines"
  FOR EACH ROW
  WHEN (OLD.ring_id IS DISTINCT FROM NEW.ring_id
        OR OLD.cohort IS DISTINCT FROM NEW.cohort
        OR OLD.labels IS DISTINCT FROM NEW.labels
        OR OLD.pinned_release_id IS DISTINCT FROM NEW.pinned_release_id
        OR OLD.retired_at IS DISTINCT FROM NEW.retired_at
        OR COALESCE((OLD.rollback_to ->> 'hold')::boolean, false) IS DISTINCT FROM COALESCE((NEW.rollback_to ->> 'hold')::boolean, false))
  EXECUTE FUNCTION "machines_membership_version"();

CREATE TRIGGER "machines_enrolled_version" BEFORE INSERT ON "machines"
  FOR EACH ROW EXECUTE FUNCTION "machines_membership_version"();

-- The controller's other reasons to judge a row again, each a few rows of a
-- large rollout: marked to be judged again (seen_version -1), and unfinished
-- rows by their dark deadline (this one also serves "has unfinished rows",
-- which the index it replaces did).
CREATE INDEX "rollout_machines_rejudge_idx" ON "rollout_machines" ("rollout_id", "ring_id") WHERE "seen_version" < 0;
CREATE INDEX "rollout_machines_unfinished_dark_idx" ON "rollout_machines" ("rollout_id", "ring_id", "dark_at") WHERE "finished_at" IS NULL;
DROP INDEX "rollout_machines_unfinished_idx";
