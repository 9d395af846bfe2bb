-- The trip_requests guard trigger: status graph, version bump on every update, updated_at,
-- immutable identity columns; flight_offers.updated_at; cascades.
begin;
select plan(34);

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

-- A trip created long ago (so that updated_at maintenance is visible inside this transaction).
create function pg_temp.trip(status text default 'searching')
returns uuid
language plpgsql
as $$
declare
  new_id uuid;
begin
  insert into public.trip_requests (
    owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency,
    version, created_at, updated_at
  ) values (
    'aaaaaaaa-0000-4000-8000-00000000000a', 'LHR', 'JFK', pg_temp.day(100), 1, 'economy', 42000, 'GBP',
    42, now() - interval '1 year', now() - interval '1 year'
  ) returning id into new_id;
  return new_id;
end
$$;

-- Moves a trip along a path of statuses, selecting an offer first when it will need one.
create function pg_temp.walk(trip uuid, variadic statuses text[])
returns void
language plpgsql
as $$
declare
  s text;
  offer uuid;
begin
  insert into public.flight_offers (
    trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops, duration_minutes,
    departing_at, arriving_at, carriers
  ) values (
    trip, 'duffel', 'off_' || md5(random()::text), 22178, 'GBP', 'economy', 0, 490,
    pg_temp.day(100) + time '09:00', pg_temp.day(100) + time '12:10', '{ZZ}'
  ) returning id into offer;
  update public.trip_requests set selected_offer_id = offer where id = trip;
  foreach s in array statuses loop
    update public.trip_requests set status = s where id = trip;
  end loop;
end
$$;

create temp table t as select pg_temp.trip() as id;

select is((select version from public.trip_requests where id = (select id from t)), 1::bigint,
  'a new trip starts at version 1 whatever the insert said');

update public.trip_requests set check_count = check_count + 1 where id = (select id from t);
select is((select version from public.trip_requests where id = (select id from t)), 2::bigint,
  'an update bumps version by one');
select ok((select updated_at = now() from public.trip_requests where id = (select id from t)),
  'an update maintains updated_at');

update public.trip_requests set check_count = check_count where id = (select id from t);
select is((select version from public.trip_requests where id = (select id from t)), 3::bigint,
  'even a no-op update bumps version');

update public.trip_requests set version = 100, updated_at = now() - interval '2 years' where id = (select id from t);
select is((select version from public.trip_requests where id = (select id from t)), 4::bigint,
  'version cannot be set directly');
select ok((select updated_at = now() from public.trip_requests where id = (select id from t)),
  'updated_at cannot be set directly');

-- Compare-and-set: a writer holding a stale version changes nothing.
with u as (
  update public.trip_requests set status = 'watching'
  where id = (select id from t) and version = 3 returning 1
)
select is(count(*), 0::bigint, 'compare-and-set with a stale version updates no row') from u;
with u as (
  update public.trip_requests set status = 'watching'
  where id = (select id from t) and version = 4 returning 1
)
select is(count(*), 1::bigint, 'compare-and-set with the current version updates the row') from u;
select is((select status from public.trip_requests where id = (select id from t)), 'watching',
  'the compare-and-set update took effect');

select throws_ok($$ update public.trip_requests set owner_id = gen_random_uuid() where id = (select id from t) $$,
  '55000', 'trip id, owner_id and created_at cannot change', 'owner_id is immutable');
select throws_ok($$ update public.trip_requests set created_at = now() where id = (select id from t) $$,
  '55000', 'trip id, owner_id and created_at cannot change', 'created_at is immutable');

-- Allowed paths.
select lives_ok($$ select pg_temp.walk(pg_temp.trip(), 'watching', 'booking', 'booked') $$,
  'searching -> watching -> booking -> booked');
select lives_ok($$ select pg_temp.walk(pg_temp.trip(), 'watching', 'booking', 'watching', 'booking', 'needs_traveller', 'watching') $$,
  'a failed order returns to watching; needs_traveller returns to watching');
select lives_ok($$ select pg_temp.walk(pg_temp.trip(), 'watching', 'booking', 'failed', 'searching') $$,
  'failed -> searching is the documented operator retry');
select lives_ok($$ select pg_temp.walk(pg_temp.trip(), 'expired') $$, 'searching -> expired');
select lives_ok($$ select pg_temp.walk(pg_temp.trip(), 'watching', 'cancelled') $$, 'watching -> cancelled');
select lives_ok($$ select pg_temp.walk(pg_temp.trip(), 'watching', 'booking', 'needs_traveller', 'cancelled') $$,
  'needs_traveller -> cancelled');

-- Forbidden transitions.
create temp table booked as select pg_temp.trip() as id;
select pg_temp.walk((select id from booked), 'watching', 'booking', 'booked');

select throws_ok($$ update public.trip_requests set status = 'watching' where id = (select id from booked) $$,
  '55000', 'trip status cannot change from booked to watching', 'a booked trip never goes back to watching');
select throws_ok($$ update public.trip_requests set status = 'searching' where id = (select id from booked) $$,
  '55000', 'trip status cannot change from booked to searching', 'a booked trip never goes back to searching');
select throws_ok($$ update public.trip_requests set status = 'booking' where id = (select id from booked) $$,
  '55000', 'trip status cannot change from booked to booking', 'a booked trip cannot be booked again');
select throws_ok($$ update public.trip_requests set status = 'cancelled' where id = (select id from booked) $$,
  '55000', 'trip status cannot change from booked to cancelled', 'a booked trip cannot be cancelled here');
select lives_ok($$ update public.trip_requests set next_check_at = null where id = (select id from booked) $$,
  'a booked trip accepts updates that keep its status');
select throws_ok($$ select pg_temp.walk(pg_temp.trip(), 'booking') $$,
  '55000', 'trip status cannot change from searching to booking', 'booking only starts from watching');
select throws_ok($$ select pg_temp.walk(pg_temp.trip(), 'booked') $$,
  '55000', 'trip status cannot change from searching to booked', 'booked only follows booking');
select throws_ok($$ select pg_temp.walk(pg_temp.trip(), 'watching', 'booking', 'cancelled') $$,
  '55000', 'trip status cannot change from booking to cancelled', 'a trip being booked cannot be cancelled');
select throws_ok($$ select pg_temp.walk(pg_temp.trip(), 'expired', 'watching') $$,
  '55000', 'trip status cannot change from expired to watching', 'expired is terminal');
select throws_ok($$ select pg_temp.walk(pg_temp.trip(), 'cancelled', 'searching') $$,
  '55000', 'trip status cannot change from cancelled to searching', 'cancelled is terminal');
select throws_ok($$ select pg_temp.walk(pg_temp.trip(), 'watching', 'failed', 'watching') $$,
  '55000', 'trip status cannot change from failed to watching', 'failed only restarts at searching');

-- flight_offers.updated_at and the selected offer's lifecycle.
create temp table w as select pg_temp.trip() as id;
select pg_temp.walk((select id from w), 'watching');
update public.flight_offers set updated_at = now() - interval '1 year', total_minor = 1 where trip_id = (select id from w);
select ok((select updated_at = now() from public.flight_offers where trip_id = (select id from w)),
  'flight_offers.updated_at is maintained');

select lives_ok($$ delete from public.flight_offers where trip_id = (select id from w) $$,
  'the selected offer of a watching trip can be purged');
select ok((select selected_offer_id is null from public.trip_requests where id = (select id from w)),
  'purging the selected offer clears the selection');

create temp table b as select pg_temp.trip() as id;
select pg_temp.walk((select id from b), 'watching', 'booking');
select throws_ok($$ delete from public.flight_offers where trip_id = (select id from b) $$,
  '23514', 'new row for relation "trip_requests" violates check constraint "trip_requests_booking_has_offer"',
  'the offer of a trip being booked cannot be purged');

delete from auth.users where id = 'aaaaaaaa-0000-4000-8000-00000000000a';
select is((select count(*) from public.trip_requests
            where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a'), 0::bigint,
  'deleting the user deletes their trips');
select is((select count(*) from public.flight_offers f
            where f.trip_id in ((select id from w), (select id from b))), 0::bigint,
  '... and their offers');

select * from finish();
rollback;
