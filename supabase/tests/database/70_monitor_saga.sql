-- The monitor's write API, called as service_role: monitor_begin_attempt (the trip CAS and the
-- attempt insert), monitor_save_attempt (CAS on the attempt version and each effect),
-- monitor_passengers, monitor_reschedule, monitor_expire, monitor_record_search(_failure),
-- monitor_heartbeat; and a booked trip never goes back to watching.
begin;
select plan(68);

-- Dates relative to the transaction's clock, so the file means the same on any day:
-- pg_temp.day(n) is current_date + n; pg_temp.at(i) is now() + i as RFC 3339 UTC with
-- milliseconds; pg_temp.dated(text) replaces {{day+N}} with pg_temp.day(N) (YYYY-MM-DD) and
-- {{now+INTERVAL}} with pg_temp.at(INTERVAL) (the sign may be - too), for JSON written as text.
create function pg_temp.day(n int) returns date language sql stable as $$ select current_date + n $$;
create function pg_temp.at(i interval) returns text language sql stable
as $$ select to_char((now() + i) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
create function pg_temp.dated(s text) returns text language plpgsql stable as $$
declare
  m text[];
begin
  for m in select regexp_matches(s, '\{\{(day|now)([+-][^}]+)\}\}', 'g') loop
    s := replace(s, '{{' || m[1] || m[2] || '}}', case m[1]
      when 'day' then to_char(pg_temp.day(m[2]::int), 'YYYY-MM-DD') else pg_temp.at(m[2]::interval) end);
  end loop;
  return s;
end
$$;

insert into auth.users (id, email) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'user-a@example.test');
select vault.create_secret('pgtap-only-traveler-key-0123456789', 'traveler_data_key')
where not exists (select 1 from vault.secrets where name = 'traveler_data_key');

-- A trip in `status` with a selected offer (off_<n>), due now.
create function pg_temp.trip(status text, adults int default 1, child_ages smallint[] default '{}')
returns uuid
language plpgsql
as $$
declare
  t uuid;
  o uuid;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, child_ages, cabin, max_total_minor, currency)
  values ('aaaaaaaa-0000-4000-8000-00000000000a', 'LHR', 'JFK', pg_temp.day(100), adults, child_ages, 'economy', 42000, 'GBP')
  returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_0000test', 39900, 'GBP', 'economy', 0, 490, pg_temp.day(100) + time '09:00', pg_temp.day(100) + time '12:10', '{ZZ}',
    pg_temp.at('30 minutes')::timestamptz)
  returning id into o;
  if status <> 'searching' then
    update public.trip_requests set status = 'watching', selected_offer_id = o, next_check_at = now() where id = t;
  end if;
  return t;
end
$$;

-- An AttemptState (booking_core::saga::AttemptState JSON) with `extra` merged over it.
create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, extra jsonb default '{}')
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000test',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
    'payment_intent', null, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', pg_temp.at('0'), 'updated_at', pg_temp.at('0')
  ) || extra
$$;

create function pg_temp.begin_args(trip uuid, attempt uuid, trip_version bigint default null)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'trip_id', trip,
    'trip_version', coalesce(trip_version, (select version from public.trip_requests where id = trip)),
    'state', pg_temp.state(attempt, trip, 1, '{"name": "reprice"}'))
$$;

create function pg_temp.save_args(attempt uuid, expected int, state jsonb, effects jsonb default '[]')
returns jsonb
language sql
as $$
  select jsonb_build_object('attempt_id', attempt, 'expected_version', expected, 'state', state, 'effects', effects)
$$;

create temp table t (k text primary key, id uuid);
grant all on t to public;
insert into t values
  ('main', pg_temp.trip('watching')), ('twice', pg_temp.trip('watching')), ('again', pg_temp.trip('watching')),
  ('card', pg_temp.trip('watching')), ('new', pg_temp.trip('searching')),
  ('fam', pg_temp.trip('watching', 2, '{7}')),
  ('a1', '11111111-0000-4000-8000-000000000001'), ('a2', '11111111-0000-4000-8000-000000000002'),
  ('a3', '11111111-0000-4000-8000-000000000003'), ('a4', '11111111-0000-4000-8000-000000000004'),
  ('a5', '11111111-0000-4000-8000-000000000005'), ('a6', '11111111-0000-4000-8000-000000000006');

-- Passengers of `fam` (2 adults, a child of 7 at departure): stored out of order, the child still missing.
create temp table pax (position int, traveler uuid);
insert into pax
select p.position, app.create_traveler('aaaaaaaa-0000-4000-8000-00000000000a', p.traveler)
from (values
  (2, '{"title": "mr", "gender": "m", "given_name": "Tomasz", "family_name": "Nowak", "born_on": "1980-02-01",
        "email": "tomasz@example.test", "phone_number": "+48221234567"}'::jsonb),
  (1, '{"title": "mrs", "gender": "f", "given_name": "Ewa", "family_name": "Nowak", "born_on": "1982-05-06",
        "email": "ewa@example.test", "phone_number": "+48227654321"}'::jsonb),
  (3, pg_temp.dated('{"title": "miss", "gender": "f", "given_name": "Ola", "family_name": "Nowak", "born_on": "{{day-2700}}",
        "email": "ewa@example.test", "phone_number": "+48227654321", "passenger_type": "child"}')::jsonb)
) as p(position, traveler);
insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
select (select id from t where k = 'fam'), 'aaaaaaaa-0000-4000-8000-00000000000a', traveler, position from pax where position <> 3;

select set_config('role', 'service_role', true);

-- begin_attempt ----------------------------------------------------------------------------------
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'main'), (select id from t where k = 'a1'), 1)),
  '{"started": false, "reason": "trip_changed"}'::jsonb, 'a stale trip version: trip_changed');
select is((select count(*)::int from public.booking_attempts where trip_id = (select id from t where k = 'main')), 0,
  'trip_changed inserts no attempt');

create temp table v0 as select version from public.trip_requests where id = (select id from t where k = 'main');
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'main'), (select id from t where k = 'a1'))),
  '{"started": true}'::jsonb, 'the current version: started');
select is((select status || ' v' || version from public.trip_requests where id = (select id from t where k = 'main')),
  'booking v' || ((select version from v0) + 1), 'in the same transaction the trip moved watching -> booking (version + 1)');
select is((select jsonb_build_object('open', open, 'phase', phase, 'version', version, 'state', state = pg_temp.state(id, trip_id, 1, '{"name": "reprice"}'))
   from public.booking_attempts where id = (select id from t where k = 'a1')),
  '{"open": true, "phase": "reprice", "version": 1, "state": true}'::jsonb, 'and the attempt row holds the state as given');
select is((select decision || ' ' || (detail ->> 'attempt_id') from public.pipeline_events
   where trip_id = (select id from t where k = 'main') and stage = 'book'),
  'attempt_started ' || (select id from t where k = 'a1'), 'a book event records the start (ids only)');
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'main'), (select id from t where k = 'a2'))),
  '{"started": false, "reason": "attempt_open"}'::jsonb, 'a second begin on the trip: attempt_open');
select is((select count(*)::int from public.booking_attempts where trip_id = (select id from t where k = 'main')), 1,
  'still one attempt');
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'new'), (select id from t where k = 'a2'))),
  '{"started": false, "reason": "trip_changed"}'::jsonb, 'a trip that is not watching: trip_changed');
select is(app.monitor_begin_attempt(pg_temp.begin_args(gen_random_uuid(), (select id from t where k = 'a2'), 1)),
  '{"started": false, "reason": "trip_changed"}'::jsonb, 'a trip that does not exist: trip_changed');
select throws_ok(
  format($$ select app.monitor_begin_attempt(jsonb_build_object('trip_id', %L, 'trip_version', 1,
    'state', pg_temp.state(%L, gen_random_uuid(), 1, '{"name": "reprice"}'))) $$,
    (select id from t where k = 'twice'), (select id from t where k = 'a2')),
  '22023', 'state.trip_id differs from trip_id', 'the state must be for this trip');
select throws_ok(
  format($$ select app.monitor_begin_attempt(jsonb_build_object('trip_id', %1$L, 'trip_version', 1,
    'state', pg_temp.state(%2$L, %1$L, 1, '{"name": "closed", "end": "fail"}'))) $$,
    (select id from t where k = 'twice'), (select id from t where k = 'a2')),
  '22023', 'an attempt cannot begin closed', 'an attempt begins open');

-- save_attempt: compare-and-set ---------------------------------------------------------------------
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a1'), 2,
    pg_temp.state((select id from t where k = 'a1'), (select id from t where k = 'main'), 3, '{"name": "authorize"}'))),
  '{"saved": false}'::jsonb, 'expected_version differs from the stored one: saved false');
select is((select version from public.booking_attempts where id = (select id from t where k = 'a1')), 1::bigint,
  'a lost compare-and-set writes nothing');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a1'), 1,
    pg_temp.state((select id from t where k = 'a1'), (select id from t where k = 'main'), 2, '{"name": "authorize"}', '{"in_flight": true, "tries": 1}'))),
  '{"saved": true}'::jsonb, 'the expected version: saved');
select is((select phase || ' v' || version || ' ' || (state ->> 'in_flight')
   from public.booking_attempts where id = (select id from t where k = 'a1')),
  'authorize v2 true', 'the new state is stored');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a1'), 1,
    pg_temp.state((select id from t where k = 'a1'), (select id from t where k = 'main'), 2, '{"name": "order"}'))),
  '{"saved": false}'::jsonb, 'the same compare-and-set again (another runner): saved false');
select throws_ok(
  format($$ select app.monitor_save_attempt(pg_temp.save_args(%1$L, 2, pg_temp.state(%1$L, %2$L, 2, '{"name": "order"}'))) $$,
    (select id from t where k = 'a1'), (select id from t where k = 'main')),
  '22023', 'state.version must be greater than expected_version', 'the new state must have a higher version');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a6'), 1,
    pg_temp.state((select id from t where k = 'a6'), (select id from t where k = 'main'), 2, '{"name": "order"}'))),
  '{"saved": false}'::jsonb, 'an attempt that does not exist: saved false');

-- save_attempt: effects that name another trip, or an unknown kind, roll everything back ------------
select throws_ok(
  format($$ select app.monitor_save_attempt(pg_temp.save_args(%1$L, 2, pg_temp.state(%1$L, %2$L, 3, '{"name": "capture"}'),
    jsonb_build_array(jsonb_build_object('kind', 'log_decision', 'trip_id', %3$L, 'decision', 'booked', 'reason', 'x')))) $$,
    (select id from t where k = 'a1'), (select id from t where k = 'main'), (select id from t where k = 'twice')),
  '22023', 'log_decision effect names another trip', 'an effect for another trip is refused');
select throws_ok(
  format($$ select app.monitor_save_attempt(pg_temp.save_args(%1$L, 2, pg_temp.state(%1$L, %2$L, 3, '{"name": "capture"}'),
    jsonb_build_array(jsonb_build_object('kind', 'refund', 'trip_id', %2$L)))) $$,
    (select id from t where k = 'a1'), (select id from t where k = 'main')),
  '22023', 'unknown effect kind: refund', 'an unknown effect kind is refused');
select is((select version from public.booking_attempts where id = (select id from t where k = 'a1')), 2::bigint,
  'a refused effect leaves the state unsaved too');

-- save_attempt: finish(booked) with every effect -------------------------------------------------------
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a1'), 2,
    pg_temp.state((select id from t where k = 'a1'), (select id from t where k = 'main'), 3, '{"name": "closed", "end": "booked"}',
      '{"payment_intent": "pi_3MtwBwLkdIwHu7ix", "amount": {"amount_minor": 39900, "currency": "GBP"},
        "order": {"id": "ord_00009hthhsUZ8W4LxQgkjo", "booking_reference": "RZPNX8"}, "reason": "booked"}'),
    jsonb_build_array(
      jsonb_build_object('kind', 'set_trip_status', 'trip_id', (select id from t where k = 'main'), 'to', 'booked', 'reason', 'booked'),
      jsonb_build_object('kind', 'record_booking', 'trip_id', (select id from t where k = 'main'), 'attempt_id', (select id from t where k = 'a1'),
        'order_id', 'ord_00009hthhsUZ8W4LxQgkjo', 'booking_reference', 'RZPNX8',
        'amount', jsonb_build_object('amount_minor', 39900, 'currency', 'GBP')),
      jsonb_build_object('kind', 'notify', 'trip_id', (select id from t where k = 'main'), 'template', 'booked',
        'dedupe_key', (select id from t where k = 'a1') || '-booked'),
      jsonb_build_object('kind', 'log_decision', 'trip_id', (select id from t where k = 'main'), 'decision', 'booked', 'reason', 'booked')))),
  '{"saved": true}'::jsonb, 'finish(booked): saved with its effects');
select is((select jsonb_build_object('status', status, 'next_check_at', next_check_at, 'last_error_code', last_error_code)
   from public.trip_requests where id = (select id from t where k = 'main')),
  '{"status": "booked", "next_check_at": null, "last_error_code": null}'::jsonb, 'set_trip_status: booking -> booked, no next check');
select is((select jsonb_build_object('order', provider_order_id, 'ref', booking_reference, 'amount', amount_minor, 'currency', currency,
     'status', status, 'trip', trip_id = (select id from t where k = 'main'))
   from public.bookings where attempt_id = (select id from t where k = 'a1')),
  '{"order": "ord_00009hthhsUZ8W4LxQgkjo", "ref": "RZPNX8", "amount": 39900, "currency": "GBP", "status": "confirmed", "trip": true}'::jsonb,
  'record_booking: the booking row');
select is((select jsonb_build_object('template', template, 'status', status, 'attempts', attempts, 'owner', owner_id)
   from public.notifications where template <> 'price_alert' and trip_id = (select id from t where k = 'main')),
  '{"template": "booked", "status": "pending", "attempts": 0, "owner": "aaaaaaaa-0000-4000-8000-00000000000a"}'::jsonb,
  'notify: a pending outbox row for the trip''s owner');
select is((select jsonb_build_object('decision', decision, 'reason', reason_code, 'attempt', detail ->> 'attempt_id',
     'amount', detail -> 'amount_minor', 'order', detail ->> 'order_id')
   from public.pipeline_events where trip_id = (select id from t where k = 'main') and stage = 'book' and decision = 'booked'),
  jsonb_build_object('decision', 'booked', 'reason', 'booked', 'attempt', (select id from t where k = 'a1'), 'amount', 39900,
    'order', 'ord_00009hthhsUZ8W4LxQgkjo'),
  'log_decision: a book event with ids and amounts, no personal data');
select is((select open::text || ' ' || phase from public.booking_attempts where id = (select id from t where k = 'a1')),
  'false closed', 'the attempt is closed');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a1'), 3,
    pg_temp.state((select id from t where k = 'a1'), (select id from t where k = 'main'), 4, '{"name": "closed", "end": "booked"}'))),
  '{"saved": false}'::jsonb, 'a closed attempt is never saved again');

-- Booked never goes back to watching -----------------------------------------------------------------
select throws_ok(
  format($$ update public.trip_requests set status = 'watching' where id = %L $$, (select id from t where k = 'main')),
  '55000', 'trip status cannot change from booked to watching', 'booked -> watching is refused by the trigger');
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'main'), (select id from t where k = 'a2'))),
  '{"started": false, "reason": "trip_changed"}'::jsonb, 'a booked trip cannot start another attempt');

-- Idempotent record_booking and notify (two saves with the same effects) ---------------------------
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'twice'), (select id from t where k = 'a2'))),
  '{"started": true}'::jsonb, 'another trip starts an attempt');
create temp table fx as select jsonb_build_array(
  jsonb_build_object('kind', 'record_booking', 'trip_id', (select id from t where k = 'twice'), 'attempt_id', (select id from t where k = 'a2'),
    'order_id', 'ord_0000twice', 'booking_reference', 'TW1CE0', 'amount', jsonb_build_object('amount_minor', 41000, 'currency', 'GBP')),
  jsonb_build_object('kind', 'notify', 'trip_id', (select id from t where k = 'twice'), 'template', 'booked',
    'dedupe_key', (select id from t where k = 'a2') || '-booked')) as j;
grant select on fx to public;
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a2'), 1,
    pg_temp.state((select id from t where k = 'a2'), (select id from t where k = 'twice'), 2, '{"name": "finish", "end": "booked"}'), (select j from fx))),
  '{"saved": true}'::jsonb, 'first save with record_booking + notify');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a2'), 2,
    pg_temp.state((select id from t where k = 'a2'), (select id from t where k = 'twice'), 3, '{"name": "finish", "end": "booked"}'), (select j from fx))),
  '{"saved": true}'::jsonb, 'second save with the same effects');
select is((select count(*)::int from public.bookings where attempt_id = (select id from t where k = 'a2')), 1,
  'record_booking is idempotent on attempt_id');
select is((select count(*)::int from public.notifications where dedupe_key = (select id from t where k = 'a2') || '-booked'), 1,
  'notify is idempotent on dedupe_key');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a2'), 3,
    pg_temp.state((select id from t where k = 'a2'), (select id from t where k = 'twice'), 4, '{"name": "finish", "end": "booked"}'),
    jsonb_build_array(jsonb_build_object('kind', 'set_trip_status', 'trip_id', (select id from t where k = 'twice'), 'to', 'booked', 'reason', 'booked')))),
  '{"saved": true}'::jsonb, 'set_trip_status booked');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a2'), 4,
    pg_temp.state((select id from t where k = 'a2'), (select id from t where k = 'twice'), 5, '{"name": "finish", "end": "booked"}'),
    jsonb_build_array(jsonb_build_object('kind', 'set_trip_status', 'trip_id', (select id from t where k = 'twice'), 'to', 'booked', 'reason', 'booked')))),
  '{"saved": true}'::jsonb, 'set_trip_status to the status the trip already has is a no-op');
select throws_ok(
  format($$ select app.monitor_save_attempt(pg_temp.save_args(%1$L, 5, pg_temp.state(%1$L, %2$L, 6, '{"name": "closed", "end": "search_again"}'),
    jsonb_build_array(jsonb_build_object('kind', 'set_trip_status', 'trip_id', %2$L, 'to', 'watching', 'reason', 'offer_gone')))) $$,
    (select id from t where k = 'a2'), (select id from t where k = 'twice')),
  '55000', 'set_trip_status: trip is booked, not booking', 'set_trip_status never moves a booked trip (only from booking)');
select is((select version from public.booking_attempts where id = (select id from t where k = 'a2')), 5::bigint,
  'and the state of that save was not stored either');

-- finish(search_again): back to watching, searched again soon --------------------------------------
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'again'), (select id from t where k = 'a3'))),
  '{"started": true}'::jsonb, 'a third trip starts an attempt');
update public.trip_requests set next_check_at = now() + interval '5 minutes' where id = (select id from t where k = 'again');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a3'), 1,
    pg_temp.state((select id from t where k = 'a3'), (select id from t where k = 'again'), 2, '{"name": "closed", "end": "search_again"}', '{"reason": "offer_gone"}'),
    jsonb_build_array(
      jsonb_build_object('kind', 'set_trip_status', 'trip_id', (select id from t where k = 'again'), 'to', 'watching', 'reason', 'offer_gone'),
      jsonb_build_object('kind', 'log_decision', 'trip_id', (select id from t where k = 'again'), 'decision', 'search_again', 'reason', 'offer_gone')))),
  '{"saved": true}'::jsonb, 'finish(search_again) saved');
select is((select jsonb_build_object('status', status, 'due_now', next_check_at = now(), 'last_error_code', last_error_code)
   from public.trip_requests where id = (select id from t where k = 'again')),
  '{"status": "watching", "due_now": true, "last_error_code": "offer_gone"}'::jsonb,
  'booking -> watching sets next_check_at to now, so the trip is searched again soon');
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'again'), (select id from t where k = 'a4'))),
  '{"started": true}'::jsonb, 'with the old attempt closed, a new attempt can start');

-- finish(needs_traveller) ----------------------------------------------------------------------------
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'card'), (select id from t where k = 'a5'))),
  '{"started": true}'::jsonb, 'a fourth trip starts an attempt');
select is(app.monitor_save_attempt(pg_temp.save_args((select id from t where k = 'a5'), 1,
    pg_temp.state((select id from t where k = 'a5'), (select id from t where k = 'card'), 2, '{"name": "closed", "end": "needs_traveller"}'),
    jsonb_build_array(
      jsonb_build_object('kind', 'set_trip_status', 'trip_id', (select id from t where k = 'card'), 'to', 'needs_traveller', 'reason', 'authentication_required'),
      jsonb_build_object('kind', 'notify', 'trip_id', (select id from t where k = 'card'), 'template', 'payment_needs_attention',
        'dedupe_key', (select id from t where k = 'a5') || '-payment_needs_attention')))),
  '{"saved": true}'::jsonb, 'finish(needs_traveller) saved');
select is((select status || ' ' || coalesce(next_check_at::text, 'no next check') || ' ' || last_error_code
   from public.trip_requests where id = (select id from t where k = 'card')),
  'needs_traveller no next check authentication_required', 'the trip waits for the traveller, not for the monitor');
select is((select template from public.notifications where template <> 'price_alert' and trip_id = (select id from t where k = 'card')),
  'payment_needs_attention', 'and the traveller is told');

-- monitor_passengers -------------------------------------------------------------------------------------
select is(app.monitor_passengers(jsonb_build_object('trip_id', (select id from t where k = 'fam'))),
  '{"passengers": null, "reason": "travelers_missing"}'::jsonb, 'a passenger short: travelers_missing');
select set_config('role', 'postgres', true);
insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
select (select id from t where k = 'fam'), 'aaaaaaaa-0000-4000-8000-00000000000a', traveler, position from pax where position = 3;
select set_config('role', 'service_role', true);
select is(app.monitor_passengers(jsonb_build_object('trip_id', (select id from t where k = 'fam'))),
  pg_temp.dated('{"passengers": [
     {"title": "mrs", "gender": "f", "given_name": "Ewa", "family_name": "Nowak", "born_on": "1982-05-06", "email": "ewa@example.test", "phone_number": "+48227654321"},
     {"title": "mr", "gender": "m", "given_name": "Tomasz", "family_name": "Nowak", "born_on": "1980-02-01", "email": "tomasz@example.test", "phone_number": "+48221234567"},
     {"title": "miss", "gender": "f", "given_name": "Ola", "family_name": "Nowak", "born_on": "{{day-2700}}", "email": "ewa@example.test", "phone_number": "+48227654321"}]}')::jsonb,
  'all there: decrypted, in position order (adults, then the child)');
select is(app.monitor_passengers(jsonb_build_object('trip_id', (select id from t where k = 'main'))),
  '{"passengers": null, "reason": "travelers_missing"}'::jsonb, 'a trip without travelers: travelers_missing');
select throws_ok($$ select app.monitor_passengers(jsonb_build_object('trip_id', gen_random_uuid())) $$, 'P0002', 'trip not found',
  'an unknown trip: P0002');

-- monitor_reschedule / monitor_expire ------------------------------------------------------------------
create temp table r0 as select check_count, version from public.trip_requests where id = (select id from t where k = 'fam');
select is(app.monitor_reschedule(jsonb_build_object('trip_id', (select id from t where k = 'fam'), 'next_check_at', pg_temp.at('1 hour'),
    'decision', 'wait', 'reason', 'price_above_max')),
  '{"ok": true}'::jsonb, 'reschedule a watching trip');
select is((select jsonb_build_object('next', next_check_at, 'count', check_count - (select check_count from r0))
   from public.trip_requests where id = (select id from t where k = 'fam')),
  jsonb_build_object('next', pg_temp.at('1 hour')::timestamptz, 'count', 1), 'next_check_at set, check_count + 1');
select is((select decision || ' ' || reason_code from public.pipeline_events where trip_id = (select id from t where k = 'fam') and stage = 'monitor'),
  'wait price_above_max', 'a monitor event records the decision');
select is(app.monitor_reschedule(jsonb_build_object('trip_id', (select id from t where k = 'main'), 'next_check_at', pg_temp.at('1 hour'),
    'decision', 'wait', 'reason', 'x')),
  '{"ok": false}'::jsonb, 'a booked trip is not rescheduled');
select throws_ok(
  format($$ select app.monitor_reschedule(jsonb_build_object('trip_id', %L, 'next_check_at', 'tomorrow', 'decision', 'wait')) $$,
    (select id from t where k = 'fam')),
  '22007', 'field next_check_at must be an RFC 3339 timestamp with offset', 'next_check_at must be RFC 3339');
select is(app.monitor_expire(jsonb_build_object('trip_id', (select id from t where k = 'fam'), 'reason', 'departure_passed')),
  '{"ok": true}'::jsonb, 'expire a watching trip');
select is((select status || ' ' || coalesce(next_check_at::text, '-') from public.trip_requests where id = (select id from t where k = 'fam')),
  'expired -', 'the trip is expired and no longer due');
select is(app.monitor_expire(jsonb_build_object('trip_id', (select id from t where k = 'again'), 'reason', 'departure_passed')),
  '{"ok": false}'::jsonb, 'a trip in booking is not expired by the monitor (the attempt decides)');

-- monitor_record_search / _failure ------------------------------------------------------------------
select is(app.monitor_record_search(jsonb_build_object('trip_id', (select id from t where k = 'new'), 'result', jsonb_build_object(
    'provider', 'duffel', 'offer_request_id', 'orq_1', 'offers_seen', 1,
    'offers', jsonb_build_array(jsonb_build_object('provider_offer_id', 'off_new', 'total_minor', 30000, 'currency', 'GBP',
      'cabin', 'economy', 'stops', 0, 'duration_minutes', 490, 'departing_at', pg_temp.day(100) + time '09:00',
      'arriving_at', pg_temp.day(100) + time '12:10', 'carriers', jsonb_build_array('ZZ'), 'expires_at', pg_temp.at('30 minutes'), 'raw', null)),
    'selected_provider_offer_id', 'off_new', 'rejections', '{}'::jsonb, 'decision', 'offer_selected',
    'next_check_at', pg_temp.at('0')))) #>> '{trip,status}',
  'watching', 'monitor_record_search records like app.record_search');
select throws_ok(
  format($$ select app.monitor_record_search(jsonb_build_object('trip_id', %L, 'result', jsonb_build_object('provider', 'duffel',
    'offers', '[]'::jsonb, 'selected_provider_offer_id', null, 'decision', 'no_acceptable_offer', 'next_check_at', null))) $$,
    (select id from t where k = 'again')),
  '55000', 'trip is booking; search results are not accepted', 'no search result lands on a trip in booking');
select is(app.monitor_record_search_failure(jsonb_build_object('trip_id', (select id from t where k = 'new'),
    'error_code', 'provider_unavailable', 'next_check_at', pg_temp.at('5 minutes'))) #>> '{trip,last_error_code}',
  'provider_unavailable', 'monitor_record_search_failure records like app.record_search_failure');

-- monitor_heartbeat ---------------------------------------------------------------------------------
select set_config('role', 'postgres', true);
insert into public.monitor_runs (run_id, started_at, finished_at) values ('old-run', now() - interval '8 days', now() - interval '8 days');
select set_config('role', 'service_role', true);
create temp table hb as select pg_temp.dated('{"run_id": "9b2f6a1e-0000-4000-8000-000000000001", "started_at": "{{now-2 seconds}}",
  "finished_at": "{{now-0.75 seconds}}", "summary": {"claimed": 2, "outcomes": {"waiting": 2}, "left_for_next_run": 0}}')::jsonb as j;
grant select on hb to public;
select is(app.monitor_heartbeat((select j from hb)), '{"ok": true}'::jsonb, 'heartbeat');
select is(app.monitor_heartbeat((select j from hb)), '{"ok": true}'::jsonb, 'the same heartbeat again');
select is((select count(*)::int || ' ' || max(summary ->> 'claimed') from public.monitor_runs where run_id = '9b2f6a1e-0000-4000-8000-000000000001'),
  '1 2', 'one run row per run_id, with its summary');
select is((select jsonb_build_object('fresh', heartbeat_at = now(), 'run', last_run ->> 'run_id', 'finished', last_run ->> 'finished_at')
   from public.pipeline_settings),
  jsonb_build_object('fresh', true, 'run', '9b2f6a1e-0000-4000-8000-000000000001', 'finished', pg_temp.at('-0.75 seconds')),
  'the settings row carries the heartbeat and the last run');
select is((select count(*)::int from public.monitor_runs where run_id = 'old-run'), 0, 'runs older than 7 days are pruned');

select * from finish();
rollback;
