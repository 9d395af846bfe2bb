-- Issue 8 item 2 (migration 20261203000402_cleanup_jobs.sql): app.cleanup_traveler_data
-- (travellers' personal data N days after the last travel date of every trip that uses them,
-- through the shared plain delete app.delete_travelers) and app.cleanup_trip_summaries (trips
-- that ended long ago reduced to an anonymous summary): rows past retention gone, protected and
-- recent rows kept, a second run deletes nothing. Every date derives from now().
begin;
select plan(21);

-- Profiles are encrypted under the live data key (a trigger checks it; migration 20261203000510).
select vault.create_secret('pgtap-only-traveler-key-0123456789', 'traveler_data_key')
where not exists (select 1 from vault.secrets where name = 'traveler_data_key');

insert into auth.users (id, email) values ('16316316-0000-4000-8000-000000000001', 'user-163@example.test');
create temp table k (name text primary key, id uuid);
grant all on k to public;

-- A trip in `status` departing `dep` days from today (returning `ret` days from today), last
-- changed `age` ago.
create function pg_temp.trip(name text, status text, dep int, age interval, ret int default null)
returns uuid
language plpgsql
as $$
declare
  t uuid;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, return_date, adults, cabin,
    max_total_minor, currency, status, updated_at, created_at, check_count)
  values ('16316316-0000-4000-8000-000000000001', 'LHR', 'JFK', current_date + dep, current_date + ret, 1, 'economy',
    42000, 'GBP', status, now() - age, now() - age - interval '30 days', 12)
  returning id into t;
  insert into k values (name, t);
  return t;
end
$$;

create function pg_temp.traveler(name text)
returns uuid
language plpgsql
as $$
declare
  v uuid;
begin
  insert into public.travelers (owner_id, pii)
  values ('16316316-0000-4000-8000-000000000001', extensions.pgp_sym_encrypt('{"given_name":"Probe"}', app.traveler_data_key(), 'cipher-algo=aes256'))
  returning id into v;
  insert into k values (name, v);
  return v;
end
$$;

create function pg_temp.fly(traveler text, trip text, pos int default 1)
returns void
language sql
as $$
  insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
  values ((select id from k where name = trip), '16316316-0000-4000-8000-000000000001',
    (select id from k where name = traveler), pos)
$$;

create function pg_temp.attempt(trip text, open boolean)
returns void
language plpgsql
as $$
declare
  a uuid := gen_random_uuid();
  t uuid := (select id from k where name = trip);
begin
  insert into public.booking_attempts (id, trip_id, state, version, open, phase)
  values (a, t, jsonb_build_object('schema_version', 1, 'attempt_id', a, 'trip_id', t, 'offer_id', 'off_163', 'version', 1,
    'phase', case when open then '{"name": "reprice"}'::jsonb else '{"name": "closed", "end": "booked"}'::jsonb end),
    1, open, case when open then 'reprice' else 'closed' end);
end
$$;

-- Travellers ---------------------------------------------------------------------------------------
select pg_temp.trip('past', 'booked', -40, '35 days');
select pg_temp.trip('recent', 'booked', -10, '5 days');
select pg_temp.trip('still_watching', 'watching', -40, '35 days');
select pg_temp.trip('held', 'needs_traveller', -40, '35 days');
select pg_temp.trip('round', 'booked', -50, '5 days', -10);
select pg_temp.attempt('held', true);

select pg_temp.traveler(n) from unnest(array['gone', 'also_recent', 'on_watch', 'no_trip', 'in_attempt', 'returning']) n;
select pg_temp.fly('gone', 'past');
select pg_temp.fly('also_recent', 'past', 2);
select pg_temp.fly('also_recent', 'recent');
select pg_temp.fly('on_watch', 'still_watching');
select pg_temp.fly('in_attempt', 'held');
select pg_temp.fly('returning', 'round');

select is(app.cleanup_traveler_data() -> 'counts', '{"travelers_deleted": 1}'::jsonb,
  'a traveller whose every trip ended more than traveler_data_days (30) ago is deleted');
select is((select count(*)::int from public.travelers where id = (select id from k where name = 'gone')), 0,
  'their encrypted personal data is gone');
select is((select count(*)::int from public.trip_travelers where traveler_id = (select id from k where name = 'gone')), 0,
  'and their trip slots');
select set_eq(
  $$ select k.name from public.travelers t join k on k.id = t.id $$,
  array['also_recent', 'on_watch', 'no_trip', 'in_attempt', 'returning'],
  'kept: on a recent trip too, on a trip still watched, on no trip (address book), in an open attempt, back only 10 days ago');
select is(app.cleanup_traveler_data() -> 'counts', '{"travelers_deleted": 0}'::jsonb, 'a second run deletes nothing');
update public.pipeline_settings set traveler_data_days = 5;
select is(app.cleanup_traveler_data() -> 'counts', '{"travelers_deleted": 2}'::jsonb,
  'traveler_data_days is a setting (5: the recent and the returning traveller go too)');
select throws_ok(
  format('select app.delete_travelers(array[%L]::uuid[])', (select id from k where name = 'in_attempt')),
  '55006', null, 'the shared delete refuses a traveller on an open attempt');
select is(app.delete_travelers(array[(select id from k where name = 'no_trip')]), 1,
  'app.delete_travelers deletes the profiles it is given');
select ok(not has_function_privilege('authenticated', 'app.delete_travelers(uuid[])', 'execute'),
  'users cannot call it');

-- Trip summaries ---------------------------------------------------------------------------------------
select pg_temp.trip('ancient', 'cancelled', -420, '401 days');
select pg_temp.trip('ancient_booked', 'booked', -420, '401 days');
select pg_temp.trip('ancient_alert', 'failed', -420, '401 days');
select pg_temp.trip('ancient_open', 'watching', -420, '401 days');
select pg_temp.trip('ended_lately', 'expired', -420, '10 days');
select pg_temp.attempt('ancient_booked', false);
insert into public.operator_alerts (trip_id, reason) values ((select id from k where name = 'ancient_alert'), 'probe');
insert into public.price_history (trip_id, observed_at, decision, offers_seen, best_total_minor, currency)
select (select id from k where name = 'ancient'), now() - interval '430 days', 'no_acceptable_offer', 9, p, 'GBP'
from unnest(array[45000, 39000, 41000]) p;
insert into public.pipeline_events (trip_id, stage, decision, occurred_at, detail)
values ((select id from k where name = 'ancient'), 'traveller', 'cancelled', now() - interval '401 days', '{}');
insert into public.notifications (trip_id, owner_id, template, dedupe_key)
values ((select id from k where name = 'ancient'), '16316316-0000-4000-8000-000000000001', 'watch_expired', 'n163-ancient');
insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
  duration_minutes, departing_at, arriving_at, carriers)
values ((select id from k where name = 'ancient'), 'duffel', 'off_163_ancient', 39000, 'GBP', 'economy', 0, 490,
  (current_date - 420) + time '09:00', (current_date - 420) + time '12:10', '{ZZ}');
select pg_temp.traveler('ancient_pax');
select pg_temp.fly('ancient_pax', 'ancient');

select is(app.cleanup_trip_summaries() -> 'counts', '{"trips_summarized": 1}'::jsonb,
  'a trip that ended more than trip_summary_days (400) ago without an attempt is summarized');
select is((select count(*)::int from public.trip_requests where id = (select id from k where name = 'ancient')), 0,
  'the trip is deleted ...');
select is(
  (select count(*)::int from public.price_history where trip_id = (select id from k where name = 'ancient'))
  + (select count(*)::int from public.pipeline_events where trip_id = (select id from k where name = 'ancient'))
  + (select count(*)::int from public.notifications where trip_id = (select id from k where name = 'ancient'))
  + (select count(*)::int from public.flight_offers where trip_id = (select id from k where name = 'ancient'))
  + (select count(*)::int from public.trip_travelers where trip_id = (select id from k where name = 'ancient')),
  0, '... with its price history, events, notifications, offers and trip slots');
select is((select count(*)::int from public.travelers where id = (select id from k where name = 'ancient_pax')), 1,
  'the traveller profile is the traveller job''s (or the erasure''s), not this one''s');
select results_eq(
  $$ select origin, destination, departure_month, round_trip, passengers::int, cabin, final_status, check_count,
       currency, max_total_minor, lowest_seen_minor
     from public.trip_summaries where summarized_at = now() $$,
  $$ values ('LHR'::text, 'JFK'::text, date_trunc('month', current_date - 420)::date, false, 1, 'economy'::text,
       'cancelled'::text, 12, 'GBP'::text, 42000::bigint, 39000::bigint) $$,
  'the summary keeps the anonymous facts: route, month, passengers, cabin, outcome, checks, lowest price');
select hasnt_column('public', 'trip_summaries', 'owner_id', 'the summary names no owner');
select hasnt_column('public', 'trip_summaries', 'trip_id', 'nor the trip');
select set_eq(
  $$ select k.name from public.trip_requests t join k on k.id = t.id where k.name like 'ancient%' or k.name = 'ended_lately' $$,
  array['ancient_booked', 'ancient_alert', 'ancient_open', 'ended_lately'],
  'kept: a trip with a booking attempt (accounting), with an open operator alert, still watching, ended lately');
select is(app.cleanup_trip_summaries() -> 'counts', '{"trips_summarized": 0}'::jsonb, 'a second run summarizes nothing');
select is((select count(*)::int from public.trip_summaries where summarized_at = now()), 1, 'and writes no second summary');
select table_privs_are('public', 'trip_summaries', 'authenticated', array[]::text[], 'users cannot read summaries');
select table_privs_are('public', 'cleanup_runs', 'authenticated', array[]::text[], 'nor the cleanup runs');

select * from finish();
rollback;
