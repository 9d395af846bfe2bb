-- The on-session payment's races (issue 7; 20261204000100_on_session_races.sql):
-- monitor_save_attempt refuses an `order` on a hold the traveller authenticated while their
-- cancel or "another card" is pending ({saved:false, refused:traveller_request}, the state kept,
-- the trip due now) and saves it without one; a release is always saved. An attempt that closes
-- `release_failed` raises the alert `hold_not_released`. Dates derive from now().
begin;
select plan(13);

insert into auth.users (id, email) values ('c3c3c3c3-0000-4000-8000-0000000002c3', 'race@example.test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('c3c3c3c3-0000-4000-8000-0000000002c3', 'cus_race0c3c3c3c30000400080000002c3', 'pm_card_authenticationRequired');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('c3c3c3c3-0000-4000-8000-0000000002c3', 'pm_card_authenticationRequired', 1000000000000, 'GBP',
  'pgTAP consent', 'test');

create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, reason text) returns jsonb
language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000race',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_race', 'payment_method', 'pm_card_authenticationRequired', 'seed', 7,
    'version', version, 'phase', phase, 'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'), 'passenger_ids', '["pas_1"]'::jsonb,
    'payment_intent', 'pi_3DSrace', 'order', null, 'check_intent', false, 'key_generation', 0,
    'lookup_misses', 0, 'reason', reason, 'started_at', now(), 'updated_at', now())
  || case when version >= 2 then jsonb_build_object('authorized',
       jsonb_build_object('amount_minor', 41240, 'currency', 'GBP')) else '{}'::jsonb end
$$;

create temp table k (name text primary key, id uuid);
with t as (
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, auto_book)
  values ('c3c3c3c3-0000-4000-8000-0000000002c3', 'LHR', 'JFK', (now() + interval '40 days')::date, 1,
    'economy', 42000, 'GBP', true)
  returning id)
insert into k select 'trip', id from t;
insert into k values ('attempt', gen_random_uuid());
insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
  duration_minutes, departing_at, arriving_at, carriers, expires_at)
select id, 'duffel', 'off_0000race', 41240, 'GBP', 'economy', 0, 490, now() + interval '40 days',
  now() + interval '40 days 8 hours', '{ZZ}', now() + interval '30 minutes'
from k where name = 'trip';
update public.trip_requests t set status = 'watching',
  selected_offer_id = (select f.id from public.flight_offers f where f.trip_id = t.id), next_check_at = now()
where t.id = (select id from k where name = 'trip');

create function pg_temp.save(expected int, phase jsonb, reason text) returns jsonb language sql as $$
  select app.monitor_save_attempt(jsonb_build_object(
    'attempt_id', (select id from k where name = 'attempt'), 'expected_version', expected,
    'state', pg_temp.state((select id from k where name = 'attempt'), (select id from k where name = 'trip'),
      expected + 1, phase, reason),
    'effects', '[]'::jsonb))
$$;
create function pg_temp.phase() returns text language sql as $$
  select phase from public.booking_attempts where id = (select id from k where name = 'attempt')
$$;
create function pg_temp.later() returns void language sql as $$
  update public.trip_requests set next_check_at = now() + interval '15 minutes'
  where id = (select id from k where name = 'trip')
$$;

select is(app.monitor_begin_attempt(jsonb_build_object(
    'trip_id', (select id from k where name = 'trip'),
    'trip_version', (select version from public.trip_requests where id = (select id from k where name = 'trip')),
    'state', pg_temp.state((select id from k where name = 'attempt'), (select id from k where name = 'trip'), 1,
      jsonb_build_object('name', 'await_traveller', 'deadline', app.rfc3339(now() + interval '1 day'),
        'told', true), 'authentication_required'))) ->> 'started',
  'true', 'an attempt waits for the traveller');
-- The traveller authenticated; the run re-prices the hold.
select is(pg_temp.save(1, '{"name": "reprice"}', 'authenticated'), '{"saved": true}'::jsonb,
  'the re-price of the authenticated hold is saved');

-- "Another card" for this attempt committed after the run read its claim.
update public.trip_requests set payment_request = 'another_card',
  payment_request_attempt_id = (select id from k where name = 'attempt')
where id = (select id from k where name = 'trip');
select pg_temp.later();
select is(pg_temp.save(2, '{"name": "order"}', 'authenticated'),
  '{"saved": false, "refused": "traveller_request"}'::jsonb,
  'another card pending: the order on the hold is refused');
select is(pg_temp.phase(), 'reprice', 'the stored state is kept');
select ok((select next_check_at <= now() from public.trip_requests where id = (select id from k where name = 'trip')),
  'and the trip is due now (the next run releases)');

-- A pending cancel is refused the same way, even for an order mark.
update public.trip_requests set payment_request = null, payment_request_attempt_id = null,
  cancel_requested_at = now() where id = (select id from k where name = 'trip');
select is(app.monitor_save_attempt(jsonb_build_object(
    'attempt_id', (select id from k where name = 'attempt'), 'expected_version', 2,
    'state', jsonb_set(pg_temp.state((select id from k where name = 'attempt'),
      (select id from k where name = 'trip'), 3, '{"name": "order"}', 'authenticated'), '{in_flight}', 'true'),
    'effects', '[]'::jsonb)) ->> 'refused',
  'traveller_request', 'a pending cancel: the order mark is refused');
select is(pg_temp.phase(), 'reprice', 'still the re-price');

-- The release the next run chooses is saved.
select is(pg_temp.save(2, '{"name": "release", "end": "search_again"}', 'cancelled_by_traveller'),
  '{"saved": true}'::jsonb, 'the release is saved with the cancel pending');

-- Without a request an order on the hold is saved (a second attempt on another trip state).
update public.trip_requests set cancel_requested_at = null where id = (select id from k where name = 'trip');
select is(pg_temp.save(3, '{"name": "order"}', 'authenticated'), '{"saved": true}'::jsonb,
  'no request pending: the order is saved');

-- release_failed raises hold_not_released --------------------------------------------------------
select is((select enabled from public.alert_rules where rule = 'hold_not_released'), true,
  'the rule exists, enabled');
select is(pg_temp.save(4, '{"name": "closed", "end": "search_again"}', 'release_failed'), '{"saved": true}'::jsonb,
  'the attempt closes release_failed');
select app.alerts_evaluate('{}');
select is((select count(*)::int from public.operator_alerts
  where rule = 'hold_not_released' and attempt_id = (select id from k where name = 'attempt') and resolved_at is null),
  1, 'one open hold_not_released alert for the attempt');
select app.alerts_evaluate('{}');
select is((select count(*)::int from public.operator_alerts
  where rule = 'hold_not_released' and attempt_id = (select id from k where name = 'attempt')),
  1, 'evaluated again: still one');

select * from finish();
rollback;
