-- The schema did not change: hand-written SQL only.

-- Hand-written: TRUNCATE fires no row trigger, so audit_log_append_only
-- (BEFORE UPDATE OR DELETE … FOR EACH ROW) let it empty the audit log. A
-- statement-level trigger refuses it with the same message. The tables'
-- owner can still disable triggers: run the console as a role that does not
-- own them (README, "Running it in production").
CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON "audit_log"
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
