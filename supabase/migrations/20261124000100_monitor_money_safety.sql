-- Money-safety fixes to the monitor SQL API (review findings 5, 6 and 11; docs/contracts.md
-- "The monitor", docs/operations.md "Pausing the monitor").
--
-- 5. Kill switch: while pipeline_settings.monitor_enabled is false, app.monitor_claim still
--    claims due trips in `booking` that have an OPEN attempt (an authorization or an order may be
--    in flight: Stripe idempotency keys expire after 24 h, holds after 7 days), so they resume
--    and finish; it never claims `searching` / `watching` trips (nothing new is re-priced or
--    booked). app.monitor_begin_attempt refuses with reason `monitor_disabled` while the switch
--    is off, whoever asks.
-- 6. A trip with an open attempt cannot be deleted, and neither can the attempt itself: BEFORE
--    DELETE triggers raise SQLSTATE 55006 (object_in_use). Deleting the trip's owner from
--    auth.users cascades into the trip delete and fails the same way, so the whole user delete
--    rolls back. Close the attempt first (let the monitor finish it).
-- 11. At most 3 attempts started per trip in 24 hours: the 4th app.monitor_begin_attempt answers
--    started=false reason `attempt_limit` and, in the same transaction, moves the trip
--    `watching -> failed` (last_error_code `too_many_attempts`, no next check), enqueues a
--    `could_not_book` notification (dedupe key `<trip id>-too_many_attempts`) and logs a
--    `monitor` event (decision `fail`, reason `too_many_attempts`).
--
-- Functions are replaced in place (CREATE OR REPLACE keeps their owner and grants); the grants
-- are restated at the end anyway.

-- ---------------------------------------------------------------------------------------------
-- monitor_claim {"limit", "lease_seconds", "trip_id"|null}
--   -> {"enabled", "settings", "due_left", "trips": [claim…]}
-- ---------------------------------------------------------------------------------------------
-- Takes up to `limit` due trips (oldest first) with FOR UPDATE SKIP LOCKED, so concurrent
-- claimers take disjoint sets, and moves their next_check_at to now() + lease_seconds (a run
-- that dies leaves them due again after the lease). With trip_id: only that trip, due or not.
-- limit 0 claims nothing (a peek at the settings).
--   Switch on:  status searching / watching / booking.
--   Switch off: only status booking with an open attempt (in-flight money finishes; nothing new
--               starts). enabled=false says so.
-- due_left counts the trips still due after this claim that this claim could have taken (so,
-- with the switch off, only booking trips with an open attempt), including any a concurrent
-- claimer holds but has not committed.
create or replace function app.monitor_claim(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_settings public.pipeline_settings;
  v_limit integer;
  v_lease integer;
  v_trip_id uuid;
  v_enabled boolean;
  v_ids uuid[] := '{}';
  v_trips jsonb;
  v_due_left bigint;
begin
  perform app.monitor_args(args, array['limit', 'lease_seconds', 'trip_id']);
  select s.* into v_settings from public.pipeline_settings s where s.id;
  if v_settings.id is null then
    raise exception using errcode = '55000', message = 'pipeline_settings has no row';
  end if;
  v_enabled := v_settings.monitor_enabled;
  v_limit := app.arg_int(args, 'limit', 0, 1000, v_settings.batch_size);
  v_lease := app.arg_int(args, 'lease_seconds', 0, 86400, v_settings.claim_lease_seconds);
  v_trip_id := app.arg_uuid(args, 'trip_id', false);
  if v_limit > 0 and v_lease < 1 then
    raise exception using errcode = '22023', message = 'field lease_seconds must be at least 1 when claiming';
  end if;

  if v_limit > 0 then
    if v_trip_id is null then
      select coalesce(array_agg(c.id order by c.next_check_at, c.id), '{}') into v_ids
      from (
        select t.id, t.next_check_at
        from public.trip_requests t
        where t.status in ('searching', 'watching', 'booking')
          and t.next_check_at <= now()
          and (
            v_enabled
            or (t.status = 'booking'
              and exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open))
          )
        order by t.next_check_at, t.id
        limit v_limit
        for update of t skip locked
      ) as c;
    else
      select coalesce(array_agg(c.id), '{}') into v_ids
      from (
        select t.id
        from public.trip_requests t
        where t.id = v_trip_id
          and t.status in ('searching', 'watching', 'booking')
          and (
            v_enabled
            or (t.status = 'booking'
              and exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open))
          )
        for update of t skip locked
      ) as c;
    end if;

    if cardinality(v_ids) > 0 then
      update public.trip_requests t
      set next_check_at = now() + make_interval(secs => v_lease)
      where t.id = any (v_ids);
    end if;
  end if;

  select coalesce(jsonb_agg(app.monitor_claim_json(t) order by array_position(v_ids, t.id)), '[]'::jsonb)
  into v_trips
  from public.trip_requests t
  where t.id = any (v_ids);

  select count(*) into v_due_left
  from public.trip_requests t
  where t.status in ('searching', 'watching', 'booking')
    and t.next_check_at <= now()
    and (
      v_enabled
      or (t.status = 'booking'
        and exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open))
    );

  return jsonb_build_object(
    'enabled', v_enabled,
    'settings', app.pipeline_settings_json(v_settings),
    'due_left', v_due_left,
    'trips', v_trips
  );
end
$$;

-- ---------------------------------------------------------------------------------------------
-- monitor_begin_attempt {"trip_id", "trip_version", "state": AttemptState}
--   -> {"started": true}
--    | {"started": false, "reason": "monitor_disabled" | "trip_changed" | "attempt_open" | "attempt_limit"}
-- ---------------------------------------------------------------------------------------------
-- Money safety rule 1: in ONE transaction, compare-and-set the trip `watching -> booking` on its
-- version and insert the attempt. The trip row lock serialises concurrent begins; the partial
-- unique index booking_attempts_one_open_per_trip is the last line of defence. Checked in order:
--   monitor_disabled  the kill switch is off: nothing is written.
--   trip_changed      the trip is gone.
--   attempt_open      the trip already has an open attempt.
--   trip_changed      the trip is not `watching`, or its version moved.
--   attempt_limit     3 attempts of this trip were created in the last 24 hours: the trip moves
--                     `watching -> failed` (last_error_code too_many_attempts, next_check_at
--                     null), a `could_not_book` notification is enqueued (dedupe key
--                     `<trip id>-too_many_attempts`) and a `monitor` event (decision `fail`,
--                     reason `too_many_attempts`) is logged, all in this transaction.
-- Started: also logs a `book` event `attempt_started` (attempt and offer ids only).
create or replace function app.monitor_begin_attempt(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  -- Finding 11: at most c_limit attempts started per trip within c_window.
  c_limit constant integer := 3;
  c_window constant interval := interval '24 hours';
  v_trip_id uuid;
  v_version bigint;
  v_state jsonb;
  v_attempt_id uuid;
  v_trip public.trip_requests;
  v_enabled boolean;
  v_recent integer;
  v_constraint text;
begin
  perform app.monitor_args(args, array['trip_id', 'trip_version', 'state']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  v_version := app.arg_int(args, 'trip_version', 1, 9223372036854775807);
  v_state := args -> 'state';
  if jsonb_typeof(v_state) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'field state must be an AttemptState object';
  end if;
  v_attempt_id := app.arg_uuid(v_state, 'attempt_id');
  if app.arg_uuid(v_state, 'trip_id') <> v_trip_id then
    raise exception using errcode = '22023', message = 'state.trip_id differs from trip_id';
  end if;
  if v_state #>> '{phase,name}' = 'closed' then
    raise exception using errcode = '22023', message = 'an attempt cannot begin closed';
  end if;

  select s.monitor_enabled into v_enabled from public.pipeline_settings s where s.id;
  if v_enabled is distinct from true then
    return jsonb_build_object('started', false, 'reason', 'monitor_disabled');
  end if;

  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id for update;
  if v_trip.id is null then
    return jsonb_build_object('started', false, 'reason', 'trip_changed');
  end if;
  if exists (select 1 from public.booking_attempts a where a.trip_id = v_trip_id and a.open) then
    return jsonb_build_object('started', false, 'reason', 'attempt_open');
  end if;
  if v_trip.status <> 'watching' or v_trip.version <> v_version then
    return jsonb_build_object('started', false, 'reason', 'trip_changed');
  end if;

  select count(*) into v_recent
  from public.booking_attempts a
  where a.trip_id = v_trip_id and a.created_at > now() - c_window;
  if v_recent >= c_limit then
    update public.trip_requests t
    set status = 'failed', next_check_at = null, last_error_code = 'too_many_attempts'
    where t.id = v_trip_id;

    insert into public.notifications (trip_id, owner_id, template, dedupe_key)
    values (v_trip_id, v_trip.owner_id, 'could_not_book', v_trip_id::text || '-too_many_attempts')
    on conflict on constraint notifications_dedupe_key_key do nothing;

    insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
    values (
      v_trip_id, 'monitor', 'fail', 'too_many_attempts',
      jsonb_build_object(
        'attempts', v_recent, 'limit', c_limit, 'window_hours', 24, 'from_status', v_trip.status
      ),
      nullif(current_setting('app.correlation_id', true), '')
    );
    return jsonb_build_object('started', false, 'reason', 'attempt_limit');
  end if;

  begin
    update public.trip_requests t
    set status = 'booking'
    where t.id = v_trip_id and t.version = v_version and t.status = 'watching';

    insert into public.booking_attempts (id, trip_id, state, version, open, phase)
    values (v_attempt_id, v_trip_id, v_state, 1, true, 'reprice');
  exception
    when unique_violation then
      get stacked diagnostics v_constraint = constraint_name;
      if v_constraint = 'booking_attempts_one_open_per_trip' then
        return jsonb_build_object('started', false, 'reason', 'attempt_open');
      end if;
      raise;
  end;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    v_trip_id, 'book', 'attempt_started', null,
    jsonb_strip_nulls(jsonb_build_object(
      'attempt_id', v_attempt_id,
      'offer_id', left(v_state ->> 'offer_id', 255),
      'max_total_minor', v_state #> '{max_total,amount_minor}',
      'currency', v_state #> '{max_total,currency}'
    )),
    nullif(current_setting('app.correlation_id', true), '')
  );
  return jsonb_build_object('started', true);
end
$$;

revoke all on function app.monitor_claim(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_begin_attempt(jsonb) from public, anon, authenticated;
grant execute on function app.monitor_claim(jsonb) to service_role;
grant execute on function app.monitor_begin_attempt(jsonb) to service_role;

-- ---------------------------------------------------------------------------------------------
-- Finding 6: an open attempt pins its trip (and so the trip's owner).
-- ---------------------------------------------------------------------------------------------
-- BEFORE DELETE on trip_requests (direct, or cascaded from auth.users): SQLSTATE 55006
-- object_in_use, message 'trip <id> has an open booking attempt and cannot be deleted'.
-- BEFORE DELETE on booking_attempts: the same SQLSTATE, message 'booking attempt <id> is open
-- and cannot be deleted'. Closed attempts and trips without an open attempt delete as before.
-- Row triggers also fire for rows deleted by ON DELETE CASCADE, and a trip's BEFORE DELETE runs
-- before its attempts are cascaded away, so the trip check sees them.
create function app.trip_requests_keep_open_attempt()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if exists (select 1 from public.booking_attempts a where a.trip_id = old.id and a.open) then
    raise exception using
      errcode = '55006',
      message = format('trip %s has an open booking attempt and cannot be deleted', old.id),
      hint = 'a payment hold or an airline order may be in flight: let the monitor close the attempt first';
  end if;
  return old;
end
$$;

create function app.booking_attempts_keep_open()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.open then
    raise exception using
      errcode = '55006',
      message = format('booking attempt %s is open and cannot be deleted', old.id),
      hint = 'a payment hold or an airline order may be in flight: let the monitor close the attempt first';
  end if;
  return old;
end
$$;

revoke all on function app.trip_requests_keep_open_attempt() from public;
revoke all on function app.booking_attempts_keep_open() from public;

create trigger trip_requests_keep_open_attempt
before delete on public.trip_requests
for each row execute function app.trip_requests_keep_open_attempt();

create trigger booking_attempts_keep_open
before delete on public.booking_attempts
for each row execute function app.booking_attempts_keep_open();
