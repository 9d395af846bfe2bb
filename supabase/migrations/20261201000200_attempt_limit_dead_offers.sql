-- Issue 6, defects 3, 12 and 14 (docs/contracts.md "The monitor", docs/saga.md).
--
-- 3.  The attempt limit (3 per trip in 24 hours, app.monitor_begin_attempt) counts only attempts
--     that held money (Stripe named a PaymentIntent) or ended `needs_traveller` (decline,
--     authentication required). A Stripe or Duffel outage that ends attempts before any money
--     moved no longer fails the trip `too_many_attempts`; the saga spaces such attempts itself
--     (set_trip_status may now carry `next_check_at`, see below).
-- 12. An offer the airline declared gone at order time (`offer_no_longer_available`) is marked
--     dead: flight_offers.dead_at, set by the new monitor_save_attempt effect `mark_offer_dead`
--     in the closing save, which also clears the trip's selection (the next run searches). A
--     dead offer is never selected again: app.record_search drops such a selection (decision
--     `no_acceptable_offer`, reason `selected_offer_dead`).
-- 14. A claim (app.monitor_claim moves next_check_at: the lease) no longer bumps the trip's
--     version: the trip_requests_guard trigger leaves the version (and updated_at) alone when
--     next_check_at is the only column that changes. "Process this trip now" triggers for a trip
--     another run holds no longer make that run lose its watching -> booking compare-and-set.
--
-- Functions are replaced in place (CREATE OR REPLACE keeps owners and grants); grants restated.

alter table public.flight_offers add column dead_at timestamptz;

comment on column public.flight_offers.dead_at is
  'When the airline said the offer no longer exists (offer_no_longer_available at order time); a dead offer is never selected again.';

-- ---------------------------------------------------------------------------------------------
-- trip_requests_guard (defect 14): a lease-only update keeps the version.
-- ---------------------------------------------------------------------------------------------
create or replace function app.trip_requests_guard()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_probe public.trip_requests;
begin
  if new.id is distinct from old.id
    or new.owner_id is distinct from old.owner_id
    or new.created_at is distinct from old.created_at then
    raise exception using
      errcode = '55000',
      message = 'trip id, owner_id and created_at cannot change';
  end if;

  if not app.trip_status_transition_allowed(old.status, new.status) then
    raise exception using
      errcode = '55000',
      message = format('trip status cannot change from %s to %s', old.status, new.status),
      hint = 'see the status graph in migration 20261122000200_trip_requests.sql';
  end if;

  -- Issue 6 defect 14: moving only next_check_at (a claim's lease) is not a change of the trip,
  -- so it does not invalidate the compare-and-set of the run that holds the trip. Every other
  -- update (a no-op one too) bumps the version.
  v_probe := new;
  v_probe.next_check_at := old.next_check_at;
  v_probe.updated_at := old.updated_at;
  v_probe.version := old.version;
  if new.next_check_at is distinct from old.next_check_at and v_probe is not distinct from old then
    new.version := old.version;
    new.updated_at := old.updated_at;
    return new;
  end if;

  new.version := old.version + 1;
  new.updated_at := now();
  return new;
end
$$;

revoke all on function app.trip_requests_guard() from public;

-- ---------------------------------------------------------------------------------------------
-- monitor_begin_attempt (defect 3): the attempt limit counts attempts that held money or were
-- refused for the traveller's reasons. Otherwise as in 20261124000100_monitor_money_safety.sql.
-- ---------------------------------------------------------------------------------------------
create or replace function app.monitor_begin_attempt(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  -- Finding 11: at most c_limit attempts that held money or were refused for the traveller's
  -- reasons per trip within c_window (defect 3 of issue 6).
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

  -- Issue 6 defect 3: only attempts that held money (Stripe named a PaymentIntent: an
  -- authorization, or a card refusal naming one) or ended for the traveller's reasons
  -- (needs_traveller: decline, authentication required) count. An attempt a Stripe or Duffel
  -- outage ended before any money moved does not.
  select count(*) into v_recent
  from public.booking_attempts a
  where a.trip_id = v_trip_id and a.created_at > now() - c_window
    and (a.payment_intent is not null or a.state #>> '{phase,end}' = 'needs_traveller');
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

-- ---------------------------------------------------------------------------------------------
-- monitor_save_attempt (defects 3 and 12): as in 20261123000600_monitor_api.sql, plus
--   set_trip_status {…, next_check_at?}    `watching`: next_check_at = the given time (a
--                                           provider outage ended the attempt), else now().
--   mark_offer_dead {trip_id, offer_id}     flight_offers.dead_at = now() for the trip's Duffel
--                                           offer (kept if already set), and the trip's
--                                           selection cleared when it is a dead offer (never
--                                           while `booking`).
-- ---------------------------------------------------------------------------------------------
create or replace function app.monitor_save_attempt(args jsonb)
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
  v_next timestamptz;
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
        perform app.monitor_args(e, array['kind', 'trip_id', 'to', 'reason', 'next_check_at']);
        v_to := app.arg_code(e, 'to');
        v_reason := app.arg_code(e, 'reason', false);
        v_next := case when e ? 'next_check_at' and jsonb_typeof(e -> 'next_check_at') <> 'null'
          then app.arg_timestamptz(e, 'next_check_at') end;
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
            next_check_at = case when v_to = 'watching' then coalesce(v_next, now()) else null end,
            last_error_code = case when v_to = 'booked' then null else v_reason end
          where t.id = v_attempt.trip_id;
        end if;

      when 'mark_offer_dead' then
        perform app.monitor_args(e, array['kind', 'trip_id', 'offer_id']);
        if jsonb_typeof(e -> 'offer_id') is distinct from 'string'
          or length(e ->> 'offer_id') not between 1 and 255 then
          raise exception using errcode = '22023', message = 'mark_offer_dead needs an offer_id string';
        end if;
        update public.flight_offers f
        set dead_at = coalesce(f.dead_at, now())
        where f.trip_id = v_attempt.trip_id and f.provider = 'duffel' and f.provider_offer_id = e ->> 'offer_id';
        -- Not while booking: trip_requests_booking_has_offer (set_trip_status comes first).
        update public.trip_requests t
        set selected_offer_id = null
        where t.id = v_attempt.trip_id
          and t.status <> 'booking'
          and t.selected_offer_id in (
            select f.id from public.flight_offers f
            where f.trip_id = v_attempt.trip_id and f.dead_at is not null
          );

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
-- record_search (defect 12): never selects a dead offer. Otherwise as in
-- 20261122000700_search_api.sql.
-- ---------------------------------------------------------------------------------------------
create or replace function app.record_search(trip_id uuid, result jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_provider text;
  v_offers jsonb;
  v_decision text;
  v_selected_poid text;
  v_next_check_at timestamptz;
  v_stored integer;
  v_reason text;
  v_trip public.trip_requests;
  v_selected public.flight_offers;
begin
  if result is null or jsonb_typeof(result) <> 'object' then
    raise exception using errcode = '22023', message = 'search result must be a JSON object';
  end if;

  if jsonb_typeof(result -> 'provider') is distinct from 'string' then
    raise exception using errcode = '22023', message = 'field provider must be a JSON string';
  end if;
  v_provider := result ->> 'provider';

  v_offers := coalesce(nullif(result -> 'offers', 'null'::jsonb), '[]'::jsonb);
  if jsonb_typeof(v_offers) <> 'array' then
    raise exception using errcode = '22023', message = 'field offers must be a JSON array';
  end if;
  if jsonb_array_length(v_offers) > 200 then
    raise exception using errcode = '22023', message = 'field offers holds more than 200 offers';
  end if;
  if exists (
    select 1 from jsonb_array_elements(v_offers) as e(offer)
    where jsonb_typeof(e.offer) <> 'object'
      or (e.offer ->> 'departing_at') !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$'
      or (e.offer ->> 'arriving_at') !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$'
  ) then
    raise exception using
      errcode = '22023',
      message = 'every offer must be an object with local departing_at / arriving_at (no offset)';
  end if;

  v_decision := result ->> 'decision';
  if v_decision is null or v_decision not in ('offer_selected', 'no_acceptable_offer') then
    raise exception using
      errcode = '22023', message = 'field decision must be offer_selected or no_acceptable_offer';
  end if;

  if jsonb_typeof(result -> 'selected_provider_offer_id') not in ('string', 'null') then
    raise exception using errcode = '22023', message = 'field selected_provider_offer_id must be a string or null';
  end if;
  v_selected_poid := result ->> 'selected_provider_offer_id';
  if (v_decision = 'offer_selected') <> (v_selected_poid is not null) then
    raise exception using
      errcode = '22023', message = 'decision and selected_provider_offer_id disagree';
  end if;
  if v_selected_poid is not null and not exists (
    select 1 from jsonb_array_elements(v_offers) as e(offer)
    where e.offer ->> 'provider_offer_id' = v_selected_poid
  ) then
    raise exception using
      errcode = '22023', message = 'selected_provider_offer_id is not among the offers';
  end if;

  if jsonb_typeof(result -> 'next_check_at') not in ('string', 'null') then
    raise exception using errcode = '22023', message = 'field next_check_at must be a string or null';
  end if;
  v_next_check_at := (result ->> 'next_check_at')::timestamptz;

  if jsonb_typeof(result -> 'rejections') not in ('object', 'null') then
    raise exception using errcode = '22023', message = 'field rejections must be an object';
  end if;
  if jsonb_typeof(result -> 'offers_seen') not in ('number', 'null') then
    raise exception using errcode = '22023', message = 'field offers_seen must be a number';
  end if;

  select t.* into v_trip
  from public.trip_requests t
  where t.id = record_search.trip_id
  for update;

  if v_trip.id is null or not (app.caller_bypasses_rls() or v_trip.owner_id = auth.uid()) then
    raise exception using errcode = 'P0002', message = 'trip not found';
  end if;
  if v_trip.status not in ('searching', 'watching') then
    raise exception using
      errcode = '55000',
      message = format('trip is %s; search results are not accepted', v_trip.status);
  end if;

  -- One statement; a provider_offer_id repeated within the result keeps its first (best-ranked)
  -- occurrence, since ON CONFLICT cannot touch the same row twice.
  insert into public.flight_offers as f (
    trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops, duration_minutes,
    departing_at, arriving_at, carriers, expires_at, raw
  )
  select distinct on (r.provider_offer_id)
    record_search.trip_id, v_provider, r.provider_offer_id, r.total_minor, r.currency, r.cabin,
    r.stops, r.duration_minutes, r.departing_at, r.arriving_at, r.carriers, r.expires_at,
    nullif(r.raw, 'null'::jsonb)
  from rows from (
    jsonb_to_recordset(v_offers) as (
      provider_offer_id text,
      total_minor bigint,
      currency text,
      cabin text,
      stops smallint,
      duration_minutes integer,
      departing_at timestamp,
      arriving_at timestamp,
      carriers text[],
      expires_at timestamptz,
      raw jsonb
    )
  ) with ordinality as r (
    provider_offer_id, total_minor, currency, cabin, stops, duration_minutes, departing_at,
    arriving_at, carriers, expires_at, raw, ord
  )
  order by r.provider_offer_id, r.ord
  on conflict on constraint flight_offers_trip_provider_offer_key do update set
    total_minor = excluded.total_minor,
    currency = excluded.currency,
    cabin = excluded.cabin,
    stops = excluded.stops,
    duration_minutes = excluded.duration_minutes,
    departing_at = excluded.departing_at,
    arriving_at = excluded.arriving_at,
    carriers = excluded.carriers,
    expires_at = excluded.expires_at,
    raw = excluded.raw;
  get diagnostics v_stored = row_count;

  if v_selected_poid is not null then
    select f.* into v_selected
    from public.flight_offers f
    where f.trip_id = record_search.trip_id
      and f.provider = v_provider
      and f.provider_offer_id = v_selected_poid;
  end if;

  -- Issue 6 defect 12: an offer the airline declared gone (flight_offers.dead_at) is never
  -- selected again; the trip keeps watching without a selection and the next run searches.
  if v_selected.id is not null and v_selected.dead_at is not null then
    v_selected := null;
    v_decision := 'no_acceptable_offer';
  end if;

  update public.trip_requests t
  set
    status = 'watching',
    selected_offer_id = v_selected.id,
    next_check_at = v_next_check_at,
    check_count = t.check_count + 1,
    last_error_code = null
  where t.id = record_search.trip_id
  returning t.* into v_trip;

  if v_selected_poid is not null and v_selected.id is null then
    v_reason := 'selected_offer_dead';
  elsif v_decision = 'offer_selected' then
    v_reason := 'acceptable_offer_found';
  elsif coalesce((result ->> 'offers_seen')::numeric, jsonb_array_length(v_offers)) = 0 then
    v_reason := 'no_offers_returned';
  else
    select coalesce(
      (
        select r.key
        from jsonb_each(coalesce(nullif(result -> 'rejections', 'null'::jsonb), '{}'::jsonb)) as r
        where jsonb_typeof(r.value) = 'number' and (r.value #>> '{}')::numeric > 0
        order by (r.value #>> '{}')::numeric desc, r.key
        limit 1
      ),
      'no_acceptable_offer'
    ) into v_reason;
  end if;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    record_search.trip_id,
    'search',
    v_decision,
    v_reason,
    jsonb_strip_nulls(jsonb_build_object(
      'provider', v_provider,
      'offer_request_id', result -> 'offer_request_id',
      'offers_seen', result -> 'offers_seen',
      'offers_received', jsonb_array_length(v_offers),
      'offers_stored', v_stored,
      'rejections', coalesce(nullif(result -> 'rejections', 'null'::jsonb), '{}'::jsonb),
      'selected_offer_id', v_selected.id,
      'selected_total_minor', v_selected.total_minor,
      'selected_currency', v_selected.currency
    )),
    nullif(current_setting('app.correlation_id', true), '')
  );

  return jsonb_build_object(
    'trip', app.trip_json(v_trip),
    'selected_offer', case when v_selected.id is null then null else app.offer_json(v_selected) end
  );
end
$$;

revoke all on function app.monitor_begin_attempt(jsonb) from public, anon, authenticated;
revoke all on function app.monitor_save_attempt(jsonb) from public, anon, authenticated;
revoke all on function app.record_search(uuid, jsonb) from public;
grant execute on function app.monitor_begin_attempt(jsonb) to service_role;
grant execute on function app.monitor_save_attempt(jsonb) to service_role;
grant execute on function app.record_search(uuid, jsonb) to authenticated, service_role;
