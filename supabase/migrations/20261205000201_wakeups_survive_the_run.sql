-- A monitor run's writes never undo what the traveller changed while the run held the trip.
--
-- The race (docs/saga.md named it as an open limit): a run claims a watched trip and reads it,
-- then the traveller changes the criteria or resumes it (app.trips_control `update` / `resume`:
-- the trip is changed and made due now). The run, still working from what it read, then
--   * rescheduled the trip hours away (monitor_reschedule), so the change waited up to 6 hours;
--   * or recorded a search made under the OLD criteria (monitor_record_search), which the
--     driver could book at once when its price met the new maximum, even if its cabin or stops
--     broke the new criteria (crates/booking-core/src/monitor/driver/route.rs after_selection
--     books from the recorded trip's new version).
--
-- The driver now sends the trip version its claim read (`trip_version`; claims and leases do
-- not bump it, 20261201000200; every other change of the trip does). When the trip's version
-- is no longer that one, the run's view is stale and its write is not applied:
--   app.monitor_reschedule: next_check_at is left as it is (the wake-up, another run's lease, or
--     its result); the check is still counted and a `monitor` event logged with "stale": true.
--     Answer {"ok": true, "stale": true}.
--   app.monitor_record_search: nothing is recorded; a `monitor` event (decision
--     `search_discarded`, reason `trip_changed`); answer {"trip", "selected_offer": null,
--     "stale": true} (the driver ends the trip `searched` and books nothing from it).
--   app.monitor_record_search_failure: nothing is recorded; the same event; answer
--     {"trip", "stale": true}.
-- Without `trip_version` (an older caller) each behaves as before. A trip left untouched is
-- checked again when it is due: at once after a wake-up, after the run's lease otherwise (a
-- pause, say). REPLACED from 20261123000600_monitor_api.sql; grants kept (CREATE OR REPLACE).

-- Whether `args` carry a trip version other than the trip's (the run read an older trip).
create function app.monitor_stale(args jsonb, trip public.trip_requests)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  if not (args ? 'trip_version') then
    return false;
  end if;
  return app.arg_int(args, 'trip_version', 1, 9223372036854775807) is distinct from trip.version;
end
$$;

revoke all on function app.monitor_stale(jsonb, public.trip_requests) from public, anon, authenticated;

-- The `monitor` event of a stale write.
create function app.monitor_stale_event(trip public.trip_requests, decision text, reason text, args jsonb)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (trip.id, 'monitor', decision, reason,
    jsonb_build_object('stale', true, 'status', trip.status, 'trip_version', trip.version,
      'read_version', (args ->> 'trip_version')::bigint,
      'next_check_at', app.rfc3339(trip.next_check_at)),
    nullif(current_setting('app.correlation_id', true), ''))
$$;

revoke all on function app.monitor_stale_event(public.trip_requests, text, text, jsonb)
  from public, anon, authenticated;

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
begin
  perform app.monitor_args(args, array['trip_id', 'trip_version', 'next_check_at', 'decision', 'reason']);
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

  if app.monitor_stale(args, v_trip) then
    update public.trip_requests t set check_count = t.check_count + 1 where t.id = v_trip_id
    returning t.* into v_trip;
    perform app.monitor_stale_event(v_trip, v_decision, v_reason, args);
    return jsonb_build_object('ok', true, 'stale', true);
  end if;

  update public.trip_requests t
  set next_check_at = v_next, check_count = t.check_count + 1
  where t.id = v_trip_id;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    v_trip_id, 'monitor', v_decision, v_reason,
    jsonb_build_object('next_check_at', app.rfc3339(v_next), 'status', v_trip.status),
    nullif(current_setting('app.correlation_id', true), '')
  );
  return jsonb_build_object('ok', true);
end
$$;

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
  perform app.monitor_args(args, array['trip_id', 'trip_version', 'result']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id for update;
  if v_trip.id is not null and app.monitor_stale(args, v_trip) then
    perform app.monitor_stale_event(v_trip, 'search_discarded', 'trip_changed', args);
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
  v_trip public.trip_requests;
begin
  perform app.monitor_args(args, array['trip_id', 'trip_version', 'error_code', 'next_check_at']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id for update;
  if v_trip.id is not null and app.monitor_stale(args, v_trip) then
    perform app.monitor_stale_event(v_trip, 'search_discarded', 'trip_changed', args);
    return jsonb_build_object('trip', app.trip_json(v_trip), 'stale', true);
  end if;
  return app.record_search_failure(
    v_trip_id,
    app.arg_code(args, 'error_code'),
    app.arg_timestamptz(args, 'next_check_at')
  );
end
$$;
