-- Every console process caches what it answers machines from (server/agents/
-- agent-service.ts): machines by token, and ring views. These triggers tell
-- every process, through NOTIFY on channel orchard_cache, when a row such a
-- cache is read from changed, whoever wrote it: a console process, the
-- `orchard` command, the controller, or SQL by hand. A notification is
-- delivered only when its transaction commits. Payloads:
--   machine:<machines.id>   forget that machine
--   ring:<rings.id>         forget that ring's view (and the machines read before it)
--   all                     forget everything (a release or a branch's path changed)
-- Only columns the caches read are watched: an agent's own check-in (its
-- reported state) and the last-seen flush notify nobody.

CREATE FUNCTION "orchard_cache_machine"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('orchard_cache', 'machine:' || OLD.id);
  ELSE
    PERFORM pg_notify('orchard_cache', 'machine:' || NEW.id);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_machine_update" AFTER UPDATE ON "machines" FOR EACH ROW
  WHEN ((OLD.ring_id, OLD.pinned_release_id, OLD.pin_allows_downgrade, OLD.allow_downgrade_to, OLD.rollback_to,
         OLD.retired_at, OLD.labels, OLD.cohort, OLD.slot_refused_target, OLD.public_key)
        IS DISTINCT FROM
        (NEW.ring_id, NEW.pinned_release_id, NEW.pin_allows_downgrade, NEW.allow_downgrade_to, NEW.rollback_to,
         NEW.retired_at, NEW.labels, NEW.cohort, NEW.slot_refused_target, NEW.public_key)
        -- Reported state written by anyone but a check-in (which changes the state hash too).
        OR (OLD.state_hash IS NOT DISTINCT FROM NEW.state_hash
            AND (OLD.booted_checksum, OLD.update_state, OLD.update_target)
                IS DISTINCT FROM (NEW.booted_checksum, NEW.update_state, NEW.update_target)))
  EXECUTE FUNCTION "orchard_cache_machine"();

CREATE TRIGGER "orchard_cache_machine_delete" AFTER DELETE ON "machines" FOR EACH ROW
  EXECUTE FUNCTION "orchard_cache_machine"();

-- A token revoked (enrolling again), added or removed: its machine.
CREATE FUNCTION "orchard_cache_machine_token"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('orchard_cache', 'machine:' || OLD.machine_id);
  ELSE
    PERFORM pg_notify('orchard_cache', 'machine:' || NEW.machine_id);
    IF TG_OP = 'UPDATE' AND OLD.machine_id <> NEW.machine_id THEN
      PERFORM pg_notify('orchard_cache', 'machine:' || OLD.machine_id);
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_machine_token_update" AFTER UPDATE ON "machine_tokens" FOR EACH ROW
  WHEN ((OLD.machine_id, OLD.token_hash, OLD.revoked_at) IS DISTINCT FROM (NEW.machine_id, NEW.token_hash, NEW.revoked_at))
  EXECUTE FUNCTION "orchard_cache_machine_token"();

CREATE TRIGGER "orchard_cache_machine_token_change" AFTER INSERT OR DELETE ON "machine_tokens" FOR EACH ROW
  EXECUTE FUNCTION "orchard_cache_machine_token"();

-- A ring's release, name or interval.
CREATE FUNCTION "orchard_cache_ring"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('orchard_cache', 'ring:' || OLD.id);
  ELSE
    PERFORM pg_notify('orchard_cache', 'ring:' || NEW.id);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_ring_update" AFTER UPDATE ON "rings" FOR EACH ROW
  WHEN ((OLD.name, OLD.current_release_id, OLD.check_in_interval_seconds, OLD.branch_id)
        IS DISTINCT FROM (NEW.name, NEW.current_release_id, NEW.check_in_interval_seconds, NEW.branch_id))
  EXECUTE FUNCTION "orchard_cache_ring"();

CREATE TRIGGER "orchard_cache_ring_delete" AFTER DELETE ON "rings" FOR EACH ROW
  EXECUTE FUNCTION "orchard_cache_ring"();

-- A rollout's state (pause, brake, abort, revert): each ring it is in.
CREATE FUNCTION "orchard_cache_rollout"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('orchard_cache', 'ring:' || rr.ring_id) FROM rollout_rings rr WHERE rr.rollout_id = NEW.id;
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_rollout_update" AFTER UPDATE ON "rollouts" FOR EACH ROW
  WHEN ((OLD.state, OLD.paused_by, OLD.pause_reason, OLD.allow_downgrade, OLD.release_id)
        IS DISTINCT FROM (NEW.state, NEW.paused_by, NEW.pause_reason, NEW.allow_downgrade, NEW.release_id))
  EXECUTE FUNCTION "orchard_cache_rollout"();

-- A rollout's ring: its phase, open wave and membership.
CREATE FUNCTION "orchard_cache_rollout_ring"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('orchard_cache', 'ring:' || OLD.ring_id);
  ELSE
    PERFORM pg_notify('orchard_cache', 'ring:' || NEW.ring_id);
    IF TG_OP = 'UPDATE' AND OLD.ring_id <> NEW.ring_id THEN
      PERFORM pg_notify('orchard_cache', 'ring:' || OLD.ring_id);
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_rollout_ring_update" AFTER UPDATE ON "rollout_rings" FOR EACH ROW
  WHEN ((OLD.ring_id, OLD.phase, OLD.open_wave, OLD.single_first, OLD.percents, OLD.force_first, OLD.exclude, OLD.first_machine_ids)
        IS DISTINCT FROM
        (NEW.ring_id, NEW.phase, NEW.open_wave, NEW.single_first, NEW.percents, NEW.force_first, NEW.exclude, NEW.first_machine_ids))
  EXECUTE FUNCTION "orchard_cache_rollout_ring"();

CREATE TRIGGER "orchard_cache_rollout_ring_change" AFTER INSERT OR DELETE ON "rollout_rings" FOR EACH ROW
  EXECUTE FUNCTION "orchard_cache_rollout_ring"();

-- A release quarantined or lifted (the brake), made a floor, renamed; a
-- blocked path; a branch's ref: rare, and seen by rings and pins alike.
CREATE FUNCTION "orchard_cache_all"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('orchard_cache', 'all');
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_release_update" AFTER UPDATE ON "releases" FOR EACH ROW
  WHEN ((OLD.quarantined_at, OLD.floor, OLD.checksum, OLD.version, OLD.branch_id, OLD.seq)
        IS DISTINCT FROM (NEW.quarantined_at, NEW.floor, NEW.checksum, NEW.version, NEW.branch_id, NEW.seq))
  EXECUTE FUNCTION "orchard_cache_all"();

CREATE TRIGGER "orchard_cache_blocked_path" AFTER INSERT OR UPDATE OR DELETE ON "blocked_paths" FOR EACH STATEMENT
  EXECUTE FUNCTION "orchard_cache_all"();

CREATE TRIGGER "orchard_cache_branch_update" AFTER UPDATE ON "branches" FOR EACH ROW
  WHEN (OLD.ref IS DISTINCT FROM NEW.ref)
  EXECUTE FUNCTION "orchard_cache_all"();

CREATE TRIGGER "orchard_cache_release_delete" AFTER DELETE ON "releases" FOR EACH STATEMENT
  EXECUTE FUNCTION "orchard_cache_all"();

-- A new release changes its branch's update path only where the branch has one (a floor or a blocked path).
CREATE FUNCTION "orchard_cache_release_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.floor OR EXISTS (SELECT 1 FROM releases f WHERE f.branch_id = NEW.branch_id AND f.floor)
     OR EXISTS (SELECT 1 FROM blocked_paths bp JOIN releases t ON t.id = bp.to_release_id WHERE t.branch_id = NEW.branch_id) THEN
    PERFORM pg_notify('orchard_cache', 'all');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "orchard_cache_release_insert" AFTER INSERT ON "releases" FOR EACH ROW
  EXECUTE FUNCTION "orchard_cache_release_insert"();
