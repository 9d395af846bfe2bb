-- Review of 20261205000500 (the money steps through the monitor's group commit):
--
-- 1. app.monitor_batch waits at most 2 s for any row lock (lock_timeout, for the call's duration).
--    One call of a batch waiting on a lock (an operator's session, an erasure, a long webhook)
--    would otherwise hold every other call of the batch, and with 2 batches in flight per run all
--    of the run's batched SQL. The call that waited gets 55P03 in its own savepoint: its driver
--    stops (a transient failure, not a permanent one) and resumes on the next run; the others
--    commit. A money step that hears 55P03 wrote nothing, exactly like a rolled-back call.
--
-- 2. app.set_feature_flag queues ahead of new begins. monitor_begin_attempt takes the two booking
--    flags FOR SHARE (so a begin is ordered with a flag change: it commits on the old value
--    before the change, or sees the new one), and in a batch it holds them until the batch
--    commits. A flag change waits FOR UPDATE on the row, and new FOR SHARE lockers do not queue
--    behind a waiting row lock: overlapping batches (2 per run, several runs) could keep the kill
--    switch waiting for as long as bookings keep beginning. The table lock below (EXCLUSIVE:
--    conflicts with FOR SHARE's ROW SHARE, not with plain reads) is a heavyweight lock, which
--    later requests do queue behind: the change waits only for the batches already holding the
--    flags, and every begin after it sees the new value. The function body is unchanged, renamed
--    to app.set_feature_flag_unqueued and reachable only through the wrapper.

alter function app.monitor_batch(jsonb) set lock_timeout = '2s';

alter function app.set_feature_flag(jsonb) rename to set_feature_flag_unqueued;
revoke all on function app.set_feature_flag_unqueued(jsonb) from public, anon, authenticated, service_role;

create function app.set_feature_flag(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  lock table public.feature_flags in exclusive mode;
  return app.set_feature_flag_unqueued(args);
end
$$;

comment on function app.set_feature_flag(jsonb) is
  'Change a flag (audited, app.set_feature_flag_unqueued), first queueing on the flags table so that begins holding the flags FOR SHARE cannot keep the change waiting.';

revoke all on function app.set_feature_flag(jsonb) from public, anon, authenticated;
grant execute on function app.set_feature_flag(jsonb) to service_role;
