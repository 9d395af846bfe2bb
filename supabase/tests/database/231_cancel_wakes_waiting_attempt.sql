-- A cancel of a trip whose attempt waits for the traveller makes the trip due now
-- (20261204000101_cancel_wakes_waiting_attempt.sql); a cancel of a trip whose attempt books
-- off-session leaves the schedule alone. Dates derive from now().
begin;
select plan(3);

insert into auth.users (id, email) values ('d4d4d4d4-0000-4000-8000-0000000003d4', 'wake@example.test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('d4d4d4d4-0000-4000-8000-0000000003d4', 'cus_wake0d4d4d4d40000400080000003d4', 'pm_card_authenticationRequired');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('d4d4d4d4-0000-4000-8000-0000000003d4', 'pm_card_authenticationRequired', 1000000000000, 'GBP',
  'pgTAP consent', 'test');

create function pg_temp.state(attempt uuid, trip uuid, phase jsonb) returns jsonb language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000wake',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_wake', 'payment_method', 'pm_card_authenticationRequired', 'seed', 7,
    'version', 1, 'phase', phase, 'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'), 'passenger_ids', '["pas_1"]'::jsonb,
    'payment_intent', 'pi_wake', 'order', null, 'check_intent', false, 'key_generation', 0,
    'lookup_misses', 0, 'reason', null, 'started_at', now(), 'updated_at', now())
$$;

create temp table k (name text primary key, id uuid);
create function pg_temp.trip(name text, phase jsonb) returns void language plpgsql as $$
declare v_trip uuid; v_offer text := 'off_0000' || name;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, auto_book)
  values ('d4d4d4d4-0000-4000-8000-0000000003d4', 'LHR', 'JFK', (now() + interval '40 days')::date, 1,
    'economy', 42000, 'GBP', true)
  returning id into v_trip;
  insert into k values (name, v_trip);
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (v_trip, 'duffel', 'off_0000wake', 41240, 'GBP', 'economy', 0, 490, now() + interval '40 days',
    now() + interval '40 days 8 hours', '{ZZ}', now() + interval '30 minutes');
  update public.trip_requests t set status = 'watching', next_check_at = now(),
    selected_offer_id = (select f.id from public.flight_offers f where f.trip_id = t.id)
  where t.id = v_trip;
  perform app.monitor_begin_attempt(jsonb_build_object('trip_id', v_trip,
    'trip_version', (select version from public.trip_requests where id = v_trip),
    'state', pg_temp.state(gen_random_uuid(), v_trip, phase)));
  update public.trip_requests set next_check_at = now() + interval '15 minutes' where id = v_trip;
end $$;

select pg_temp.trip('waiting', jsonb_build_object('name', 'await_traveller',
  'deadline', app.rfc3339(now() + interval '1 day'), 'told', true));
select pg_temp.trip('plain', '{"name": "reprice"}');
select is((select count(*)::int from public.booking_attempts a join k on k.id = a.trip_id where a.open), 2,
  'two open attempts');

update public.trip_requests set cancel_requested_at = now() where id in (select id from k);
select ok((select next_check_at <= now() from public.trip_requests where id = (select id from k where name = 'waiting')),
  'the cancel makes a trip whose attempt waits for the traveller due now');
select ok((select next_check_at > now() from public.trip_requests where id = (select id from k where name = 'plain')),
  'an off-session attempt''s schedule is left alone');

select * from finish();
rollback;
