-- The trip-search SQL API in the drive API's shape (app.search_open, app.search_record,
-- app.search_record_failure: one jsonb argument each), run as the caller. Dates derive from
-- now(), so the file passes on any day.
begin;
select plan(12);

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-0000000004a5', 'search-a@example.test'),
  ('bbbbbbbb-0000-4000-8000-0000000004b5', 'search-b@example.test');

create function pg_temp.act_as(uid uuid)
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object('sub', uid, 'role', 'authenticated')::text, true);
end
$$;

create function pg_temp.new_trip()
returns jsonb
language sql
as $$
  select jsonb_build_object('origin', 'LHR', 'destination', 'JFK',
    'departure_date', (current_date + 60)::text, 'return_date', null, 'adults', 1,
    'child_ages', '[]'::jsonb, 'cabin', 'economy', 'nonstop_only', false,
    'max_total_minor', 42000, 'currency', 'GBP', 'auto_book', false)
$$;

create temp table v (k text primary key, j jsonb);
grant all on v to authenticated;

select pg_temp.act_as('aaaaaaaa-0000-4000-8000-0000000004a5');
insert into v values ('open', app.search_open(jsonb_build_object('trip', pg_temp.new_trip())));
select is((select j #>> '{trip,origin}' from v where k = 'open'), 'LHR', 'search_open creates the caller''s trip');
select is((select j #>> '{trip,owner_id}' from v where k = 'open'), 'aaaaaaaa-0000-4000-8000-0000000004a5', 'owned by the caller');
select is(
  app.search_open(jsonb_build_object('trip_id', (select j #>> '{trip,id}' from v where k = 'open'))) #>> '{trip,id}',
  (select j #>> '{trip,id}' from v where k = 'open'),
  'search_open loads one of the caller''s trips by id');
select throws_ok($$ select app.search_open('{}') $$, '22023', null, 'neither trip nor trip_id is refused');
select throws_ok(
  $$ select app.search_open(jsonb_build_object('trip', pg_temp.new_trip(), 'trip_id', gen_random_uuid())) $$,
  '22023', null, 'both trip and trip_id are refused');
select throws_ok($$ select app.search_record('{"trip_id": "x"}') $$, '22023', null, 'search_record needs a result object');
select throws_ok($$ select app.search_record_failure('{"trip_id": "x"}') $$, '22023', null,
  'search_record_failure needs all its fields');

insert into v values ('failed', app.search_record_failure(jsonb_build_object(
  'trip_id', (select j #>> '{trip,id}' from v where k = 'open'), 'error_code', 'provider_unavailable',
  'next_check_at', now() + interval '5 minutes')));
select is((select j #>> '{trip,last_error_code}' from v where k = 'failed'), 'provider_unavailable',
  'search_record_failure records the error on the trip');

select pg_temp.act_as('bbbbbbbb-0000-4000-8000-0000000004b5');
select is(
  app.search_open(jsonb_build_object('trip_id', (select j #>> '{trip,id}' from v where k = 'open'))) -> 'trip',
  'null'::jsonb, 'another user''s trip is null (404), not an error that reveals it');
select throws_ok(
  format($$ select app.search_record_failure(jsonb_build_object('trip_id', %L, 'error_code', 'provider_unavailable',
    'next_check_at', now())) $$, (select j #>> '{trip,id}' from v where k = 'open')),
  'P0002', null, 'another user cannot record on the trip');

reset role;
select ok(not has_function_privilege('anon', 'app.search_open(jsonb)', 'execute'), 'anon cannot call search_open');
select ok(has_function_privilege('authenticated', 'app.search_record(jsonb)', 'execute'), 'authenticated can call search_record');

select * from finish();
rollback;
