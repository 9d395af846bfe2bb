-- The traveller's own profiles and watches (issue 7 items 1 and 4).
--
-- Part 1. The traveller's own profiles: the `travelers` function's SQL API.
--
-- Every function is `app.travelers_*(args jsonb) returns jsonb`, SECURITY DEFINER with an empty
-- search_path, executed by `authenticated` (the caller, auth.uid()) and `service_role` (which has
-- no uid: 28000), never `anon`. Each one works only on the caller's rows; another user's profile
-- or trip is answered exactly like a missing one (no existence leak). The core (booking_core::
-- travelers) validates every field before these are called; the checks here are the last line.
--
-- Personal data stays encrypted at rest as before (20261123000100_travelers.sql): `pii` and
-- `identity_document` are pgp_sym_encrypt under Vault secret traveler_data_key. They are
-- decrypted only here, for the caller's own profiles, and by app.monitor_passengers for the
-- pipeline. Nothing is logged: pipeline_events never receive a traveller field.
--
-- * travelers.version: bumped by every update (the attach compare-and-set below).
-- * A traveller in use by an OPEN booking attempt (attached to a trip whose attempt is open)
--   cannot be changed or deleted: 55006 (object_in_use), by a BEFORE trigger too, so no path
--   (a cascade from auth.users included) changes the passengers of an order in flight.

alter table public.travelers
  add column version bigint not null default 1,
  add constraint travelers_version_positive check (version >= 1);

-- Whether the traveller is attached to a trip that has an open booking attempt.
create function app.traveler_in_open_attempt(p_traveler_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.trip_travelers tt
    join public.booking_attempts a on a.trip_id = tt.trip_id and a.open
    where tt.traveler_id = p_traveler_id
  )
$$;

revoke all on function app.traveler_in_open_attempt(uuid) from public, anon, authenticated, service_role;

create function app.travelers_keep_in_use()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if app.traveler_in_open_attempt(old.id) then
    raise exception using
      errcode = '55006',
      message = format('traveler %s is on a trip with an open booking attempt', old.id);
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;

revoke all on function app.travelers_keep_in_use() from public, anon, authenticated, service_role;

create trigger travelers_keep_in_use
before delete or update of pii, identity_document on public.travelers
for each row execute function app.travelers_keep_in_use();

-- The caller's uid, or 28000.
create function app.caller_uid()
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v uuid := auth.uid();
begin
  if v is null then
    raise exception using errcode = '28000', message = 'not authenticated: no user id in the JWT claims';
  end if;
  return v;
end
$$;

revoke all on function app.caller_uid() from public, anon;
grant execute on function app.caller_uid() to authenticated, service_role;

-- A traveller as the owner sees it (decrypted) with the trips it is attached to.
create function app.traveler_view(t public.travelers, p_key text)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'id', t.id,
    'passenger_type', t.passenger_type,
    'version', t.version,
    'created_at', app.rfc3339(t.created_at),
    'updated_at', app.rfc3339(t.updated_at),
    'identity_document', case when t.identity_document is null then null
      else extensions.pgp_sym_decrypt(t.identity_document, p_key)::jsonb end,
    'trips', coalesce((
      select jsonb_agg(jsonb_build_object('trip_id', tt.trip_id, 'position', tt.position)
        order by tt.trip_id, tt.position)
      from public.trip_travelers tt where tt.traveler_id = t.id), '[]'::jsonb)
  ) || extensions.pgp_sym_decrypt(t.pii, p_key)::jsonb
$$;

revoke all on function app.traveler_view(public.travelers, text) from public, anon, authenticated, service_role;

-- travelers_list {} -> {"travelers": [view…]} (the caller's, oldest first)
create function app.travelers_list(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_key text;
begin
  perform app.monitor_args(args, array[]::text[]);
  if not exists (select 1 from public.travelers t where t.owner_id = v_uid) then
    return jsonb_build_object('travelers', '[]'::jsonb);
  end if;
  v_key := app.traveler_data_key();
  return jsonb_build_object('travelers', coalesce((
    select jsonb_agg(app.traveler_view(t, v_key) order by t.created_at, t.id)
    from public.travelers t where t.owner_id = v_uid), '[]'::jsonb));
end
$$;

-- travelers_create {"traveler": {title, gender, given_name, family_name, born_on, email,
-- phone_number, passenger_type, identity_document?}} -> {"traveler": view}
create function app.travelers_create(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_id uuid;
  v_row public.travelers;
begin
  perform app.monitor_args(args, array['traveler']);
  if (select count(*) from public.travelers t where t.owner_id = v_uid) >= 50 then
    raise exception using errcode = '54000', message = 'at most 50 traveller profiles per user';
  end if;
  v_id := app.create_traveler(v_uid, args -> 'traveler');
  select t.* into v_row from public.travelers t where t.id = v_id;
  return jsonb_build_object('traveler', app.traveler_view(v_row, app.traveler_data_key()));
end
$$;

-- travelers_update {"traveler_id", "traveler": {…all fields, as create…}} -> {"traveler": view}
-- or {"traveler": null} (missing or not the caller's). The profile is replaced as a whole.
-- 55006 when it is on a trip with an open attempt.
create function app.travelers_update(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  fields constant text[] := array[
    'title', 'gender', 'given_name', 'family_name', 'born_on', 'email', 'phone_number'
  ];
  v_uid uuid := app.caller_uid();
  v_id uuid;
  v_t jsonb := args -> 'traveler';
  v_doc jsonb;
  v_key text;
  v_row public.travelers;
  k text;
begin
  perform app.monitor_args(args, array['traveler_id', 'traveler']);
  v_id := app.arg_uuid(args, 'traveler_id');
  if jsonb_typeof(v_t) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'field traveler must be an object';
  end if;
  perform app.monitor_args(v_t, fields || array['passenger_type', 'identity_document']);
  foreach k in array fields loop
    if jsonb_typeof(v_t -> k) is distinct from 'string' or length(v_t ->> k) not between 1 and 200 then
      raise exception using errcode = '22023', message = format('field %s must be a non-empty string', k);
    end if;
  end loop;
  if jsonb_typeof(v_t -> 'identity_document') = 'object' then
    v_doc := app.traveler_document_checked(v_t -> 'identity_document');
  end if;

  select t.* into v_row from public.travelers t where t.id = v_id and t.owner_id = v_uid for update;
  if v_row.id is null then
    return jsonb_build_object('traveler', null);
  end if;
  v_key := app.traveler_data_key();
  update public.travelers t
  set
    pii = extensions.pgp_sym_encrypt(
      (select jsonb_object_agg(f, v_t ->> f) from unnest(fields) as f)::text, v_key, 'cipher-algo=aes256'),
    identity_document = case when v_doc is null then null
      else extensions.pgp_sym_encrypt(v_doc::text, v_key, 'cipher-algo=aes256') end,
    passenger_type = coalesce(v_t ->> 'passenger_type', t.passenger_type),
    version = t.version + 1
  where t.id = v_id
  returning t.* into v_row;
  return jsonb_build_object('traveler', app.traveler_view(v_row, v_key));
end
$$;

-- travelers_delete {"traveler_id"} -> {"deleted": true|false} (false: missing or not the
-- caller's). 55006 when it is on a trip with an open attempt. Other trips it was attached to
-- lose it (the monitor then waits with `travelers_missing`).
create function app.travelers_delete(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_id uuid;
  v_n integer;
begin
  perform app.monitor_args(args, array['traveler_id']);
  v_id := app.arg_uuid(args, 'traveler_id');
  delete from public.travelers t where t.id = v_id and t.owner_id = v_uid;
  get diagnostics v_n = row_count;
  return jsonb_build_object('deleted', v_n > 0);
end
$$;

-- travelers_attach_check {"trip_id", "traveler_ids": [uuid…]} -> {"trip": {id, status, adults,
-- child_ages, departure_date, return_date} | null, "travelers": [{id, born_on, version}…]}: what
-- the core needs to check the ages (only the caller's rows; a missing id is absent).
create function app.travelers_attach_check(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_trip public.trip_requests;
  v_ids uuid[];
  v_key text;
begin
  perform app.monitor_args(args, array['trip_id', 'traveler_ids']);
  if jsonb_typeof(args -> 'traveler_ids') is distinct from 'array'
    or jsonb_array_length(args -> 'traveler_ids') not between 1 and 9 then
    raise exception using errcode = '22023', message = 'field traveler_ids must be an array of 1 to 9 uuids';
  end if;
  v_ids := array(select (x #>> '{}')::uuid from jsonb_array_elements(args -> 'traveler_ids') as x);
  select t.* into v_trip from public.trip_requests t
  where t.id = app.arg_uuid(args, 'trip_id') and t.owner_id = v_uid;
  if v_trip.id is null then
    return jsonb_build_object('trip', null, 'travelers', '[]'::jsonb);
  end if;
  if exists (select 1 from public.travelers t where t.owner_id = v_uid and t.id = any (v_ids)) then
    v_key := app.traveler_data_key();
  end if;
  return jsonb_build_object(
    'trip', jsonb_build_object(
      'id', v_trip.id, 'status', v_trip.status, 'adults', v_trip.adults,
      'child_ages', to_jsonb(v_trip.child_ages),
      'departure_date', to_char(v_trip.departure_date, 'YYYY-MM-DD'),
      'return_date', to_char(v_trip.return_date, 'YYYY-MM-DD')),
    'travelers', coalesce((
      select jsonb_agg(jsonb_build_object(
        'id', t.id, 'version', t.version,
        'born_on', extensions.pgp_sym_decrypt(t.pii, v_key)::jsonb ->> 'born_on') order by t.id)
      from public.travelers t where t.owner_id = v_uid and t.id = any (v_ids)), '[]'::jsonb));
end
$$;

-- travelers_attach {"trip_id", "travelers": [{"id", "version"}…]} (passenger order: adults, then
-- child_ages order) -> {"attached": true} or {"attached": false, "reason": "not_found" |
-- "traveler_changed" (a profile changed since the check) | "trip_busy" (the trip is booking or
-- closed)}. Replaces the trip's passenger slots in one transaction.
create function app.travelers_attach(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_trip public.trip_requests;
  v_list jsonb := args -> 'travelers';
  v_matched integer;
begin
  perform app.monitor_args(args, array['trip_id', 'travelers']);
  if jsonb_typeof(v_list) is distinct from 'array' or jsonb_array_length(v_list) not between 1 and 9 then
    raise exception using errcode = '22023', message = 'field travelers must be an array of 1 to 9 {id, version}';
  end if;
  select t.* into v_trip from public.trip_requests t
  where t.id = app.arg_uuid(args, 'trip_id') and t.owner_id = v_uid
  for update;
  if v_trip.id is null then
    return jsonb_build_object('attached', false, 'reason', 'not_found');
  end if;
  if v_trip.status not in ('searching', 'watching', 'needs_traveller')
    or exists (select 1 from public.booking_attempts a where a.trip_id = v_trip.id and a.open) then
    return jsonb_build_object('attached', false, 'reason', 'trip_busy');
  end if;
  if jsonb_array_length(v_list) <> v_trip.adults + cardinality(v_trip.child_ages) then
    raise exception using errcode = '22023', message = 'one traveller per passenger of the trip';
  end if;
  select count(*) into v_matched from (
    select t.id
    from jsonb_array_elements(v_list) as x
    join public.travelers t
      on t.id = app.arg_uuid(x, 'id') and t.owner_id = v_uid
      and t.version = app.arg_int(x, 'version', 1, 9223372036854775807)
    for update of t
  ) as locked;
  if v_matched <> jsonb_array_length(v_list) then
    return jsonb_build_object('attached', false, 'reason', 'traveler_changed');
  end if;
  delete from public.trip_travelers tt where tt.trip_id = v_trip.id;
  insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
  select v_trip.id, v_uid, app.arg_uuid(x.value, 'id'), x.n::smallint
  from jsonb_array_elements(v_list) with ordinality as x(value, n);
  return jsonb_build_object('attached', true);
end
$$;

revoke all on function app.travelers_list(jsonb) from public, anon;
revoke all on function app.travelers_create(jsonb) from public, anon;
revoke all on function app.travelers_update(jsonb) from public, anon;
revoke all on function app.travelers_delete(jsonb) from public, anon;
revoke all on function app.travelers_attach_check(jsonb) from public, anon;
revoke all on function app.travelers_attach(jsonb) from public, anon;
grant execute on function app.travelers_list(jsonb) to authenticated, service_role;
grant execute on function app.travelers_create(jsonb) to authenticated, service_role;
grant execute on function app.travelers_update(jsonb) to authenticated, service_role;
grant execute on function app.travelers_delete(jsonb) to authenticated, service_role;
grant execute on function app.travelers_attach_check(jsonb) to authenticated, service_role;
grant execute on function app.travelers_attach(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Part 2. The traveller's watches (issue 7 item 4): the `trips` function's SQL API.
--
-- `app.trips_*(args jsonb) returns jsonb`, SECURITY DEFINER, empty search_path, executed by
-- `authenticated` (the caller) and `service_role` (no uid: 28000), never `anon`; another user's
-- trip is answered like a missing one.
--
-- * trip_requests.auto_book_paused: the traveller paused auto-booking. Pausing turns `auto_book`
--   off (the monitor keeps watching and recording prices but never begins an attempt: its
--   decision is `auto_book_off`), resuming turns it back on. Every change bumps the trip's
--   version, so a monitor run that read the trip before the pause loses the compare-and-set of
--   app.monitor_begin_attempt (`trip_changed`): a pause or cancel that commits before an attempt
--   begins guarantees that no attempt starts, hence no charge.
-- * trip_requests.cancel_requested_at: a cancel that met an attempt in flight (`booking`; the
--   status graph lets only the attempt's outcome leave it). The attempt is let finish or release;
--   when it ends without a booking (trip back to `watching` or `needs_traveller`), the trigger
--   trip_requests_cancel_pending cancels the trip in the same transaction.
-- * pipeline_events of stage `search` get `best_total_minor`, `best_currency` (the cheapest offer
--   in the trip's currency that search stored) and `max_total_minor` (the maximum at that time)
--   from a BEFORE INSERT trigger, so the price history keeps every price the monitor saw even
--   when nothing was within the maximum.
-- * The traveller's own actions are logged as stage `traveller` events (paused, resumed,
--   cancelled, cancel_requested, criteria_changed), PII-free like every event.

alter table public.trip_requests
  add column auto_book_paused boolean not null default false,
  add column cancel_requested_at timestamptz;

-- Best price seen by the search being logged -------------------------------------------------------
create function app.pipeline_events_best_price()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_trip public.trip_requests;
  v_best bigint;
begin
  if new.stage <> 'search' or new.decision = 'search_failed' then
    return new;
  end if;
  select t.* into v_trip from public.trip_requests t where t.id = new.trip_id;
  -- Offers this transaction stored (record_search upserts them just before logging).
  select min(f.total_minor) into v_best
  from public.flight_offers f
  where f.trip_id = new.trip_id and f.updated_at = now() and f.currency = v_trip.currency;
  new.detail := new.detail || jsonb_strip_nulls(jsonb_build_object(
    'best_total_minor', v_best,
    'best_currency', case when v_best is not null then v_trip.currency end,
    'max_total_minor', v_trip.max_total_minor,
    'currency', v_trip.currency
  ));
  return new;
end
$$;

revoke all on function app.pipeline_events_best_price() from public, anon, authenticated, service_role;

create trigger pipeline_events_best_price
before insert on public.pipeline_events
for each row execute function app.pipeline_events_best_price();

-- A pending cancel takes effect when the attempt ends without a booking --------------------------
create function app.trip_requests_cancel_pending()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.cancel_requested_at is not null and old.status = 'booking'
    and new.status in ('watching', 'needs_traveller') then
    update public.trip_requests t
    set status = 'cancelled', next_check_at = null, auto_book = false
    where t.id = new.id;
    insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
    values (new.id, 'traveller', 'cancelled', 'attempt_ended_unbooked',
      jsonb_build_object('from_status', new.status),
      nullif(current_setting('app.correlation_id', true), ''));
  end if;
  return null;
end
$$;

revoke all on function app.trip_requests_cancel_pending() from public, anon, authenticated, service_role;

create trigger trip_requests_cancel_pending
after update of status on public.trip_requests
for each row execute function app.trip_requests_cancel_pending();

-- Views ---------------------------------------------------------------------------------------------

-- A trip as its owner's list shows it: the trip row, the pause and cancel flags, the selected
-- offer (without the provider's raw body), the booking, and the price history.
create function app.trip_watch_json(t public.trip_requests, with_events boolean)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'trip', app.trip_json(t),
    'auto_book_paused', t.auto_book_paused,
    'cancel_requested', t.cancel_requested_at is not null,
    'selected_offer', (
      select app.offer_json(o) - 'raw' from public.flight_offers o where o.id = t.selected_offer_id),
    'booking', (
      select jsonb_build_object(
        'booking_reference', b.booking_reference, 'provider_order_id', b.provider_order_id,
        'amount_minor', b.amount_minor, 'currency', b.currency, 'status', b.status,
        'created_at', app.rfc3339(b.created_at))
      from public.bookings b where b.trip_id = t.id order by b.created_at desc limit 1),
    'attempt', (
      select jsonb_build_object('phase', a.phase, 'end', a.state #>> '{phase,end}')
      from public.booking_attempts a where a.trip_id = t.id and a.open),
    'prices', coalesce((
      select jsonb_agg(p.v order by p.at, p.id) from (
        select e.occurred_at as at, e.id, jsonb_build_object(
          'at', app.rfc3339(e.occurred_at),
          'decision', e.decision,
          'offers_seen', e.detail -> 'offers_seen',
          'best_total_minor', e.detail -> 'best_total_minor',
          'selected_total_minor', e.detail -> 'selected_total_minor',
          'currency', coalesce(e.detail ->> 'best_currency', e.detail ->> 'selected_currency', t.currency)) as v
        from public.pipeline_events e
        where e.trip_id = t.id and e.stage = 'search' and e.decision <> 'search_failed'
        order by e.occurred_at desc, e.id desc
        limit 500
      ) as p), '[]'::jsonb)
  ) || case when with_events then jsonb_build_object('events', coalesce((
      select jsonb_agg(x.v order by x.at, x.id) from (
        select e.occurred_at as at, e.id, jsonb_build_object(
          'at', app.rfc3339(e.occurred_at),
          'stage', e.stage,
          'decision', e.decision,
          'reason', e.reason_code,
          'detail', e.detail || coalesce((
            select jsonb_strip_nulls(jsonb_build_object(
              'booking_reference', b.booking_reference,
              'carriers', to_jsonb(o.carriers),
              'departing_at', app.local_datetime(o.departing_at)))
            from public.booking_attempts a
            left join public.bookings b on b.attempt_id = a.id
            left join public.flight_offers o
              on o.trip_id = a.trip_id and o.provider = 'duffel' and o.provider_offer_id = a.state ->> 'offer_id'
            where e.stage = 'book' and a.id::text = e.detail ->> 'attempt_id'), '{}'::jsonb)) as v
        from public.pipeline_events e
        where e.trip_id = t.id
        order by e.occurred_at desc, e.id desc
        limit 500
      ) as x), '[]'::jsonb))
    else '{}'::jsonb end
$$;

revoke all on function app.trip_watch_json(public.trip_requests, boolean) from public, anon, authenticated, service_role;

-- trips_list {} -> {"trips": [watch…]} (the caller's, newest first, at most 100)
create function app.trips_list(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
begin
  perform app.monitor_args(args, array[]::text[]);
  return jsonb_build_object('trips', coalesce((
    select jsonb_agg(app.trip_watch_json(x, false) order by x.created_at desc, x.id)
    from (
      select t.* from public.trip_requests t where t.owner_id = v_uid
      order by t.created_at desc, t.id limit 100
    ) as x), '[]'::jsonb));
end
$$;

-- trips_get {"trip_id"} -> {"trip": watch with "events" (the decision log, oldest first)} or
-- {"trip": null}
create function app.trips_get(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_trip public.trip_requests;
begin
  perform app.monitor_args(args, array['trip_id']);
  select t.* into v_trip from public.trip_requests t
  where t.id = app.arg_uuid(args, 'trip_id') and t.owner_id = v_uid;
  if v_trip.id is null then
    return jsonb_build_object('trip', null);
  end if;
  return jsonb_build_object('trip', app.trip_watch_json(v_trip, true));
end
$$;

-- trips_control {"trip_id", "action": "pause"|"resume"|"cancel"|"update", "version"?,
-- "changes"?: {max_total_minor?, cabin?, nonstop_only?}} -> {"outcome": code, "trip": watch|null,
-- "attempt"?: {phase, end}}. Outcomes:
--   paused | resumed | cancelled | cancel_pending (an attempt is in flight) | updated
--   not_found | version_conflict | not_auto_book | not_paused | trip_closed | trip_not_watching
-- `version` (required for update, optional otherwise) is compared with the trip's.
create function app.trips_control(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_trip public.trip_requests;
  v_action text;
  v_version bigint;
  v_changes jsonb;
  v_outcome text;
  v_attempt jsonb;
begin
  perform app.monitor_args(args, array['trip_id', 'action', 'version', 'changes']);
  v_action := app.arg_code(args, 'action');
  if v_action not in ('pause', 'resume', 'cancel', 'update') then
    raise exception using errcode = '22023', message = 'field action must be pause, resume, cancel or update';
  end if;
  v_version := app.arg_int(args, 'version', 1, 9223372036854775807, 0);
  if v_action = 'update' and v_version = 0 then
    raise exception using errcode = '22023', message = 'field version is required to update';
  end if;

  -- The row lock orders this against app.monitor_begin_attempt (which locks the trip too): if
  -- this commits first, begin sees the new version and status and starts nothing.
  select t.* into v_trip from public.trip_requests t
  where t.id = app.arg_uuid(args, 'trip_id') and t.owner_id = v_uid
  for update;
  if v_trip.id is null then
    return jsonb_build_object('outcome', 'not_found', 'trip', null);
  end if;
  if v_version <> 0 and v_version <> v_trip.version then
    return jsonb_build_object('outcome', 'version_conflict', 'trip', app.trip_watch_json(v_trip, false));
  end if;
  select jsonb_build_object('phase', a.phase, 'end', a.state #>> '{phase,end}') into v_attempt
  from public.booking_attempts a where a.trip_id = v_trip.id and a.open;

  case v_action
    when 'pause' then
      if v_trip.status in ('booked', 'expired', 'cancelled', 'failed') then
        v_outcome := 'trip_closed';
      elsif v_trip.auto_book_paused then
        v_outcome := 'paused';
      elsif not v_trip.auto_book then
        v_outcome := 'not_auto_book';
      else
        update public.trip_requests t set auto_book = false, auto_book_paused = true
        where t.id = v_trip.id;
        v_outcome := 'paused';
      end if;

    when 'resume' then
      if v_trip.status in ('booked', 'expired', 'cancelled', 'failed') or v_trip.cancel_requested_at is not null then
        v_outcome := 'trip_closed';
      elsif v_trip.status = 'needs_traveller' then
        -- Back to the monitor; the payment helper resolves the card itself (3-D Secure / another
        -- card); this only lets the monitor try again. A paused trip is unpaused too.
        update public.trip_requests t
        set status = 'watching', next_check_at = now(),
          auto_book = t.auto_book or t.auto_book_paused, auto_book_paused = false
        where t.id = v_trip.id;
        v_outcome := 'resumed';
      elsif v_trip.auto_book_paused then
        update public.trip_requests t
        set auto_book = true, auto_book_paused = false,
          next_check_at = case when t.status in ('searching', 'watching') then now() else t.next_check_at end
        where t.id = v_trip.id;
        v_outcome := 'resumed';
      else
        v_outcome := 'not_paused';
      end if;

    when 'cancel' then
      if v_trip.status = 'cancelled' then
        v_outcome := 'cancelled';
      elsif v_trip.status in ('booked', 'expired', 'failed') then
        v_outcome := 'trip_closed';
      elsif v_trip.status = 'booking' or v_attempt is not null then
        update public.trip_requests t
        set cancel_requested_at = coalesce(t.cancel_requested_at, now()), auto_book = false
        where t.id = v_trip.id;
        v_outcome := 'cancel_pending';
      else
        update public.trip_requests t
        set status = 'cancelled', next_check_at = null, auto_book = false, cancel_requested_at = now()
        where t.id = v_trip.id;
        v_outcome := 'cancelled';
      end if;

    when 'update' then
      v_changes := args -> 'changes';
      if jsonb_typeof(v_changes) is distinct from 'object' then
        raise exception using errcode = '22023', message = 'field changes must be an object';
      end if;
      perform app.monitor_args(v_changes, array['max_total_minor', 'cabin', 'nonstop_only']);
      if v_trip.status not in ('searching', 'watching') then
        v_outcome := 'trip_not_watching';
      else
        -- The selection was made under the old criteria: drop it, and search again at once.
        update public.trip_requests t
        set
          max_total_minor = case when v_changes ? 'max_total_minor'
            then app.arg_int(v_changes, 'max_total_minor', 1, 1000000000000) else t.max_total_minor end,
          cabin = coalesce(v_changes ->> 'cabin', t.cabin),
          nonstop_only = coalesce((v_changes ->> 'nonstop_only')::boolean, t.nonstop_only),
          selected_offer_id = null,
          next_check_at = now()
        where t.id = v_trip.id;
        v_outcome := 'updated';
      end if;
  end case;

  select t.* into v_trip from public.trip_requests t where t.id = v_trip.id;
  if v_outcome in ('paused', 'resumed', 'cancelled', 'cancel_pending', 'updated') then
    insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
    values (v_trip.id, 'traveller',
      case v_outcome when 'cancel_pending' then 'cancel_requested' when 'updated' then 'criteria_changed'
        else v_outcome end,
      null,
      jsonb_strip_nulls(jsonb_build_object(
        'status', v_trip.status,
        'attempt_phase', v_attempt ->> 'phase',
        'max_total_minor', case when v_outcome = 'updated' then v_trip.max_total_minor end,
        'currency', case when v_outcome = 'updated' then v_trip.currency end,
        'cabin', case when v_outcome = 'updated' then v_trip.cabin end,
        'nonstop_only', case when v_outcome = 'updated' then v_trip.nonstop_only end)),
      nullif(current_setting('app.correlation_id', true), ''));
  end if;
  return jsonb_strip_nulls(jsonb_build_object(
    'outcome', v_outcome,
    'attempt', v_attempt)) || jsonb_build_object('trip', app.trip_watch_json(v_trip, false));
end
$$;

revoke all on function app.trips_list(jsonb) from public, anon;
revoke all on function app.trips_get(jsonb) from public, anon;
revoke all on function app.trips_control(jsonb) from public, anon;
grant execute on function app.trips_list(jsonb) to authenticated, service_role;
grant execute on function app.trips_get(jsonb) to authenticated, service_role;
grant execute on function app.trips_control(jsonb) to authenticated, service_role;
