-- Issue 6, defects 3, 12 and 14 (migration 20261201000200_attempt_limit_dead_offers.sql):
-- the attempt limit counts only attempts that held money or were refused for the traveller's
-- reasons (3); an offer gone at order time is marked dead, unselected and never selected again,
-- and an outage-ended attempt may put the next check off (12, 3); a claim does not bump the
-- trip's version, so "process this trip now" triggers do not break the holder's
-- compare-and-set (14). Every date derives from now().
begin;
select plan(23);

insert into auth.users (id, email) values ('dddddddd-0000-4000-8000-00000000000d', 'user-d@example.test');

-- A watching trip of user D with a selected Duffel offer `poid`, due in an hour.
create function pg_temp.trip(poid text default 'off_0000dead')
returns uuid
language plpgsql
as $$
declare
  t uuid;
  o uuid;
  day date := (now() + interval '60 days')::date;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('dddddddd-0000-4000-8000-00000000000d', 'LHR', 'JFK', day, 1, 'economy', 42000, 'GBP') returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', poid, 39900, 'GBP', 'economy', 0, 490, day + time '09:00', day + time '12:10', '{ZZ}',
    now() + interval '30 minutes')
  returning id into o;
  update public.trip_requests set status = 'watching', selected_offer_id = o, next_check_at = now() + interval '1 hour'
  where id = t;
  return t;
end
$$;

-- An AttemptState (booking_core::saga::AttemptState JSON).
create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, intent text default null)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000dead',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
    'payment_intent', intent, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', now(), 'updated_at', now())
$$;

-- A closed attempt of `trip` that ended `end_`, created `age` ago, with or without an intent.
create function pg_temp.closed(trip uuid, end_ text, age interval, intent text default null)
returns void
language plpgsql
as $$
declare
  a uuid := gen_random_uuid();
begin
  insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at)
  values (a, trip, pg_temp.state(a, trip, 1, jsonb_build_object('name', 'closed', 'end', end_), intent),
    1, false, 'closed', now() - age);
end
$$;

create function pg_temp.begin(trip uuid, attempt uuid default gen_random_uuid(), trip_version bigint default null)
returns jsonb
language sql
as $$
  select app.monitor_begin_attempt(jsonb_build_object(
    'trip_id', trip,
    'trip_version', coalesce(trip_version, (select version from public.trip_requests where id = trip)),
    'state', pg_temp.state(attempt, trip, 1, '{"name": "reprice"}')))
$$;

create temp table t (k text primary key, id uuid);
grant all on t to public;
insert into t values ('outage', pg_temp.trip()), ('nt', pg_temp.trip()), ('mix', pg_temp.trip()),
  ('held', pg_temp.trip()), ('dead', pg_temp.trip()), ('lease', pg_temp.trip()), ('late', pg_temp.trip());

-- 3. Only attempts that held money or were refused for the traveller's reasons count ------------
select pg_temp.closed((select id from t where k = 'outage'), 'search_again', x.age)
from (values (interval '1 minute'), (interval '1 hour'), (interval '2 hours'), (interval '3 hours')) as x(age);
select pg_temp.closed((select id from t where k = 'nt'), 'needs_traveller', x.age)
from (values (interval '1 hour'), (interval '2 hours'), (interval '3 hours')) as x(age);
select pg_temp.closed((select id from t where k = 'mix'), 'search_again', interval '1 hour', 'pi_1');
select pg_temp.closed((select id from t where k = 'mix'), 'search_again', interval '2 hours', 'pi_2');
select pg_temp.closed((select id from t where k = 'mix'), 'search_again', interval '3 hours');
select pg_temp.closed((select id from t where k = 'held'), 'search_again', x.age, 'pi_' || x.n)
from (values (interval '1 hour', 1), (interval '2 hours', 2), (interval '3 hours', 3)) as x(age, n);

select set_config('role', 'service_role', true);
select is(pg_temp.begin((select id from t where k = 'outage')), '{"started": true}'::jsonb,
  'four attempts a provider outage ended before any money moved do not reach the limit');
select is((select status from public.trip_requests where id = (select id from t where k = 'outage')), 'booking',
  'so the trip is not failed: it books');
select is(pg_temp.begin((select id from t where k = 'nt')), '{"started": false, "reason": "attempt_limit"}'::jsonb,
  'three attempts refused for the traveller''s reasons (needs_traveller, no intent named) count');
select is(pg_temp.begin((select id from t where k = 'mix')), '{"started": true}'::jsonb,
  'two holds and one outage: only the two holds count');
select is(pg_temp.begin((select id from t where k = 'held')), '{"started": false, "reason": "attempt_limit"}'::jsonb,
  'three attempts that held money within 24 hours reach the limit');
select is((select status || ' ' || last_error_code from public.trip_requests where id = (select id from t where k = 'held')),
  'failed too_many_attempts', 'and fail the trip as before');

-- 12. An offer gone at order time is marked dead with the closing save ---------------------------
insert into t values ('dead_a', gen_random_uuid());
select is(pg_temp.begin((select id from t where k = 'dead'), (select id from t where k = 'dead_a')),
  '{"started": true}'::jsonb, 'an attempt starts on the selected offer');
select is(app.monitor_save_attempt(jsonb_build_object(
  'attempt_id', (select id from t where k = 'dead_a'), 'expected_version', 1,
  'state', pg_temp.state((select id from t where k = 'dead_a'), (select id from t where k = 'dead'), 2,
    '{"name": "closed", "end": "search_again"}', 'pi_dead'),
  'effects', jsonb_build_array(
    jsonb_build_object('kind', 'set_trip_status', 'trip_id', (select id from t where k = 'dead'), 'to', 'watching',
      'reason', 'offer_no_longer_available'),
    jsonb_build_object('kind', 'mark_offer_dead', 'trip_id', (select id from t where k = 'dead'), 'offer_id', 'off_0000dead')))),
  '{"saved": true}'::jsonb, 'the closing save takes mark_offer_dead after set_trip_status');
select ok((select dead_at is not null from public.flight_offers
   where trip_id = (select id from t where k = 'dead') and provider_offer_id = 'off_0000dead'),
  'the offer is marked dead');
select is((select status || ' ' || coalesce(selected_offer_id::text, 'none') from public.trip_requests
   where id = (select id from t where k = 'dead')),
  'watching none', 'the trip watches again without a selection, so the next run searches');
select ok((select next_check_at <= now() from public.trip_requests where id = (select id from t where k = 'dead')),
  'and is due at once');

-- A search that returns the dead offer again (and selects it) does not select it.
create function pg_temp.search(trip uuid, poid text)
returns jsonb
language sql
as $$
  select app.monitor_record_search(jsonb_build_object('trip_id', trip, 'result', jsonb_build_object(
    'provider', 'duffel', 'offer_request_id', 'orq_0000test', 'offers_seen', 1,
    'offers', jsonb_build_array(jsonb_build_object(
      'provider_offer_id', poid, 'total_minor', 38000, 'currency', 'GBP', 'cabin', 'economy', 'stops', 0,
      'duration_minutes', 490, 'departing_at', to_char(now() + interval '60 days', 'YYYY-MM-DD"T"09:00:00'),
      'arriving_at', to_char(now() + interval '60 days', 'YYYY-MM-DD"T"12:10:00'), 'carriers', jsonb_build_array('ZZ'),
      'expires_at', now() + interval '30 minutes', 'raw', null)),
    'selected_provider_offer_id', poid,
    'rejections', '{}'::jsonb, 'decision', 'offer_selected', 'next_check_at', now() + interval '2 hours')))
$$;
select is(pg_temp.search((select id from t where k = 'dead'), 'off_0000dead') -> 'selected_offer', 'null'::jsonb,
  'a dead offer is never selected again, even when a search selects it');
select is((select selected_offer_id from public.trip_requests where id = (select id from t where k = 'dead')), null,
  'the trip keeps no selection');
select ok((select dead_at is not null from public.flight_offers
   where trip_id = (select id from t where k = 'dead') and provider_offer_id = 'off_0000dead'),
  'the upsert of the offer keeps it dead');
select is((select reason_code from public.pipeline_events where trip_id = (select id from t where k = 'dead')
   and stage = 'search' order by occurred_at desc, id desc limit 1), 'selected_offer_dead',
  'the search event says why nothing was selected');
select is(pg_temp.search((select id from t where k = 'dead'), 'off_0000live') #>> '{selected_offer,provider_offer_id}',
  'off_0000live', 'a fresh offer is selected as usual');

select throws_ok(format($$ select app.monitor_save_attempt(%L::jsonb) $$, jsonb_build_object(
    'attempt_id', a.id, 'expected_version', 1, 'state', pg_temp.state(a.id, a.trip_id, 2, '{"name": "reprice"}'),
    'effects', jsonb_build_array(jsonb_build_object('kind', 'mark_offer_dead', 'trip_id', a.trip_id, 'offer_id', 7)))),
  '22023', null, 'mark_offer_dead needs an offer id string')
from public.booking_attempts a where a.trip_id = (select id from t where k = 'outage') and a.open;

-- 3. An attempt a provider outage ended puts the next check off ----------------------------------
insert into t values ('late_a', gen_random_uuid());
select is(pg_temp.begin((select id from t where k = 'late'), (select id from t where k = 'late_a')),
  '{"started": true}'::jsonb, 'another attempt starts');
select is(app.monitor_save_attempt(jsonb_build_object(
  'attempt_id', (select id from t where k = 'late_a'), 'expected_version', 1,
  'state', pg_temp.state((select id from t where k = 'late_a'), (select id from t where k = 'late'), 2,
    '{"name": "closed", "end": "search_again"}'),
  'effects', jsonb_build_array(jsonb_build_object('kind', 'set_trip_status', 'trip_id', (select id from t where k = 'late'),
    'to', 'watching', 'reason', 'payment_provider_unavailable', 'next_check_at', now() + interval '15 minutes')))),
  '{"saved": true}'::jsonb, 'set_trip_status takes a next_check_at');
select is((select next_check_at from public.trip_requests where id = (select id from t where k = 'late')),
  now() + interval '15 minutes', 'the trip watches again from then');

-- 14. A claim does not change the trip's version ----------------------------------------------------
create temp table v0 as select version from public.trip_requests where id = (select id from t where k = 'lease');
grant select on v0 to public;
select is(jsonb_array_length(app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 300,
    'trip_id', (select id from t where k = 'lease'))) -> 'trips'), 1, 'a trigger claims the trip (due or not)');
select is((select version from public.trip_requests where id = (select id from t where k = 'lease')),
  (select version from v0), 'the claim leases the trip without bumping its version');
select is(pg_temp.begin((select id from t where k = 'lease'), gen_random_uuid(), (select version from v0)),
  '{"started": true}'::jsonb,
  'so the run that read the trip before the trigger still wins its compare-and-set');

select * from finish();
rollback;
