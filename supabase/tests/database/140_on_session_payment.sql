-- On-session payment (issue 7 item 4; 20261203000100_on_session_payment.sql): the saga phase
-- await_traveller is a known phase; app.trips_payment answers only the owner (another user's trip
-- reads as missing), names the waiting intent and its deadline, makes the trip due on "done"
-- without a version bump, records "another card" for that attempt only (refusing the same card and
-- a missing one), and refuses bad arguments; the monitor's claim carries the traveller's request
-- (a pending cancel outranks another card). Dates derive from now().
begin;
select plan(25);

insert into auth.users (id, email) values
  ('a1a1a1a1-0000-4000-8000-0000000001a1', 'pay-a@example.test'),
  ('b2b2b2b2-0000-4000-8000-0000000001b2', 'pay-b@example.test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('a1a1a1a1-0000-4000-8000-0000000001a1', 'cus_pay0a1a1a1a10000400080000001a1', 'pm_card_authenticationRequired');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('a1a1a1a1-0000-4000-8000-0000000001a1', 'pm_card_authenticationRequired', 1000000000000, 'GBP',
  'pgTAP consent', 'test');

create function pg_temp.act_as(uid uuid) returns void language plpgsql as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims',
    jsonb_build_object('sub', uid, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
end $$;
create function pg_temp.as_postgres() returns void language plpgsql as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end $$;

create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb) returns jsonb
language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000pay1',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_pay', 'payment_method', 'pm_card_authenticationRequired', 'seed', 7,
    'version', version, 'phase', phase, 'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'), 'passenger_ids', '["pas_1"]'::jsonb,
    'payment_intent', 'pi_3DSpgtap', 'order', null, 'check_intent', false, 'key_generation', 0,
    'lookup_misses', 0, 'reason', 'authentication_required', 'started_at', now(), 'updated_at', now())
$$;

create temp table k (name text primary key, id uuid);
grant all on k to public;

-- A booking trip of A whose attempt waits for her, and a watching trip with none.
with t as (
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, auto_book)
  values ('a1a1a1a1-0000-4000-8000-0000000001a1', 'LHR', 'JFK', (now() + interval '40 days')::date, 1,
    'economy', 42000, 'GBP', true)
  returning id)
insert into k select 'trip', id from t;
with t as (
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, auto_book)
  values ('a1a1a1a1-0000-4000-8000-0000000001a1', 'LHR', 'CDG', (now() + interval '40 days')::date, 1,
    'economy', 42000, 'GBP', false)
  returning id)
insert into k select 'idle', id from t;
insert into k values ('attempt', gen_random_uuid());
insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
  duration_minutes, departing_at, arriving_at, carriers, expires_at)
select id, 'duffel', 'off_0000pay1', 41240, 'GBP', 'economy', 0, 490, now() + interval '40 days',
  now() + interval '40 days 8 hours', '{ZZ}', now() + interval '30 minutes'
from k where name = 'trip';
update public.trip_requests t set status = 'watching',
  selected_offer_id = (select f.id from public.flight_offers f where f.trip_id = t.id), next_check_at = now()
where t.id = (select id from k where name = 'trip');

select is(
  app.monitor_begin_attempt(jsonb_build_object(
    'trip_id', (select id from k where name = 'trip'),
    'trip_version', (select version from public.trip_requests where id = (select id from k where name = 'trip')),
    'state', pg_temp.state((select id from k where name = 'attempt'), (select id from k where name = 'trip'), 1,
      jsonb_build_object('name', 'await_traveller', 'deadline', app.rfc3339(now() + interval '1 day'),
        'told', true)))) ->> 'started',
  'true', 'an attempt can be in await_traveller (the phase is known)');
select is((select phase from public.booking_attempts where id = (select id from k where name = 'attempt')),
  'await_traveller', 'the derived phase column');

-- Waiting for the traveller is expected idleness until the deadline: not a stuck attempt (health,
-- the attempt_stuck alert rule); 30 minutes past the deadline it is. (Triggers off only to backdate.)
create temp table attempt_copy as select * from public.booking_attempts where id = (select id from k where name = 'attempt');
set local session_replication_role = replica;
update public.booking_attempts set updated_at = now() - interval '3 hours'
where id = (select id from k where name = 'attempt');
select is((select count(*)::int from app.stuck_attempts() where attempt_id = (select id from k where name = 'attempt')),
  0, 'an attempt waiting for the traveller before its deadline is not stuck');
update public.booking_attempts set state = jsonb_set(state, '{phase,deadline}', to_jsonb(app.rfc3339(now() - interval '2 hours')))
where id = (select id from k where name = 'attempt');
select is((select count(*)::int from app.stuck_attempts() where attempt_id = (select id from k where name = 'attempt')),
  1, 'thirty minutes past its deadline it is stuck');
update public.booking_attempts a set state = c.state, updated_at = c.updated_at from attempt_copy c where a.id = c.id;
set local session_replication_role = origin;
select throws_ok($$ update public.booking_attempts set state = jsonb_set(jsonb_set(state, '{phase,name}',
    '"await_nothing"'), '{version}', '2') where id = (select id from k where name = 'attempt') $$,
  '23514', null, 'an unknown phase is still refused');

-- B sees nothing of A's --------------------------------------------------------------------------
select pg_temp.act_as('b2b2b2b2-0000-4000-8000-0000000001b2');
select is(app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'action', 'details')), '{"outcome": "not_found"}'::jsonb, 'B: A''s trip reads as missing (details)');
select is(app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'action', 'done')), '{"outcome": "not_found"}'::jsonb, 'B: A''s trip reads as missing (done)');
select is(app.trips_payment(jsonb_build_object('trip_id', gen_random_uuid(), 'action', 'done')),
  '{"outcome": "not_found"}'::jsonb, 'B: a missing trip reads the same');

-- A --------------------------------------------------------------------------------------------------
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000001a1');
select is(app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'action', 'details')) - 'deadline',
  jsonb_build_object('outcome', 'pending', 'attempt_id', (select id from k where name = 'attempt'),
    'payment_intent', 'pi_3DSpgtap', 'amount_minor', 41240, 'currency', 'GBP'),
  'A reads the waiting intent, its amount');
select ok((app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'action', 'details')) ->> 'deadline')::timestamptz > now() + interval '23 hours', 'and its deadline');
select is(app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'idle'),
  'action', 'details')) ->> 'outcome', 'no_payment_pending', 'a trip with no waiting attempt');
select is(app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'action', 'another_card')) ->> 'outcome', 'same_card', 'the card that needs authentication is refused');

select pg_temp.as_postgres();
update public.trip_requests set next_check_at = now() + interval '15 minutes'
where id = (select id from k where name = 'trip');
create temp table v0 as select version from public.trip_requests where id = (select id from k where name = 'trip');
grant all on v0 to public;
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000001a1');
select is(app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'action', 'done')) ->> 'outcome', 'checking', 'done: checking');
select pg_temp.as_postgres();
select ok((select next_check_at <= now() from public.trip_requests where id = (select id from k where name = 'trip')),
  'done makes the trip due now');
select is((select version from public.trip_requests where id = (select id from k where name = 'trip')),
  (select version from v0), 'without bumping its version (a monitor run holding it is not disturbed)');
select is((select decision from public.pipeline_events where trip_id = (select id from k where name = 'trip')
  and stage = 'traveller' order by id desc limit 1), 'payment_confirmed', 'logged as the traveller''s');

select is(app.monitor_claim_json((select t from public.trip_requests t where t.id = (select id from k where name = 'trip')))
  -> 'attempt', jsonb_build_object('state', (select state from public.booking_attempts
    where id = (select id from k where name = 'attempt'))),
  'without a request the claim hands out the stored state unchanged (nulls kept) and no request key');

-- Another card: recorded for this attempt; the claim carries it ------------------------------------
update public.payment_profiles set stripe_payment_method_id = null
where owner_id = 'a1a1a1a1-0000-4000-8000-0000000001a1';
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000001a1');
select is(app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'action', 'another_card')) ->> 'outcome', 'needs_card', 'no default card: needs_card');
select pg_temp.as_postgres();
update public.payment_profiles set stripe_payment_method_id = 'pm_card_visa'
where owner_id = 'a1a1a1a1-0000-4000-8000-0000000001a1';
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('a1a1a1a1-0000-4000-8000-0000000001a1', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000001a1');
select is(app.trips_payment(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'action', 'another_card')) ->> 'outcome', 'switching_card', 'another default card: switching_card');
select pg_temp.as_postgres();
select is((select payment_request || ':' || (payment_request_attempt_id = (select id from k where name = 'attempt'))
  from public.trip_requests where id = (select id from k where name = 'trip')), 'another_card:true',
  'recorded for this attempt');
select is(app.monitor_claim_json((select t from public.trip_requests t where t.id = (select id from k where name = 'trip')))
  #>> '{attempt,traveller_request}', 'another_card', 'the claim carries the request');
update public.trip_requests set cancel_requested_at = now() where id = (select id from k where name = 'trip');
select is(app.monitor_claim_json((select t from public.trip_requests t where t.id = (select id from k where name = 'trip')))
  #>> '{attempt,traveller_request}', 'cancel', 'a pending cancel outranks it');

-- Bad arguments, and who may call -----------------------------------------------------------------
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000001a1');
select throws_ok($$ select app.trips_payment('{"trip_id": "00000000-0000-4000-8000-000000000000", "action": "pay"}') $$,
  '22023', null, 'an unknown action is 22023');
select throws_ok($$ select app.trips_payment('{"trip_id": "00000000-0000-4000-8000-000000000000", "action": "done", "x": 1}') $$,
  '22023', null, 'an unknown field is 22023');
select pg_temp.as_postgres();
select ok(not has_function_privilege('anon', 'app.trips_payment(jsonb)', 'execute'), 'anon cannot call it');

select * from finish();
rollback;
