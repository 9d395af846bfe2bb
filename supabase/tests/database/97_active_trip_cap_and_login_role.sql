-- Issue 6, defects 5, 6 and 7 (migration 20261201000300): the per-user cap on active trips
-- (including two real concurrent creates through dblink), anonymous users cannot auto-book, and
-- the functions' login role pipeline_functions has no privilege of its own.
-- Dates derive from now(), so the file does not depend on the calendar.
begin;
select plan(30);

create function pg_temp.act_as(uid uuid, anonymous boolean default false)
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object('sub', uid, 'role', 'authenticated',
    'aud', 'authenticated', 'is_anonymous', anonymous)::text, true);
end
$$;

create function pg_temp.act_as_postgres()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

-- Runs `stmt` as role `r` and returns its SQLSTATE ('ok' when it succeeds). pgTAP lives in schema
-- extensions, which the login role cannot use, so the assertion runs back as postgres.
create function pg_temp.sqlstate_as(r text, stmt text)
returns text
language plpgsql
as $$
begin
  execute format('set local role %I', r);
  begin
    execute stmt;
  exception when others then
    reset role;
    return sqlstate;
  end;
  reset role;
  return 'ok';
end
$$;

-- A valid trip request, departing in 60 days.
create function pg_temp.trip(auto_book boolean default false)
returns jsonb
language sql
as $$
  select jsonb_build_object('origin', 'LHR', 'destination', 'JFK',
    'departure_date', to_char(now() + interval '60 days', 'YYYY-MM-DD'), 'adults', 1,
    'cabin', 'economy', 'nonstop_only', true, 'max_total_minor', 42000, 'currency', 'GBP',
    'auto_book', auto_book)
$$;

-- Two real transactions racing -------------------------------------------------------------------
-- A committed user with (cap - 1) active trips; racer 1 creates one in an open transaction, racer
-- 2 creates one at the same time (asynchronously): it must wait for racer 1's lock and then be
-- refused, not both pass the count.
select exists (select 1 from pg_available_extensions where name = 'dblink') as has_dblink \gset
\if :has_dblink
create extension if not exists dblink with schema extensions;
create temp table race (k text primary key, v text);
grant all on race to public;

select extensions.dblink_connect('setup', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
  current_setting('port'), current_database()));
select extensions.dblink_exec('setup', $$ delete from auth.users where id = 'cccccccc-0000-4000-8000-00000000000c' $$);
select extensions.dblink_exec('setup', format($f$
  with u as (insert into auth.users (id, email) values ('cccccccc-0000-4000-8000-00000000000c', 'cap-race@example.test') returning id)
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  select u.id, 'LHR', 'JFK', (now() + interval '60 days')::date, 1, 'economy', 42000, 'GBP'
  from u, generate_series(1, %s) as n $f$,
  (select max_active_trips_per_user - 1 from public.pipeline_settings)));

select extensions.dblink_connect('racer1', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
  current_setting('port'), current_database()));
select extensions.dblink_connect('racer2', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
  current_setting('port'), current_database()));
select extensions.dblink_exec(r, $f$ do $d$ begin perform set_config('role', 'authenticated', false),
  set_config('request.jwt.claims', '{"sub":"cccccccc-0000-4000-8000-00000000000c","role":"authenticated"}', false); end $d$ $f$)
from unnest(array['racer1', 'racer2']) as r;
select extensions.dblink_exec('racer1', 'begin');
select count(*) from extensions.dblink('racer1', format('select app.create_trip(%L::jsonb)::text', pg_temp.trip())) as r(t text);
select extensions.dblink_send_query('racer2', format('select app.create_trip(%L::jsonb)::text', pg_temp.trip()));
select pg_sleep(0.3);
insert into race values ('racer2 busy while racer1 is open', extensions.dblink_is_busy('racer2')::text);
select extensions.dblink_exec('racer1', 'commit');
-- fail_on_error false: the error is kept for dblink_error_message instead of raised here (and
-- reported as a notice, silenced).
set local client_min_messages = warning;
select count(*) from extensions.dblink_get_result('racer2', false) as r(t text);
insert into race values ('racer2 error', extensions.dblink_error_message('racer2'));
select count(*) from extensions.dblink_get_result('racer2', false) as r(t text);
reset client_min_messages;
insert into race select 'active after the race', v from extensions.dblink('setup', $$
  select count(*)::text from public.trip_requests where owner_id = 'cccccccc-0000-4000-8000-00000000000c'
    and status in ('searching', 'watching', 'booking', 'needs_traveller') $$) as r(v text);
select extensions.dblink_disconnect('racer1');
select extensions.dblink_disconnect('racer2');
select extensions.dblink_exec('setup', $$ delete from auth.users where id = 'cccccccc-0000-4000-8000-00000000000c' $$);
select extensions.dblink_disconnect('setup');

select is((select v from race where k = 'racer2 busy while racer1 is open'), '1',
  'a concurrent create for the same owner waits for the first one''s transaction');
select matches((select v from race where k = 'racer2 error'), 'too many active trips',
  'after the first commits, the second is refused');
select is((select v from race where k = 'active after the race'),
  (select max_active_trips_per_user::text from public.pipeline_settings),
  'exactly the cap is active after two concurrent creates');
\else
select skip('dblink is not installed: the concurrent-create race is not checked here', 3);
\endif

-- The cap --------------------------------------------------------------------------------------------
select col_default_is('public', 'pipeline_settings', 'max_active_trips_per_user', '20',
  'the cap defaults to 20 active trips per user');
select throws_ok($$ update public.pipeline_settings set max_active_trips_per_user = 0 $$, '23514',
  null, 'the cap is at least 1');

update public.pipeline_settings set max_active_trips_per_user = 3;

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'cap-a@example.test'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'cap-b@example.test');
-- Auto-booking needs a default card and a consent covering the trip (20261202000200).
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('bbbbbbbb-0000-4000-8000-00000000000b', 'cus_tbbbbbbbb00004000800000000000000b', 'pm_card_visa');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('bbbbbbbb-0000-4000-8000-00000000000b', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_taaaaaaaa00004000800000000000000a', 'pm_card_visa');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('aaaaaaaa-0000-4000-8000-00000000000a', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');
-- Inactive trips do not count.
insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
  max_total_minor, currency, status)
select 'aaaaaaaa-0000-4000-8000-00000000000a', 'LHR', 'JFK', (now() + interval '60 days')::date, 1,
  'economy', 42000, 'GBP', s
from unnest(array['cancelled', 'expired', 'failed', 'failed']) as s;

select pg_temp.act_as('aaaaaaaa-0000-4000-8000-00000000000a');
select lives_ok($$ select app.create_trip(pg_temp.trip()) $$, 'first active trip');
select lives_ok($$ select app.create_trip(pg_temp.trip(true)) $$, 'second active trip');
select lives_ok($$ select app.create_trip(pg_temp.trip()) $$, 'third active trip: at the cap');
select throws_ok($$ select app.create_trip(pg_temp.trip()) $$, 'PF001', 'too many active trips',
  'a fourth active trip is refused with PF001');

select pg_temp.act_as('bbbbbbbb-0000-4000-8000-00000000000b');
select lives_ok($$ select app.create_trip(pg_temp.trip()) $$, 'the cap is per owner');

select pg_temp.act_as_postgres();
select is((select count(*)::int from public.trip_requests
  where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a' and app.trip_status_is_active(status)), 3,
  'the refused create stored nothing');
select lives_ok($$ update public.trip_requests set status = 'watching'
  where id = (select id from public.trip_requests where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a'
              and status = 'searching' order by created_at limit 1) $$,
  'moving between active statuses at the cap is allowed');
select throws_ok($$ update public.trip_requests set status = 'searching'
  where id = (select id from public.trip_requests where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a'
              and status = 'failed' limit 1) $$,
  'PF001', 'too many active trips', 'an operator retry (failed -> searching) at the cap is refused');
update public.trip_requests set status = 'cancelled'
where id = (select id from public.trip_requests where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a'
            and status = 'searching' limit 1);
select lives_ok($$ update public.trip_requests set status = 'searching'
  where id = (select id from public.trip_requests where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a'
              and status = 'failed' limit 1) $$,
  'after one trip ends, the retry fits under the cap');
select lives_ok($$ update public.trip_requests set check_count = check_count + 1
  where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  'updates that do not (re)activate a trip are not checked');

-- Anonymous users --------------------------------------------------------------------------------------
insert into auth.users (id, email) values ('eeeeeeee-0000-4000-8000-00000000000e', 'anonymous@example.test');
select pg_temp.act_as('eeeeeeee-0000-4000-8000-00000000000e', true);
select throws_ok($$ select app.create_trip(pg_temp.trip(true)) $$, 'PF002',
  'anonymous users cannot auto-book', 'an anonymous user cannot create an auto-book trip');
select lives_ok($$ select app.create_trip(pg_temp.trip(false)) $$,
  'an anonymous user may create a watch without auto-book');
select pg_temp.act_as_postgres();
select is((select count(*)::int from public.trip_requests where owner_id = 'eeeeeeee-0000-4000-8000-00000000000e'),
  1, 'only the watch was stored');
-- Trips are written through app.* only; an update under anonymous claims stands for any such path.
select set_config('request.jwt.claims', '{"sub":"eeeeeeee-0000-4000-8000-00000000000e","is_anonymous":true}', true);
select throws_ok($$ update public.trip_requests set auto_book = true
  where owner_id = 'eeeeeeee-0000-4000-8000-00000000000e' $$, 'PF002', null,
  'an anonymous user cannot turn auto-book on later either');
select pg_temp.act_as('bbbbbbbb-0000-4000-8000-00000000000b', false);
select lives_ok($$ select app.create_trip(pg_temp.trip(true)) $$,
  'is_anonymous false: auto-book allowed');
select pg_temp.act_as_postgres();

-- The functions' login role ------------------------------------------------------------------------------
select ok((select rolcanlogin and not rolinherit and not rolsuper and not rolbypassrls
             and not rolcreaterole and not rolcreatedb and not rolreplication
           from pg_roles where rolname = 'pipeline_functions'),
  'pipeline_functions: login, noinherit, not superuser, no bypassrls/createrole/createdb/replication');
select set_eq($$ select r.rolname::text from pg_auth_members m join pg_roles r on r.oid = m.roleid
                 join pg_roles u on u.oid = m.member where u.rolname = 'pipeline_functions' $$,
  array['authenticated', 'service_role'], 'member of exactly authenticated and service_role');
select ok(not exists (select 1 from pg_auth_members m join pg_roles r on r.oid = m.member
                      join pg_roles g on g.oid = m.roleid
                      where g.rolname = 'pipeline_functions'),
  'nobody is a member of pipeline_functions');

select is(pg_temp.sqlstate_as('pipeline_functions', 'select count(*) from auth.users'), '42501',
  'the login role itself cannot read auth.users');
select is(pg_temp.sqlstate_as('pipeline_functions', 'select count(*) from public.trip_requests'),
  '42501', 'nor the trips (no privilege without set role)');
select is(pg_temp.sqlstate_as('pipeline_functions',
  $$ select app.monitor_claim('{"limit":0,"lease_seconds":0,"trip_id":null}') $$), '42501',
  'nor call the monitor SQL API');
select is(pg_temp.sqlstate_as('pipeline_functions', $$ select pg_catalog.pg_read_file('/etc/hostname') $$),
  '42501', 'nor read server files');
select is(pg_temp.sqlstate_as('pipeline_functions', 'create role intruder'), '42501',
  'nor create roles');
select is(pg_temp.sqlstate_as('authenticated', 'select count(*) from auth.users'), '42501',
  'as authenticated it still cannot read auth.users');
select is(pg_temp.sqlstate_as('service_role', 'select count(*) from auth.users'), '42501',
  'as service_role neither');

select * from finish();
rollback;
