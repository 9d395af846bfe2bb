-- A wake-up made while a monitor run holds the trip survives the run
-- (20261205000201_wakeups_survive_the_run.sql): the run's reschedule keeps the trip due, a search
-- it made before the traveller changed the criteria is discarded (never recorded, never
-- bookable), a search failure is recorded but the trip stays due; without a wake-up each writes
-- its next check as before. Dates derive from now().
begin;
select plan(14);

insert into auth.users (id, email) values ('c5c5c5c5-0000-4000-8000-0000000002c5', 'wake@example.test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('c5c5c5c5-0000-4000-8000-0000000002c5', 'cus_wake0c5c5c5c50000400080000002c5', 'pm_card_visa');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('c5c5c5c5-0000-4000-8000-0000000002c5', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');

create function pg_temp.act_as(uid uuid) returns void language plpgsql as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims',
    jsonb_build_object('sub', uid, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
end
$$;
create function pg_temp.as_postgres() returns void language plpgsql as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

create temp table k (name text primary key, id uuid);
grant all on k to authenticated;
with t as (
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, auto_book, status, next_check_at)
  values ('c5c5c5c5-0000-4000-8000-0000000002c5', 'LHR', 'JFK', (now() + interval '60 days')::date, 1,
    'economy', 42000, 'GBP', true, 'watching', now())
  returning id)
insert into k select 'trip', id from t;

create function pg_temp.claim() returns int language sql as $$
  select jsonb_array_length(app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 120,
    'trip_id', (select id from k where name = 'trip'))) -> 'trips')
$$;
create function pg_temp.next_check() returns timestamptz language sql as $$
  select next_check_at from public.trip_requests where id = (select id from k where name = 'trip')
$$;
create function pg_temp.reschedule() returns jsonb language sql as $$
  select app.monitor_reschedule(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
    'next_check_at', app.rfc3339(now() + interval '6 hours'), 'decision', 'wait', 'reason', 'price_above_max'))
$$;
create function pg_temp.result() returns jsonb language sql as $$
  select jsonb_build_object(
    'provider', 'duffel', 'offer_request_id', 'orq_0000wake', 'offers_seen', 1,
    'offers', jsonb_build_array(jsonb_build_object(
      'provider_offer_id', 'off_0000wake1', 'total_minor', 41000, 'currency', 'GBP',
      'cabin', 'economy', 'stops', 1, 'duration_minutes', 600,
      'departing_at', to_char(current_date + 60 + time '09:00', 'YYYY-MM-DD"T"HH24:MI:SS'),
      'arriving_at', to_char(current_date + 60 + time '19:00', 'YYYY-MM-DD"T"HH24:MI:SS'),
      'carriers', jsonb_build_array('ZZ'), 'expires_at', app.rfc3339(now() + interval '30 minutes'),
      'raw', jsonb_build_object('id', 'off_0000wake1'))),
    'selected_provider_offer_id', 'off_0000wake1',
    'rejections', '{"expired": 0, "currency_mismatch": 0, "over_budget": 0, "cabin_mismatch": 0, "too_many_stops": 0}'::jsonb,
    'decision', 'offer_selected',
    'next_check_at', app.rfc3339(now() + interval '2 hours'))
$$;

-- No wake-up: the run's next check stands. -----------------------------------------------------
select is(pg_temp.claim(), 1, 'the run claims the trip');
select ok(pg_temp.next_check() > now(), 'the claim leases it');
select is(pg_temp.reschedule() ->> 'ok', 'true', 'the run reschedules');
select is(pg_temp.next_check(), date_trunc('milliseconds', now() + interval '6 hours'),
  'without a wake-up the next check is the run''s');

-- Woken during the lease (the traveller raises the maximum): the reschedule keeps it due. -------
select is(pg_temp.claim(), 1, 'claimed again');
select pg_temp.act_as('c5c5c5c5-0000-4000-8000-0000000002c5');
select is(app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'trip'), 'action', 'update',
  'version', (select version from public.trip_requests where id = (select id from k where name = 'trip')),
  'changes', jsonb_build_object('max_total_minor', 45000, 'nonstop_only', true))) ->> 'outcome',
  'updated', 'the traveller changes the criteria while the run holds the trip');
select pg_temp.as_postgres();
select is(pg_temp.reschedule() ->> 'ok', 'true', 'the stale run reschedules');
select ok(pg_temp.next_check() <= now(), 'the trip stays due: the next run checks the new criteria');
select is((select detail ->> 'woken' from public.pipeline_events
  where trip_id = (select id from k where name = 'trip') and decision = 'wait' order by id desc limit 1),
  'true', 'the event says the wake-up was kept');

-- A search the stale run made under the old criteria (a 1-stop offer; nonstop only now). -------
select is(pg_temp.claim(), 1, 'claimed again');
select pg_temp.act_as('c5c5c5c5-0000-4000-8000-0000000002c5');
select app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'trip'), 'action', 'update',
  'version', (select version from public.trip_requests where id = (select id from k where name = 'trip')),
  'changes', jsonb_build_object('max_total_minor', 45000)));
select pg_temp.as_postgres();
select is(app.monitor_record_search(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
    'result', pg_temp.result())) - 'trip',
  '{"selected_offer": null, "stale": true}'::jsonb,
  'the stale search is discarded: nothing selected, nothing to book');
select is((select count(*)::int from public.flight_offers where trip_id = (select id from k where name = 'trip')),
  0, 'no offer of it is stored, and the trip stays unselected and due');

-- Not woken: the same search is recorded. ------------------------------------------------------
select is(pg_temp.claim(), 1, 'claimed again');
select is(app.monitor_record_search(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
    'result', pg_temp.result())) #>> '{selected_offer,provider_offer_id}',
  'off_0000wake1', 'without a wake-up the search is recorded and its selection returned');

select * from finish();
rollback;
