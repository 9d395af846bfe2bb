-- A monitor run's writes never undo what the traveller changed while the run held the trip
-- (20261205000201_wakeups_survive_the_run.sql): each write carries the trip version the claim
-- read; when the trip changed since, the reschedule leaves next_check_at alone (the wake-up
-- stays), a search is discarded (never recorded, never bookable) and so is a search failure;
-- with the version unchanged (a second run's lease does not change it) each writes as before.
-- Dates derive from now().
begin;
select plan(18);

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
create temp table claimed (version bigint);
create function pg_temp.claim_read() returns void language sql as $$
  delete from claimed;
  insert into claimed select (app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 120,
    'trip_id', (select id from k where name = 'trip'))) #>> '{trips,0,trip,version}')::bigint;
$$;
create function pg_temp.reschedule() returns jsonb language sql as $$
  select app.monitor_reschedule(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
    'trip_version', (select version from claimed),
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
select pg_temp.claim_read();
select is((select count(*)::int from claimed where version is not null), 1, 'the run claims the trip');
select ok(pg_temp.next_check() > now(), 'the claim leases it');
select is(pg_temp.reschedule() ->> 'ok', 'true', 'the run reschedules');
select is(pg_temp.next_check(), date_trunc('milliseconds', now() + interval '6 hours'),
  'without a wake-up the next check is the run''s');

-- Woken during the lease (the traveller raises the maximum): the reschedule keeps it due. -------
select pg_temp.claim_read();
select is((select count(*)::int from claimed where version is not null), 1, 'claimed again');
select pg_temp.act_as('c5c5c5c5-0000-4000-8000-0000000002c5');
select is(app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'trip'), 'action', 'update',
  'version', (select version from public.trip_requests where id = (select id from k where name = 'trip')),
  'changes', jsonb_build_object('max_total_minor', 45000, 'nonstop_only', true))) ->> 'outcome',
  'updated', 'the traveller changes the criteria while the run holds the trip');
select pg_temp.as_postgres();
select is(pg_temp.reschedule() ->> 'ok', 'true', 'the stale run reschedules');
select ok(pg_temp.next_check() <= now(), 'the trip stays due: the next run checks the new criteria');
select is((select detail ->> 'stale' from public.pipeline_events
  where trip_id = (select id from k where name = 'trip') and decision = 'wait' order by id desc limit 1),
  'true', 'the event says the run''s view was stale');

-- A search the stale run made under the old criteria (a 1-stop offer; nonstop only now). -------
select pg_temp.claim_read();
select is((select count(*)::int from claimed where version is not null), 1, 'claimed again');
select pg_temp.act_as('c5c5c5c5-0000-4000-8000-0000000002c5');
select app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'trip'), 'action', 'update',
  'version', (select version from public.trip_requests where id = (select id from k where name = 'trip')),
  'changes', jsonb_build_object('max_total_minor', 46000)));
select pg_temp.as_postgres();
select is(app.monitor_record_search(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
    'trip_version', (select version from claimed), 'result', pg_temp.result())) - 'trip',
  '{"selected_offer": null, "stale": true}'::jsonb,
  'the stale search is discarded: nothing selected, nothing to book');
select is((select count(*)::int from public.flight_offers where trip_id = (select id from k where name = 'trip')),
  0, 'no offer of it is stored');
select ok((select selected_offer_id is null and next_check_at <= now() from public.trip_requests
  where id = (select id from k where name = 'trip')), 'the trip stays unselected and due');
select is(app.monitor_record_search_failure(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
    'trip_version', (select version from claimed), 'error_code', 'provider_unavailable',
    'next_check_at', app.rfc3339(now() + interval '5 minutes'))) ->> 'stale',
  'true', 'a stale search failure is not recorded either');
select ok((select next_check_at <= now() and last_error_code is null from public.trip_requests
  where id = (select id from k where name = 'trip')), 'and the trip stays due, no error recorded');

-- A second run's claim after the wake-up does not make the first run's view current. -------------
create temp table first_read as select version from claimed;
select pg_temp.claim_read();
select is(app.monitor_record_search(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
    'trip_version', (select version from first_read), 'result', pg_temp.result())) ->> 'stale',
  'true', 'the first run''s search is still discarded after another run claimed the trip');

-- The version unchanged (the second run): the same search is recorded. ------------------------------------------------------
select pg_temp.claim_read();
select is((select count(*)::int from claimed where version is not null), 1, 'claimed again');
select is(app.monitor_record_search(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
    'trip_version', (select version from claimed), 'result', pg_temp.result())) #>> '{selected_offer,provider_offer_id}',
  'off_0000wake1', 'without a wake-up the search is recorded and its selection returned');

select * from finish();
rollback;
