-- The cancel wake-up never moves the lease of an attempt with a side effect in flight
-- (20261204000102_cancel_wake_skips_order.sql): phase `order` (even on an authenticated hold)
-- and a stored request in flight keep next_check_at; `reprice` on an authenticated hold and
-- `await_traveller` are made due now. Dates derive from now().
begin;
select plan(5);

insert into auth.users (id, email) values ('d4d4d4d4-0000-4000-8000-0000000004e8', 'wake2@example.test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('d4d4d4d4-0000-4000-8000-0000000004e8', 'cus_wake0d4d4d4d40000400080000004e8', 'pm_card_authenticationRequired');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('d4d4d4d4-0000-4000-8000-0000000004e8', 'pm_card_authenticationRequired', 1000000000000, 'GBP',
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
create function pg_temp.trip(name text, phase jsonb, extra jsonb) returns void language plpgsql as $$
declare v_trip uuid; v_offer text := 'off_0000' || name;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, auto_book)
  values ('d4d4d4d4-0000-4000-8000-0000000004e8', 'LHR', 'JFK', (now() + interval '40 days')::date, 1,
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
    'state', pg_temp.state(gen_random_uuid(), v_trip, phase) || extra));
  update public.trip_requests set next_check_at = now() + interval '15 minutes' where id = v_trip;
end $$;

select pg_temp.trip('ordering', '{"name": "order"}', jsonb_build_object('authorized', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP')));
select pg_temp.trip('repricing', '{"name": "reprice"}', jsonb_build_object('authorized', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP')));
select pg_temp.trip('waiting', jsonb_build_object('name', 'await_traveller',
  'deadline', app.rfc3339(now() + interval '1 day'), 'told', true), '{}');
-- A stored mark: a run sent a request and has not recorded the answer.
update public.booking_attempts a set state = a.state || '{"in_flight": true, "version": 2}'
where a.trip_id = (select id from k where name = 'repricing');
select pg_temp.trip('waiting2', jsonb_build_object('name', 'await_traveller',
  'deadline', app.rfc3339(now() + interval '1 day'), 'told', true), '{}');
select is((select count(*)::int from public.booking_attempts a join k on k.id = a.trip_id where a.open), 4,
  'four open attempts');

update public.trip_requests set cancel_requested_at = now() where id in (select id from k);
select ok((select next_check_at > now() from public.trip_requests where id = (select id from k where name = 'ordering')),
  'a cancel never moves the lease of an attempt ordering on the authenticated hold');
select ok((select next_check_at > now() from public.trip_requests where id = (select id from k where name = 'repricing')),
  'nor of an attempt whose request is in flight');
select ok((select next_check_at <= now() from public.trip_requests where id = (select id from k where name = 'waiting')),
  'an attempt waiting for the traveller is made due now');
select ok((select a.phase = 'await_traveller' from public.booking_attempts a
           where a.trip_id = (select id from k where name = 'waiting2') and a.open)
          and (select next_check_at <= now() from public.trip_requests where id = (select id from k where name = 'waiting2')),
  'and so is every one waiting (row-level)');

select * from finish();
rollback;
