-- The monitor's SQL API (docs/contracts.md "The monitor (issue 3)"): app.monitor_*(args jsonb)
-- returns jsonb, SECURITY DEFINER, empty search_path, EXECUTE for service_role only.
--
-- The auto-book-monitor shim calls each as `select app.<fn>($1::text::jsonb)` in its own
-- transaction as service_role, so every function is one atomic step. Errors follow the `app`
-- contract (20261122000100_app_schema.sql): 22023 / 22P02 / 22007 for malformed args, P0002 for
-- a trip that does not exist, 55000 for a write the trip's or attempt's state does not accept.
-- Outcomes a driver is expected to meet in normal operation (a lost compare-and-set, an attempt
-- already open, a trip no longer expirable) are answered in the result, never raised.
--
-- An optional correlation id for pipeline_events rows is read from the transaction-local setting
-- `app.correlation_id`, as in the search API.

-- ---------------------------------------------------------------------------------------------
-- Argument helpers (internal; called only from the SECURITY DEFINER functions below)
-- ---------------------------------------------------------------------------------------------

-- 22023 unless `args` is a JSON object whose keys are all in `allowed`.
create function app.monitor_args(args jsonb, allowed text[])
returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  k text;
begin
  if args is null or jsonb_typeof(args) <> 'object' then
    raise exception using errcode = '22023', message = 'args must be a JSON object';
  end if;
  for k in select e.key from jsonb_each(args) as e loop
    if not k = any (allowed) then
      raise exception using errcode = '22023', message = format('unknown field: %s', left(k, 64));
    end if;
  end loop;
end
$$;

-- args->key as uuid. Absent or null: 22023 when required, else null. Not a string: 22023;
-- not a uuid: 22P02.
create function app.arg_uuid(args jsonb, key text, required boolean default true)
returns uuid
language plpgsql
immutable
set search_path = ''
as $$
begin
  if jsonb_typeof(args -> key) is null or jsonb_typeof(args -> key) = 'null' then
    if required then
      raise exception using errcode = '22023', message = format('field %s is required', key);
    end if;
    return null;
  end if;
  if jsonb_typeof(args -> key) <> 'string' then
    raise exception using errcode = '22023', message = format('field %s must be a uuid string', key);
  end if;
  return (args ->> key)::uuid;
end
$$;

-- args->key as an integer in [lo, hi]; absent or null gives `dflt` (22023 when dflt is null).
create function app.arg_int(args jsonb, key text, lo bigint, hi bigint, dflt bigint default null)
returns bigint
language plpgsql
immutable
set search_path = ''
as $$
declare
  n numeric;
begin
  if jsonb_typeof(args -> key) is null or jsonb_typeof(args -> key) = 'null' then
    if dflt is null then
      raise exception using errcode = '22023', message = format('field %s is required', key);
    end if;
    return dflt;
  end if;
  if jsonb_typeof(args -> key) <> 'number' then
    raise exception using errcode = '22023', message = format('field %s must be a number', key);
  end if;
  n := (args ->> key)::numeric;
  if n <> trunc(n) or n < lo or n > hi then
    raise exception using
      errcode = '22023', message = format('field %s must be an integer between %s and %s', key, lo, hi);
  end if;
  return n::bigint;
end
$$;

-- args->key as timestamptz from an RFC 3339 string with offset ("2026-11-22T12:00:00.000Z").
create function app.arg_timestamptz(args jsonb, key text)
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
begin
  if jsonb_typeof(args -> key) is distinct from 'string'
    or (args ->> key) !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$' then
    raise exception using
      errcode = '22007', message = format('field %s must be an RFC 3339 timestamp with offset', key);
  end if;
  return (args ->> key)::timestamptz;
end
$$;

-- args->key as a stable snake_case code; absent or null: 22023 when required, else null.
create function app.arg_code(args jsonb, key text, required boolean default true)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if jsonb_typeof(args -> key) is null or jsonb_typeof(args -> key) = 'null' then
    if required then
      raise exception using errcode = '22023', message = format('field %s is required', key);
    end if;
    return null;
  end if;
  if jsonb_typeof(args -> key) <> 'string' or (args ->> key) !~ '^[a-z][a-z0-9_]{0,63}$' then
    raise exception using errcode = '22023', message = format('field %s must be a snake_case code', key);
  end if;
  return args ->> key;
end
$$;

revoke all on function app.monitor_args(jsonb, text[]) from public;
revoke all on function app.arg_uuid(jsonb, text, boolean) from public;
revoke all on function app.arg_int(jsonb, text, bigint, bigint, bigint) from public;
revoke all on function app.arg_timestamptz(jsonb, text) from public;
revoke all on function app.arg_code(jsonb, text, boolean) from public;

-- ---------------------------------------------------------------------------------------------
-- JSON renderers
-- ---------------------------------------------------------------------------------------------

create function app.pipeline_settings_json(s public.pipeline_settings)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'monitor_enabled', s.monitor_enabled,
    'batch_size', s.batch_size,
    'provider_call_budget', s.provider_call_budget,
    'concurrency', s.concurrency,
    'lock_lease_ms', s.lock_lease_ms,
    'claim_lease_seconds', s.claim_lease_seconds
  )
$$;

-- A claim: {"trip", "selected_offer", "attempt" (the OPEN attempt), "payment"}.
create function app.monitor_claim_json(t public.trip_requests)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'trip', app.trip_json(t),
    'selected_offer', (
      select jsonb_build_object(
        'provider_offer_id', o.provider_offer_id,
        'total_minor', o.total_minor,
        'currency', o.currency,
        'expires_at', app.rfc3339(o.expires_at),
        'departing_at', app.local_datetime(o.departing_at)
      )
      from public.flight_offers o
      where o.id = t.selected_offer_id
    ),
    'attempt', (
      select jsonb_build_object('state', a.state)
      from public.booking_attempts a
      where a.trip_id = t.id and a.open
    ),
    'payment', (
      select jsonb_build_object('customer', p.stripe_customer_id, 'payment_method', p.stripe_payment_method_id)
      from public.payment_profiles p
      where p.owner_id = t.owner_id
    )
  )
$$;

revoke all on function app.pipeline_settings_json(public.pipeline_settings) from public;
revoke all on function app.monitor_claim_json(public.trip_requests) from public;

-- ---------------------------------------------------------------------------------------------
-- monitor_claim {"limit", "lease_seconds", "trip_id"|null}
--   -> {"enabled", "settings", "due_left", "trips": [claim…]}
-- ---------------------------------------------------------------------------------------------
-- Takes up to `limit` due trips (status searching / watching / booking, next_check_at <= now(),
-- oldest first) with FOR UPDATE SKIP LOCKED, so concurrent claimers take disjoint sets, and moves
-- their next_check_at to now() + lease_seconds (a run that dies leaves them due again after the
-- lease). With trip_id: only that trip (in one of those statuses), due or not. Nothing is
-- claimed while the kill switch (pipeline_settings.monitor_enabled) is off, or with limit 0 (a
-- peek at the settings). due_left counts the trips still due after this claim (including any a
-- concurrent claimer holds but has not committed).
create function app.monitor_claim(args jsonb)
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
  v_ids uuid[] := '{}';
  v_trips jsonb;
  v_due_left bigint;
begin
  perform app.monitor_args(args, array['limit', 'lease_seconds', 'trip_id']);
  select s.* into v_settings from public.pipeline_settings s where s.id;
  if v_settings.id is null then
    raise exception using errcode = '55000', message = 'pipeline_settings has no row';
  end if;
  v_limit := app.arg_int(args, 'limit', 0, 1000, v_settings.batch_size);
  v_lease := app.arg_int(args, 'lease_seconds', 0, 86400, v_settings.claim_lease_seconds);
  v_trip_id := app.arg_uuid(args, 'trip_id', false);
  if v_limit > 0 and v_lease < 1 then
    raise exception using errcode = '22023', message = 'field lease_seconds must be at least 1 when claiming';
  end if;

  if v_settings.monitor_enabled and v_limit > 0 then
    if v_trip_id is null then
      select coalesce(array_agg(c.id order by c.next_check_at, c.id), '{}') into v_ids
      from (
        select t.id, t.next_check_at
        from public.trip_requests t
        where t.status in ('searching', 'watching', 'booking')
          and t.next_check_at <= now()
        order by t.next_check_at, t.id
        limit v_limit
        for update skip locked
      ) as c;
    else
      select coalesce(array_agg(c.id), '{}') into v_ids
      from (
        select t.id
        from public.trip_requests t
        where t.id = v_trip_id
          and t.status in ('searching', 'watching', 'booking')
        for update skip locked
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
    and t.next_check_at <= now();

  return jsonb_build_object(
    'enabled', v_settings.monitor_enabled,
    'settings', app.pipeline_settings_json(v_settings),
    'due_left', v_due_left,
    'trips', v_trips
  );
end
$$;

-- ---------------------------------------------------------------------------------------------
-- monitor_reschedule {"trip_id", "next_check_at", "decision", "reason"} -> {"ok"}
-- ---------------------------------------------------------------------------------------------
-- Sets next_check_at, check_count + 1 and logs a `monitor` event. ok=false (nothing written)
-- when the trip is no longer one the monitor handles (booked, expired, …). P0002: no such trip.
create function app.monitor_reschedule(args jsonb)
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

-- ---------------------------------------------------------------------------------------------
-- monitor_expire {"trip_id", "reason"} -> {"ok"}
-- ---------------------------------------------------------------------------------------------
-- watching / searching -> expired (next_check_at cleared) and a `monitor` event (decision
-- `expired`). ok=false, nothing written, from any other status. P0002: no such trip.
create function app.monitor_expire(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_trip_id uuid;
  v_reason text;
  v_trip public.trip_requests;
begin
  perform app.monitor_args(args, array['trip_id', 'reason']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  v_reason := app.arg_code(args, 'reason');

  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id for update;
  if v_trip.id is null then
    raise exception using errcode = 'P0002', message = 'trip not found';
  end if;
  if v_trip.status not in ('searching', 'watching') then
    return jsonb_build_object('ok', false);
  end if;

  update public.trip_requests t
  set status = 'expired', next_check_at = null, last_error_code = v_reason
  where t.id = v_trip_id;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    v_trip_id, 'monitor', 'expired', v_reason, jsonb_build_object('from_status', v_trip.status),
    nullif(current_setting('app.correlation_id', true), '')
  );
  return jsonb_build_object('ok', true);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- monitor_begin_attempt {"trip_id", "trip_version", "state": AttemptState}
--   -> {"started": true} | {"started": false, "reason": "trip_changed" | "attempt_open"}
-- ---------------------------------------------------------------------------------------------
-- Money safety rule 1: in ONE transaction, compare-and-set the trip `watching -> booking` on its
-- version and insert the attempt. The trip row lock serialises concurrent begins; the partial
-- unique index booking_attempts_one_open_per_trip is the last line of defence. attempt_open:
-- the trip already has an open attempt; trip_changed: the trip is gone, not `watching`, or its
-- version moved. Also logs a `book` event `attempt_started` (attempt and offer ids only).
create function app.monitor_begin_attempt(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_trip_id uuid;
  v_version bigint;
  v_state jsonb;
  v_attempt_id uuid;
  v_trip public.trip_requests;
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

-- ---------------------------------------------------------------------------------------------
-- monitor_save_attempt {"attempt_id", "expected_version", "state": AttemptState,
--                       "effects": [Effect…]} -> {"saved": bool}
-- ---------------------------------------------------------------------------------------------
-- Compare-and-set on the attempt's version (saved=false, nothing written, when the attempt is
-- missing, closed or at another version: another runner moved it), then applies the effects
-- (booking_core::saga::Effect, tagged by "kind") in the same transaction:
--   set_trip_status {trip_id, to, reason}   trip `booking` -> `to` (already `to`: no-op; any
--                                           other status: 55000). `watching`: next_check_at =
--                                           now() so it is searched again soon; other targets
--                                           clear it. last_error_code = reason (booked: null).
--   record_booking {trip_id, attempt_id, order_id, booking_reference, amount}
--                                           a `bookings` row; idempotent on attempt_id.
--   notify {trip_id, template, dedupe_key}  an outbox row for the trip's owner; idempotent on
--                                           dedupe_key.
--   log_decision {trip_id, decision, reason} a pipeline_events row, stage `book`.
-- Every effect must concern this attempt's trip (22023 otherwise); any failure rolls back the
-- state too, so state and effects are durable together or not at all.
create function app.monitor_save_attempt(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_attempt_id uuid;
  v_expected bigint;
  v_state jsonb;
  v_effects jsonb;
  v_attempt public.booking_attempts;
  v_trip public.trip_requests;
  e jsonb;
  v_kind text;
  v_to text;
  v_reason text;
begin
  perform app.monitor_args(args, array['attempt_id', 'expected_version', 'state', 'effects']);
  v_attempt_id := app.arg_uuid(args, 'attempt_id');
  v_expected := app.arg_int(args, 'expected_version', 1, 9223372036854775807);
  v_state := args -> 'state';
  if jsonb_typeof(v_state) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'field state must be an AttemptState object';
  end if;
  if app.arg_uuid(v_state, 'attempt_id') <> v_attempt_id then
    raise exception using errcode = '22023', message = 'state.attempt_id differs from attempt_id';
  end if;
  if app.arg_int(v_state, 'version', 1, 9223372036854775807) <= v_expected then
    raise exception using errcode = '22023', message = 'state.version must be greater than expected_version';
  end if;
  v_effects := coalesce(nullif(args -> 'effects', 'null'::jsonb), '[]'::jsonb);
  if jsonb_typeof(v_effects) <> 'array' then
    raise exception using errcode = '22023', message = 'field effects must be a JSON array';
  end if;

  select a.* into v_attempt from public.booking_attempts a where a.id = v_attempt_id for update;
  if v_attempt.id is null or not v_attempt.open or v_attempt.version <> v_expected then
    return jsonb_build_object('saved', false);
  end if;

  update public.booking_attempts a
  set state = v_state
  where a.id = v_attempt_id
  returning a.* into v_attempt;

  for e in select x.value from jsonb_array_elements(v_effects) as x loop
    if jsonb_typeof(e) <> 'object' then
      raise exception using errcode = '22023', message = 'every effect must be a JSON object';
    end if;
    v_kind := e ->> 'kind';
    if app.arg_uuid(e, 'trip_id') <> v_attempt.trip_id then
      raise exception using errcode = '22023', message = format('%s effect names another trip', v_kind);
    end if;

    case v_kind
      when 'set_trip_status' then
        perform app.monitor_args(e, array['kind', 'trip_id', 'to', 'reason']);
        v_to := app.arg_code(e, 'to');
        v_reason := app.arg_code(e, 'reason', false);
        select t.* into v_trip from public.trip_requests t where t.id = v_attempt.trip_id for update;
        if v_trip.status = v_to then
          null;
        elsif v_trip.status <> 'booking' then
          raise exception using
            errcode = '55000',
            message = format('set_trip_status: trip is %s, not booking', v_trip.status);
        else
          update public.trip_requests t
          set
            status = v_to,
            next_check_at = case when v_to = 'watching' then now() else null end,
            last_error_code = case when v_to = 'booked' then null else v_reason end
          where t.id = v_attempt.trip_id;
        end if;

      when 'record_booking' then
        perform app.monitor_args(
          e, array['kind', 'trip_id', 'attempt_id', 'order_id', 'booking_reference', 'amount']
        );
        if app.arg_uuid(e, 'attempt_id') <> v_attempt_id then
          raise exception using errcode = '22023', message = 'record_booking names another attempt';
        end if;
        if jsonb_typeof(e -> 'order_id') is distinct from 'string'
          or jsonb_typeof(e -> 'booking_reference') is distinct from 'string'
          or jsonb_typeof(e -> 'amount') is distinct from 'object' then
          raise exception using
            errcode = '22023',
            message = 'record_booking needs order_id, booking_reference and amount {amount_minor, currency}';
        end if;
        insert into public.bookings (
          trip_id, attempt_id, provider, provider_order_id, booking_reference, amount_minor, currency
        )
        values (
          v_attempt.trip_id,
          v_attempt_id,
          'duffel',
          e ->> 'order_id',
          e ->> 'booking_reference',
          app.arg_int(e -> 'amount', 'amount_minor', 1, 1000000000000),
          e #>> '{amount,currency}'
        )
        on conflict on constraint bookings_attempt_key do nothing;

      when 'notify' then
        perform app.monitor_args(e, array['kind', 'trip_id', 'template', 'dedupe_key']);
        if jsonb_typeof(e -> 'dedupe_key') is distinct from 'string' then
          raise exception using errcode = '22023', message = 'notify needs a dedupe_key string';
        end if;
        insert into public.notifications (trip_id, owner_id, template, dedupe_key)
        select t.id, t.owner_id, app.arg_code(e, 'template'), e ->> 'dedupe_key'
        from public.trip_requests t
        where t.id = v_attempt.trip_id
        on conflict on constraint notifications_dedupe_key_key do nothing;

      when 'log_decision' then
        perform app.monitor_args(e, array['kind', 'trip_id', 'decision', 'reason']);
        insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
        values (
          v_attempt.trip_id,
          'book',
          app.arg_code(e, 'decision'),
          app.arg_code(e, 'reason', false),
          jsonb_strip_nulls(jsonb_build_object(
            'attempt_id', v_attempt_id,
            'phase', v_attempt.phase,
            'payment_intent', v_attempt.payment_intent,
            'order_id', v_attempt.order_id,
            'amount_minor', v_attempt.amount_minor,
            'currency', v_attempt.currency
          )),
          nullif(current_setting('app.correlation_id', true), '')
        );

      else
        raise exception using errcode = '22023', message = format('unknown effect kind: %s', left(v_kind, 64));
    end case;
  end loop;

  return jsonb_build_object('saved', true);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- monitor_passengers {"trip_id"} -> {"passengers": [...]} | {"passengers": null, "reason": "travelers_missing"}
-- ---------------------------------------------------------------------------------------------
-- The trip's travelers decrypted, in position order (adults, then children in child_ages order),
-- each {title, gender, given_name, family_name, born_on, email, phone_number}. travelers_missing
-- unless positions 1..adults+children are all filled. P0002: no such trip; 55000: the Vault key is
-- missing. The result holds personal data: callers must never log it.
create function app.monitor_passengers(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_trip_id uuid;
  v_trip public.trip_requests;
  v_needed integer;
  v_have integer;
  v_key text;
  v_passengers jsonb;
begin
  perform app.monitor_args(args, array['trip_id']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id;
  if v_trip.id is null then
    raise exception using errcode = 'P0002', message = 'trip not found';
  end if;

  v_needed := v_trip.adults + cardinality(v_trip.child_ages);
  select count(*) into v_have
  from public.trip_travelers tt
  where tt.trip_id = v_trip_id and tt.position between 1 and v_needed;
  if v_have <> v_needed then
    return jsonb_build_object('passengers', null, 'reason', 'travelers_missing');
  end if;

  v_key := app.traveler_data_key();
  select jsonb_agg(
    jsonb_build_object(
      'title', p.pii ->> 'title',
      'gender', p.pii ->> 'gender',
      'given_name', p.pii ->> 'given_name',
      'family_name', p.pii ->> 'family_name',
      'born_on', p.pii ->> 'born_on',
      'email', p.pii ->> 'email',
      'phone_number', p.pii ->> 'phone_number'
    )
    order by p.position
  )
  into v_passengers
  from (
    select tt.position, extensions.pgp_sym_decrypt(tr.pii, v_key)::jsonb as pii
    from public.trip_travelers tt
    join public.travelers tr on tr.id = tt.traveler_id
    where tt.trip_id = v_trip_id and tt.position between 1 and v_needed
  ) as p;

  return jsonb_build_object('passengers', v_passengers);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- monitor_record_search {"trip_id", "result"} and
-- monitor_record_search_failure {"trip_id", "error_code", "next_check_at"}: as app.record_search
-- and app.record_search_failure (the caller is service_role, so any trip).
-- ---------------------------------------------------------------------------------------------
create function app.monitor_record_search(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform app.monitor_args(args, array['trip_id', 'result']);
  return app.record_search(app.arg_uuid(args, 'trip_id'), args -> 'result');
end
$$;

create function app.monitor_record_search_failure(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform app.monitor_args(args, array['trip_id', 'error_code', 'next_check_at']);
  return app.record_search_failure(
    app.arg_uuid(args, 'trip_id'),
    app.arg_code(args, 'error_code'),
    app.arg_timestamptz(args, 'next_check_at')
  );
end
$$;

-- ---------------------------------------------------------------------------------------------
-- monitor_heartbeat {"run_id", "started_at", "finished_at", "summary"} -> {"ok": true}
-- ---------------------------------------------------------------------------------------------
-- Records the run in monitor_runs (idempotent on run_id), stamps pipeline_settings.heartbeat_at
-- and last_run, and keeps 7 days of runs. The summary is counts only (no personal data).
create function app.monitor_heartbeat(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_run_id text;
  v_started timestamptz;
  v_finished timestamptz;
  v_summary jsonb;
begin
  perform app.monitor_args(args, array['run_id', 'started_at', 'finished_at', 'summary']);
  if jsonb_typeof(args -> 'run_id') is distinct from 'string' then
    raise exception using errcode = '22023', message = 'field run_id must be a string';
  end if;
  v_run_id := args ->> 'run_id';
  v_started := app.arg_timestamptz(args, 'started_at');
  v_finished := app.arg_timestamptz(args, 'finished_at');
  v_summary := coalesce(nullif(args -> 'summary', 'null'::jsonb), '{}'::jsonb);

  insert into public.monitor_runs as r (run_id, started_at, finished_at, summary)
  values (v_run_id, v_started, v_finished, v_summary)
  on conflict (run_id) do update set
    started_at = excluded.started_at,
    finished_at = excluded.finished_at,
    summary = excluded.summary,
    recorded_at = now();

  update public.pipeline_settings s
  set
    heartbeat_at = now(),
    last_run = jsonb_build_object(
      'run_id', v_run_id,
      'started_at', app.rfc3339(v_started),
      'finished_at', app.rfc3339(v_finished),
      'summary', v_summary
    )
  where s.id;

  delete from public.monitor_runs r where r.started_at < now() - interval '7 days';

  return jsonb_build_object('ok', true);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Grants: service_role only.
-- ---------------------------------------------------------------------------------------------
revoke all on function app.monitor_claim(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_reschedule(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_expire(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_begin_attempt(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_save_attempt(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_passengers(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_record_search(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_record_search_failure(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_heartbeat(jsonb) from public, anon, authenticated;

grant execute on function app.monitor_claim(jsonb) to service_role;
grant execute on function app.monitor_reschedule(jsonb) to service_role;
grant execute on function app.monitor_expire(jsonb) to service_role;
grant execute on function app.monitor_begin_attempt(jsonb) to service_role;
grant execute on function app.monitor_save_attempt(jsonb) to service_role;
grant execute on function app.monitor_passengers(jsonb) to service_role;
grant execute on function app.monitor_record_search(jsonb) to service_role;
grant execute on function app.monitor_record_search_failure(jsonb) to service_role;
grant execute on function app.monitor_heartbeat(jsonb) to service_role;
