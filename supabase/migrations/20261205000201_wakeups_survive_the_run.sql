-- A wake-up made while a monitor run holds the trip survives the run's reschedule.
--
-- The race (docs/saga.md named it as an open limit): a run claims a watched trip (the claim sets
-- next_check_at to the end of its lease), then the traveller changes the criteria, resumes the
-- trip or asks for something that makes it due now (app.trips_control `update` / `resume`, the
-- payment helper, the cancel wake-up triggers: `next_check_at = now()`). The run, which read the
-- trip before that, finishes its check and writes its own next check (hours away for a trip far
-- from departure) over the wake-up, so the new criteria waited up to 6 hours. Booking was never
-- at risk (an attempt begins only on the trip version the claim read), the traveller's wait was.
--
-- How a wake-up is recognised: the new column trip_requests.woken_at, kept by the trigger
-- trip_requests_woken on every change of next_check_at: a change that makes the trip due
-- (next_check_at <= now(): the traveller's `update` / `resume`, the payment helper, the cancel
-- wake-up triggers, a refused save, an operator's resume) sets it to now(); any other change (a
-- claim's lease, a run's next check, a search's next check) clears it. So after a claim it is
-- null until something wakes the trip. A lease that ran out with nothing else writing the trip
-- is not a wake-up. A trip inserted due is not woken (nothing woke it during a run).

-- REPLACED (from 20261123000600_monitor_api.sql, same arguments and answers):
--   app.monitor_reschedule: keeps a due wake-up instead of writing next_check_at (check_count
--     still counts the check, the `monitor` event says `woken: true` and the kept time);
--   app.monitor_record_search: a search the run made before the trip was woken was made under
--     what the trip WAS (criteria the traveller may just have changed: `update` drops the
--     selection on purpose): it is not recorded. The answer is the usual {trip, selected_offer}
--     with selected_offer null and "stale": true (the driver then ends the trip `searched` and
--     never books from it: crates/booking-core/src/monitor/driver/route.rs after_selection), a
--     `monitor` event (decision `search_discarded`, reason `trip_changed`) says so, and the trip
--     stays due, so the next run searches under the new criteria. Without the fix such a search
--     was recorded and could be booked at once when its price met the new maximum, even if its
--     cabin or stops did not meet the new criteria.
--   app.monitor_record_search_failure: records as before, then keeps a wake-up due.

alter table public.trip_requests add column woken_at timestamptz;

comment on column public.trip_requests.woken_at is
  'When a write last made the trip due (next_check_at <= now()); cleared by any later change of next_check_at (a claim''s lease, a next check). A monitor run that claimed the trip never overwrites such a wake-up. Trigger trip_requests_woken.';

create function app.trip_requests_woken()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.next_check_at is distinct from old.next_check_at then
    new.woken_at := case when new.next_check_at <= now() then now() end;
  end if;
  return new;
end
$$;

revoke all on function app.trip_requests_woken() from public;

-- After every other BEFORE UPDATE trigger (they fire in name order; the cancel wake-up triggers
-- set next_check_at themselves).
create trigger trip_requests_woken
before update on public.trip_requests
for each row execute function app.trip_requests_woken();

create function app.trip_woken_at(trip public.trip_requests)
returns timestamptz
language sql
immutable
set search_path = ''
as $$
  select case when trip.next_check_at is not null then trip.woken_at end
$$;

comment on function app.trip_woken_at(public.trip_requests) is
  'The wake-up time when a write made the trip due since its last lease or next check, else null: a wake-up a monitor run that claimed the trip must not overwrite.';

revoke all on function app.trip_woken_at(public.trip_requests) from public, anon, authenticated;

create or replace function app.monitor_reschedule(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_trip_id uuid;
  v_next timestamptz;
  v_decision text;
  v_reason text;
  v_trip public.trip_requests;
  v_woken timestamptz;
begin
  perform app.monitor_args(args, array['trip_id', 'next_check_at', 'decision', 'reason']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  v_next := app.arg_timestamptz(args, 'next_check_at');
  v_decision := app.arg_code(args, 'decision');
  v_reason := app.arg_code(args, 'reason', false);

  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id for update;
  if v_trip.id is null then
    raise exception using errcode = 'P0002', message = 'trip not found';
  end if;
  if v_trip.status not in ('searching', 'watching', 'booking') then
    return jsonb_build_object('ok', false);
  end if;
  v_woken := app.trip_woken_at(v_trip);

  update public.trip_requests t
  set next_check_at = coalesce(v_woken, v_next), check_count = t.check_count + 1
  where t.id = v_trip_id;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    v_trip_id, 'monitor', v_decision, v_reason,
    jsonb_build_object('next_check_at', app.rfc3339(coalesce(v_woken, v_next)), 'status', v_trip.status)
      || case when v_woken is not null then jsonb_build_object('woken', true) else '{}'::jsonb end,
    nullif(current_setting('app.correlation_id', true), '')
  );
  return jsonb_build_object('ok', true);
end
$$;

-- After a record that set a later next check: back to the wake-up time, if the trip had one.
create or replace function app.monitor_keep_wakeup(trip_id uuid, woken timestamptz)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  update public.trip_requests t set next_check_at = woken
  where woken is not null and t.id = monitor_keep_wakeup.trip_id
    and t.status in ('searching', 'watching', 'booking')
    and t.next_check_at is not null and t.next_check_at > woken
$$;

revoke all on function app.monitor_keep_wakeup(uuid, timestamptz) from public, anon, authenticated;

create or replace function app.monitor_record_search(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_trip_id uuid;
  v_trip public.trip_requests;
begin
  perform app.monitor_args(args, array['trip_id', 'result']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id for update;
  if v_trip.id is not null and v_trip.status in ('searching', 'watching')
    and app.trip_woken_at(v_trip) is not null then
    insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
    values (v_trip_id, 'monitor', 'search_discarded', 'trip_changed',
      jsonb_build_object('next_check_at', app.rfc3339(v_trip.next_check_at), 'status', v_trip.status),
      nullif(current_setting('app.correlation_id', true), ''));
    return jsonb_build_object('trip', app.trip_json(v_trip), 'selected_offer', null, 'stale', true);
  end if;
  return app.record_search(v_trip_id, args -> 'result');
end
$$;

create or replace function app.monitor_record_search_failure(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_trip_id uuid;
  v_woken timestamptz;
  v_out jsonb;
begin
  perform app.monitor_args(args, array['trip_id', 'error_code', 'next_check_at']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  select app.trip_woken_at(t) into v_woken from public.trip_requests t where t.id = v_trip_id for update;
  v_out := app.record_search_failure(
    v_trip_id,
    app.arg_code(args, 'error_code'),
    app.arg_timestamptz(args, 'next_check_at')
  );
  perform app.monitor_keep_wakeup(v_trip_id, v_woken);
  return v_out;
end
$$;
