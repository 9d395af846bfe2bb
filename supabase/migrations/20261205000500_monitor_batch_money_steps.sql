-- The monitor's group commit carries the money steps too (issue 10: a booking's CPU at 500 ms
-- provider latency). REPLACES app.monitor_batch (20261203000300): besides the writes that end a
-- waiting turn, it now accepts app.monitor_begin_attempt, app.monitor_save_attempt and
-- app.monitor_flag_attempt, the core's list (booking_core::engine::SqlFunction::batch).
--
-- Why this keeps persist-then-act: each call still runs in its own savepoint and its caller hears
-- its answer only after the whole transaction committed, so a driver acts (authorize, order,
-- capture) only on a write that is durable, exactly as with a transaction of its own. A call that
-- raises (a compare-and-set conflict, a refused argument) is rolled back alone and answered with
-- its SQLSTATE; the others commit. A batch that fails as a whole (connection lost, a deadlock, a
-- cancel) fails every call in it, and each saga treats that as its own call failing: it stops
-- for this run and resumes from the durable state on the next (the crash-point simulation covers a
-- failed or lost answer at every money step, `cargo test -p booking-core --test simulation`).
--
-- Why batches stay deadlock-free: each of these functions locks only its own trip's rows (the
-- trip, its attempt, its offer; inserts of its own booking, notification, events and alerts) and
-- the two booking flags FOR SHARE; the executor sorts a batch by trip id and a trip has at most one
-- call in flight, so two batches never lock each other's rows, let alone in opposite orders. What
-- the batch adds is only time: a row stays locked until the batch commits (at most a few hundred
-- milliseconds), which a webhook for the same attempt or app.set_feature_flag waits out.
--
-- Reads (app.monitor_passengers, app.monitor_flags), the claim and the heartbeat stay calls of
-- their own.
create or replace function app.monitor_batch(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_call jsonb;
  v_fn text;
  v_out jsonb;
  v_results jsonb[] := '{}';
  v_state text;
begin
  perform app.monitor_args(args, array['calls']);
  if jsonb_typeof(args -> 'calls') is distinct from 'array'
    or jsonb_array_length(args -> 'calls') not between 1 and 1000 then
    raise exception using errcode = '22023', message = 'field calls must be an array of 1 to 1000 calls';
  end if;
  for v_call in select c from jsonb_array_elements(args -> 'calls') as e(c) loop
    perform app.monitor_args(v_call, array['function', 'args']);
    v_fn := v_call ->> 'function';
    if v_fn is null or v_fn not in (
      'monitor_reschedule', 'monitor_expire', 'monitor_record_search', 'monitor_record_search_failure',
      'monitor_begin_attempt', 'monitor_save_attempt', 'monitor_flag_attempt'
    ) then
      raise exception using errcode = '22023', message = format('function %s cannot be batched', left(coalesce(v_fn, 'null'), 64));
    end if;
  end loop;

  for v_call in select c from jsonb_array_elements(args -> 'calls') as e(c) loop
    v_fn := v_call ->> 'function';
    begin
      v_out := case v_fn
        when 'monitor_reschedule' then app.monitor_reschedule(v_call -> 'args')
        when 'monitor_expire' then app.monitor_expire(v_call -> 'args')
        when 'monitor_record_search' then app.monitor_record_search(v_call -> 'args')
        when 'monitor_record_search_failure' then app.monitor_record_search_failure(v_call -> 'args')
        when 'monitor_begin_attempt' then app.monitor_begin_attempt(v_call -> 'args')
        when 'monitor_save_attempt' then app.monitor_save_attempt(v_call -> 'args')
        when 'monitor_flag_attempt' then app.monitor_flag_attempt(v_call -> 'args')
      end;
      v_results := v_results || jsonb_build_object('ok', true, 'result', v_out);
    exception
      when others then
        get stacked diagnostics v_state = returned_sqlstate;
        v_results := v_results || jsonb_build_object('ok', false, 'sqlstate', v_state);
    end;
  end loop;
  return jsonb_build_object('results', to_jsonb(v_results));
end
$$;

comment on function app.monitor_batch(jsonb) is
  'The monitor''s group commit: its per-trip writes (waiting-turn writes and money steps), each in its own savepoint, answered after one commit.';
