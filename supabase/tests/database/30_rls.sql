-- Row level security and grants, acting as PostgREST does: transaction-local `role` and
-- `request.jwt.claims`.
begin;
select plan(46);

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

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'user-a@example.test'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'user-b@example.test');

create function pg_temp.act_as(uid uuid)
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims',
    jsonb_build_object('sub', uid, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
end
$$;

create function pg_temp.act_as_role(r text)
returns void
language plpgsql
as $$
begin
  perform set_config('role', r, true);
  perform set_config('request.jwt.claims', jsonb_build_object('role', r)::text, true);
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

-- One trip per user, each with an offer and an event.
create temp table ids (who text primary key, trip uuid, offer uuid);
grant select on ids to public;
do $$
declare
  u record;
  t uuid;
  o uuid;
begin
  for u in select * from (values
    ('a', 'aaaaaaaa-0000-4000-8000-00000000000a'::uuid),
    ('b', 'bbbbbbbb-0000-4000-8000-00000000000b'::uuid)
  ) as v(who, id) loop
    insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
    values (u.id, 'LHR', 'JFK', pg_temp.day(100), 1, 'economy', 42000, 'GBP') returning id into t;
    insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
      duration_minutes, departing_at, arriving_at, carriers)
    values (t, 'duffel', 'off_' || u.who, 22178, 'GBP', 'economy', 0, 490, pg_temp.day(100) + time '09:00', pg_temp.day(100) + time '12:10', '{ZZ}')
    returning id into o;
    insert into public.pipeline_events (trip_id, stage, decision, reason_code)
    values (t, 'search', 'offer_selected', 'acceptable_offer_found');
    insert into ids values (u.who, t, o);
  end loop;
end
$$;

-- Structure ------------------------------------------------------------------------------------
select ok((select bool_and(relrowsecurity) from pg_class
  where oid in ('public.trip_requests'::regclass, 'public.flight_offers'::regclass, 'public.pipeline_events'::regclass)),
  'RLS is enabled on every pipeline table');
select table_privs_are('public', 'trip_requests', 'anon', array[]::text[], 'anon has no privilege on trip_requests');
select table_privs_are('public', 'flight_offers', 'anon', array[]::text[], 'anon has no privilege on flight_offers');
select table_privs_are('public', 'pipeline_events', 'anon', array[]::text[], 'anon has no privilege on pipeline_events');
select table_privs_are('public', 'trip_requests', 'authenticated', array['SELECT'], 'authenticated may only SELECT trip_requests');
select table_privs_are('public', 'flight_offers', 'authenticated', array['SELECT'], 'authenticated may only SELECT flight_offers');
select table_privs_are('public', 'pipeline_events', 'authenticated', array['SELECT'], 'authenticated may only SELECT pipeline_events');
select table_privs_are('public', 'trip_requests', 'service_role',
  array['DELETE', 'INSERT', 'REFERENCES', 'SELECT', 'TRIGGER', 'TRUNCATE', 'UPDATE'], 'service_role has all on trip_requests');
select ok(not has_schema_privilege('anon', 'app', 'USAGE'), 'anon cannot use schema app');
select ok(
  not has_function_privilege('anon', 'app.record_search(uuid, jsonb)', 'EXECUTE')
  and not has_function_privilege('public', 'app.record_search(uuid, jsonb)', 'EXECUTE')
  and not has_function_privilege('public', 'app.create_trip(jsonb)', 'EXECUTE')
  and not has_function_privilege('public', 'app.caller_bypasses_rls()', 'EXECUTE'),
  'EXECUTE on app functions is not granted to PUBLIC or anon');
select ok(
  (select bool_and(p.prosecdef and p.proconfig @> array['search_path=""'])
   from pg_proc p where p.pronamespace = 'app'::regnamespace
     and p.proname in ('create_trip', 'get_trip', 'record_search', 'record_search_failure')),
  'the API functions are SECURITY DEFINER with an empty search_path');

-- User A ---------------------------------------------------------------------------------------
select pg_temp.act_as('aaaaaaaa-0000-4000-8000-00000000000a');

select results_eq($$ select id from public.trip_requests $$, $$ select trip from ids where who = 'a' $$,
  'A sees exactly their own trip');
select results_eq($$ select id from public.flight_offers $$, $$ select offer from ids where who = 'a' $$,
  'A sees exactly the offers of their own trip');
select results_eq($$ select trip_id from public.pipeline_events $$, $$ select trip from ids where who = 'a' $$,
  'A sees exactly the events of their own trip');
select is_empty($$ select 1 from public.trip_requests where id = (select trip from ids where who = 'b') $$,
  'A cannot read B''s trip by id');
select is_empty($$ select 1 from public.flight_offers where trip_id = (select trip from ids where who = 'b') $$,
  'A cannot read B''s offers');
select is_empty($$ select 1 from public.pipeline_events where trip_id = (select trip from ids where who = 'b') $$,
  'A cannot read B''s events');

select throws_ok($$ update public.trip_requests set max_total_minor = 1 where id = (select trip from ids where who = 'b') $$,
  '42501', 'permission denied for table trip_requests', 'A cannot update B''s trip');
select throws_ok($$ delete from public.trip_requests where id = (select trip from ids where who = 'b') $$,
  '42501', 'permission denied for table trip_requests', 'A cannot delete B''s trip');
select throws_ok($$ update public.flight_offers set total_minor = 1 where trip_id = (select trip from ids where who = 'b') $$,
  '42501', 'permission denied for table flight_offers', 'A cannot update B''s offers');
select throws_ok($$ delete from public.flight_offers where trip_id = (select trip from ids where who = 'b') $$,
  '42501', 'permission denied for table flight_offers', 'A cannot delete B''s offers');
select throws_ok($$ delete from public.pipeline_events where trip_id = (select trip from ids where who = 'b') $$,
  '42501', 'permission denied for table pipeline_events', 'A cannot delete B''s events');
select throws_ok($$ update public.trip_requests set status = 'watching' where id = (select trip from ids where who = 'a') $$,
  '42501', 'permission denied for table trip_requests', 'A cannot update even their own trip directly');
select throws_ok(
  $$ insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
     values ('aaaaaaaa-0000-4000-8000-00000000000a', 'LHR', 'CDG', pg_temp.day(100), 1, 'economy', 100, 'GBP') $$,
  '42501', 'permission denied for table trip_requests', 'authenticated cannot insert trips directly');
select throws_ok(
  $$ insert into public.pipeline_events (trip_id, stage, decision) values ((select trip from ids where who = 'a'), 'search', 'x') $$,
  '42501', 'permission denied for table pipeline_events', 'authenticated cannot insert events directly');

select is(app.get_trip((select trip from ids where who = 'b')), null, 'app.get_trip hides B''s trip from A');
select is(app.get_trip(gen_random_uuid()), null, 'app.get_trip of a missing trip looks the same');
select is(app.get_trip((select trip from ids where who = 'a')) ->> 'id', (select trip::text from ids where who = 'a'),
  'app.get_trip returns A''s own trip');

select throws_ok(
  $$ select app.record_search((select trip from ids where who = 'b'),
       pg_temp.dated('{"provider": "duffel", "offers": [], "selected_provider_offer_id": null, "decision": "no_acceptable_offer",
         "offers_seen": 0, "rejections": {}, "next_check_at": "{{now+1 hour}}"}')::jsonb) $$,
  'P0002', 'trip not found', 'A cannot record a search on B''s trip');
select throws_ok(
  $$ select app.record_search_failure((select trip from ids where who = 'b'), 'provider_unavailable', now()) $$,
  'P0002', 'trip not found', 'A cannot record a search failure on B''s trip');

-- Authenticated without a user id ---------------------------------------------------------------
select pg_temp.act_as_role('authenticated');
select is_empty($$ select 1 from public.trip_requests $$, 'authenticated without sub sees no trip');
select is(app.get_trip((select trip from ids where who = 'a')), null, 'authenticated without sub gets no trip');

-- anon -----------------------------------------------------------------------------------------
select pg_temp.act_as_role('anon');
select throws_ok($$ select * from public.trip_requests $$, '42501', 'permission denied for table trip_requests',
  'anon cannot read trips');
select throws_ok($$ select * from public.flight_offers $$, '42501', 'permission denied for table flight_offers',
  'anon cannot read offers');
select throws_ok($$ select * from public.pipeline_events $$, '42501', 'permission denied for table pipeline_events',
  'anon cannot read events');
select throws_ok($$ select app.get_trip((select trip from ids where who = 'a')) $$, '42501', 'permission denied for schema app',
  'anon cannot call the API');
select throws_ok($$ select app.create_trip('{}') $$, '42501', 'permission denied for schema app',
  'anon cannot create trips');

-- service_role ---------------------------------------------------------------------------------
select pg_temp.act_as_role('service_role');
select is((select count(*) from public.trip_requests where id in (select trip from ids)), 2::bigint,
  'service_role sees every trip');
select is((select count(*) from public.flight_offers where id in (select offer from ids)), 2::bigint,
  'service_role sees every offer');
select is(app.get_trip((select trip from ids where who = 'b')) ->> 'id', (select trip::text from ids where who = 'b'),
  'app.get_trip lets service_role read any trip');
select lives_ok($$ update public.trip_requests set next_check_at = now(), check_count = check_count + 1 where id = (select trip from ids where who = 'b') $$,
  'service_role can write directly');

select lives_ok(
  $$ insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, child_ages, cabin, max_total_minor, currency)
     values ('bbbbbbbb-0000-4000-8000-00000000000b', 'LHR', 'CDG', pg_temp.day(100), 1, '{0, 9}', 'economy', 100, 'GBP') $$,
  'service_role can insert directly (constraint and trigger helpers are executable)');

-- Nothing A tried changed B's rows --------------------------------------------------------------
select pg_temp.act_as_postgres();
select is((select version from public.trip_requests where id = (select trip from ids where who = 'b')), 2::bigint,
  'B''s trip was changed only by service_role (version 2)');
select is((select total_minor from public.flight_offers where id = (select offer from ids where who = 'b')), 22178::bigint,
  'B''s offer is untouched');
select is((select count(*) from public.pipeline_events where trip_id = (select trip from ids where who = 'b')), 1::bigint,
  'B''s events are untouched');
select is((select count(*) from public.trip_requests where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a'), 1::bigint,
  'A''s direct insert did not happen');

select * from finish();
rollback;
