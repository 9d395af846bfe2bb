-- A ledger that cannot close ends where an operator is told (migration
-- 20261201000600_ledger_unclosable.sql; issue 6, defects 1 and 13): the `needs_operator` status and
-- its edges, app.monitor_flag_attempt (trip, attempt version, alert, event, traveller email when
-- ticketed; idempotent), app.operator_resume_attempt, operator_alerts RLS and grants. Every date
-- derives from now().
begin;
select plan(46);

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-0000000000a5', 'user-a95@example.test');

-- A trip in `status` (watching or booking) with a selected offer, departing in 60 days.
create function pg_temp.trip(status text)
returns uuid
language plpgsql
as $$
declare
  t uuid;
  o uuid;
  d date := (now() + interval '60 days')::date;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('aaaaaaaa-0000-4000-8000-0000000000a5', 'LHR', 'JFK', d, 1, 'economy', 42000, 'GBP') returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_0000test95', 39900, 'GBP', 'economy', 0, 490, d + time '09:00', d + time '12:10', '{ZZ}',
    now() + interval '30 minutes')
  returning id into o;
  update public.trip_requests set status = 'watching', selected_offer_id = o, next_check_at = now() where id = t;
  if status = 'booking' then
    update public.trip_requests set status = 'booking' where id = t;
  end if;
  return t;
end
$$;

-- An AttemptState at `version` in `phase`, with an intent and, when `order_id` is given, an order.
create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, order_id text default null)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000test95',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 39900, 'currency', 'GBP'),
    'passenger_ids', '["pas_1"]'::jsonb, 'payment_intent', 'pi_test95',
    'order', case when order_id is null then null
                  else jsonb_build_object('id', order_id, 'booking_reference', 'ABC123') end,
    'check_intent', false, 'key_generation', 0, 'lookup_misses', 0, 'reason', 'captured',
    'started_at', to_char((now() - interval '2 minutes') at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'updated_at', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
$$;

create function pg_temp.attempt(trip uuid, version int, phase jsonb, order_id text default null)
returns uuid
language plpgsql
as $$
declare
  a uuid := gen_random_uuid();
begin
  insert into public.booking_attempts (id, trip_id, state, version, open, phase)
  values (a, trip, pg_temp.state(a, trip, version, phase, order_id), version, true, phase ->> 'name');
  return a;
end
$$;

create function pg_temp.flag(attempt uuid, version int, reason text default 'ledger_unclosable',
  sqlstate text default '23505')
returns jsonb
language sql
as $$
  select app.monitor_flag_attempt(jsonb_build_object(
    'attempt_id', attempt, 'expected_version', version, 'reason', reason, 'sqlstate', sqlstate))
$$;

create temp table t (k text primary key, id uuid);
create temp table got (k text primary key, j jsonb);
grant all on t, got to public;

insert into t values ('cap', pg_temp.trip('booking')), ('ord', pg_temp.trip('booking')),
  ('other', pg_temp.trip('booking')), ('graph', pg_temp.trip('booking')), ('w', pg_temp.trip('watching'));
insert into t values
  ('cap_a', pg_temp.attempt((select id from t where k = 'cap'), 5, '{"name": "finish", "end": "booked"}', 'ord_0000dup95')),
  ('ord_a', pg_temp.attempt((select id from t where k = 'ord'), 3, '{"name": "order"}')),
  ('other_a', pg_temp.attempt((select id from t where k = 'other'), 2, '{"name": "closed", "end": "booked"}', 'ord_0000dup95'));
-- An earlier booking already holds the provider order id (fake ids restarted, the database did not).
insert into public.bookings (trip_id, attempt_id, provider, provider_order_id, booking_reference, amount_minor, currency)
values ((select id from t where k = 'other'), (select id from t where k = 'other_a'), 'duffel', 'ord_0000dup95', 'XYZ789', 39900, 'GBP');

-- The status graph -------------------------------------------------------------------------------
select lives_ok($$ update public.trip_requests set status = 'needs_operator' where id = (select id from t where k = 'graph') $$,
  'booking -> needs_operator');
select lives_ok($$ update public.trip_requests set status = 'booking' where id = (select id from t where k = 'graph') $$,
  'needs_operator -> booking (an operator resumes the same attempt)');
select lives_ok($$ update public.trip_requests set status = 'needs_operator' where id = (select id from t where k = 'graph') $$,
  'booking -> needs_operator again');
select throws_ok($$ update public.trip_requests set status = 'watching' where id = (select id from t where k = 'graph') $$,
  '55000', 'trip status cannot change from needs_operator to watching', 'needs_operator never goes back to watching');
select throws_ok($$ update public.trip_requests set status = 'cancelled' where id = (select id from t where k = 'graph') $$,
  '55000', 'trip status cannot change from needs_operator to cancelled', 'needs_operator cannot be cancelled');
select throws_ok($$ update public.trip_requests set status = 'needs_operator' where id = (select id from t where k = 'w') $$,
  '55000', 'trip status cannot change from watching to needs_operator', 'only booking moves to needs_operator');
select lives_ok($$ update public.trip_requests set status = 'booked' where id = (select id from t where k = 'graph') $$,
  'needs_operator -> booked (finished by hand)');

-- The collision itself: the closing save rolls back whole -----------------------------------------
select set_config('role', 'service_role', true);
select throws_ok(
  $$ select app.monitor_save_attempt(jsonb_build_object(
       'attempt_id', (select id from t where k = 'cap_a'), 'expected_version', 5,
       'state', pg_temp.state((select id from t where k = 'cap_a'), (select id from t where k = 'cap'), 6,
                              '{"name": "closed", "end": "booked"}', 'ord_0000dup95'),
       'effects', jsonb_build_array(
         jsonb_build_object('kind', 'set_trip_status', 'trip_id', (select id from t where k = 'cap'), 'to', 'booked', 'reason', 'captured'),
         jsonb_build_object('kind', 'record_booking', 'trip_id', (select id from t where k = 'cap'),
           'attempt_id', (select id from t where k = 'cap_a'), 'order_id', 'ord_0000dup95', 'booking_reference', 'ABC123',
           'amount', jsonb_build_object('amount_minor', 39900, 'currency', 'GBP'))))) $$,
  '23505', null, 'a booking whose provider order id is already recorded fails with 23505 (defect 13 as seen)');
select is((select status from public.trip_requests where id = (select id from t where k = 'cap')), 'booking',
  'nothing of that save is kept: the trip is still booking');

-- monitor_flag_attempt ---------------------------------------------------------------------------
select is(pg_temp.flag((select id from t where k = 'cap_a'), 4), '{"flagged": false}'::jsonb,
  'another version: not flagged');
select is((select count(*)::int from public.operator_alerts where trip_id = (select id from t where k = 'cap')), 0,
  'a refused flag writes no alert');
select is((select status from public.trip_requests where id = (select id from t where k = 'cap')), 'booking',
  'a refused flag leaves the trip alone');

insert into got values ('flag', pg_temp.flag((select id from t where k = 'cap_a'), 5));
select is((select j from got where k = 'flag'), '{"flagged": true}'::jsonb, 'flagged');
select is((select status from public.trip_requests where id = (select id from t where k = 'cap')), 'needs_operator',
  'the trip needs an operator');
select is((select next_check_at from public.trip_requests where id = (select id from t where k = 'cap')), null,
  'and is not due any more');
select is((select last_error_code from public.trip_requests where id = (select id from t where k = 'cap')), 'ledger_unclosable',
  'its last error code is the reason');
select is((select version from public.booking_attempts where id = (select id from t where k = 'cap_a')), 6::bigint,
  'the attempt version went up (column)');
select is((select (state ->> 'version')::int from public.booking_attempts where id = (select id from t where k = 'cap_a')), 6,
  'the attempt version went up (state, what a claim hands out)');
select ok((select open from public.booking_attempts where id = (select id from t where k = 'cap_a')),
  'the attempt stays open (captured money, no booking row yet)');
select is(
  (select jsonb_build_object('reason', reason, 'sqlstate', sqlstate, 'order_id', detail ->> 'order_id',
     'payment_intent', detail ->> 'payment_intent', 'amount_minor', (detail ->> 'amount_minor')::int, 'resolved', resolved_at is not null)
   from public.operator_alerts where attempt_id = (select id from t where k = 'cap_a')),
  jsonb_build_object('reason', 'ledger_unclosable', 'sqlstate', '23505', 'order_id', 'ord_0000dup95',
    'payment_intent', 'pi_test95', 'amount_minor', 39900, 'resolved', false),
  'an operator alert with the reason, the SQLSTATE and the money (ids and amounts only)');
select is(
  (select count(*)::int from public.pipeline_events
   where trip_id = (select id from t where k = 'cap') and stage = 'book' and decision = 'needs_operator' and reason_code = 'ledger_unclosable'),
  1, 'a book event needs_operator');
select is(
  (select template from public.notifications where dedupe_key = (select id::text from t where k = 'cap_a') || '-booking_under_review'),
  'booking_under_review', 'a ticket exists: the traveller is told it is under review');
select is((select owner_id from public.notifications where dedupe_key = (select id::text from t where k = 'cap_a') || '-booking_under_review'),
  'aaaaaaaa-0000-4000-8000-0000000000a5'::uuid, 'the email goes to the trip''s owner');

-- Idempotent, and a run holding the old version loses its compare-and-set.
select is(pg_temp.flag((select id from t where k = 'cap_a'), 5), '{"flagged": true}'::jsonb,
  'flagging again (a racing run with the old version) answers flagged');
select is((select count(*)::int from public.operator_alerts where attempt_id = (select id from t where k = 'cap_a')), 1,
  'still one alert');
select is((select count(*)::int from public.pipeline_events where trip_id = (select id from t where k = 'cap') and decision = 'needs_operator'), 1,
  'still one event');
select is((select version from public.booking_attempts where id = (select id from t where k = 'cap_a')), 6::bigint,
  'the version is bumped only once');
select is(
  app.monitor_save_attempt(jsonb_build_object(
    'attempt_id', (select id from t where k = 'cap_a'), 'expected_version', 5,
    'state', pg_temp.state((select id from t where k = 'cap_a'), (select id from t where k = 'cap'), 6,
                           '{"name": "closed", "end": "booked"}', 'ord_0000dup95'),
    'effects', '[]'::jsonb)),
  '{"saved": false}'::jsonb, 'a save at the pre-flag version loses its compare-and-set');
select is(
  jsonb_array_length(app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 60, 'trip_id', (select id from t where k = 'cap'))) -> 'trips'),
  0, 'the monitor does not claim a needs_operator trip');

-- No ticket: no traveller email.
select is(pg_temp.flag((select id from t where k = 'ord_a'), 3, 'travelers_unreadable', '08006'), '{"flagged": true}'::jsonb,
  'an attempt in the order phase is flagged (travellers unreadable)');
select is((select count(*)::int from public.notifications where trip_id = (select id from t where k = 'ord')
    and template = 'booking_under_review'), 0,
  'no ticket exists: no email to the traveller');
select is((select sqlstate from public.operator_alerts where attempt_id = (select id from t where k = 'ord_a')), '08006',
  'the alert keeps the SQLSTATE of the failing read');

-- Refusals.
select is(pg_temp.flag((select id from t where k = 'other_a'), 2), '{"flagged": false}'::jsonb,
  'a closed attempt is not flagged');
select is(pg_temp.flag(gen_random_uuid(), 1), '{"flagged": false}'::jsonb, 'an unknown attempt is not flagged');
select throws_ok($$ select pg_temp.flag((select id from t where k = 'ord_a'), 3, 'Not A Code') $$, '22023', null,
  'the reason must be a code');
select throws_ok($$ select pg_temp.flag((select id from t where k = 'ord_a'), 3, 'x', '23505; drop') $$, '22023', null,
  'the sqlstate must be five letters or digits');
select throws_ok($$ select app.monitor_flag_attempt('{"attempt_id": "00000000-0000-4000-8000-000000000000", "expected_version": 1, "reason": "x", "sqlstate": null, "extra": 1}') $$,
  '22023', null, 'unknown arguments are refused');

-- operator_resume_attempt ------------------------------------------------------------------------
select is(app.operator_resume_attempt((select id from t where k = 'cap_a')), '{"resumed": true}'::jsonb, 'resumed');
select is((select status from public.trip_requests where id = (select id from t where k = 'cap')), 'booking',
  'the trip is booking again');
select is((select next_check_at from public.trip_requests where id = (select id from t where k = 'cap')), now(),
  'and due at once');
select is((select count(*)::int from public.operator_alerts where attempt_id = (select id from t where k = 'cap_a') and resolved_at is null), 0,
  'its alert is resolved');
select is(app.operator_resume_attempt((select id from t where k = 'cap_a')), '{"resumed": false}'::jsonb,
  'resuming a trip that is not needs_operator does nothing');
select is(pg_temp.flag((select id from t where k = 'cap_a'), 6), '{"flagged": true}'::jsonb,
  'the same error after the resume flags again');
select is((select count(*)::int from public.operator_alerts where attempt_id = (select id from t where k = 'cap_a')), 2,
  'with a new alert');

-- Grants -----------------------------------------------------------------------------------------
select set_config('role', 'authenticated', true);
select set_config('request.jwt.claims', '{"sub": "aaaaaaaa-0000-4000-8000-0000000000a5", "role": "authenticated"}', true);
select throws_ok($$ select count(*) from public.operator_alerts $$, '42501', null,
  'travellers cannot read operator alerts, not even their own trip''s');
select throws_ok($$ select pg_temp.flag((select id from t where k = 'ord_a'), 3) $$, '42501', null,
  'travellers cannot flag attempts');
select set_config('role', 'postgres', true);

select * from finish();
rollback;
