-- app.monitor_claim: due trips oldest first, FOR UPDATE SKIP LOCKED (two concurrent claimers
-- take disjoint trips: two real transactions through dblink), the lease, the kill switch, the
-- trip_id claim, the claim's JSON shape, and argument errors. (The paused claim of booking trips
-- and the other money-safety rules: 90_monitor_money_safety.sql.)
--
-- The database may hold other due trips (a shared local stack). The trips made here are due
-- since 1900 (before anything real, on any day), so they come first; assertions about counts are
-- relative to what was due before.
begin;
select plan(31);

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

-- Two real transactions racing ---------------------------------------------------------------------
-- The racers must see committed trips, so a third connection commits a throwaway user with four
-- due trips and deletes it (cascade) at the end. dblink is created inside this transaction and
-- disappears with its rollback.
select exists (select 1 from pg_available_extensions where name = 'dblink') as has_dblink \gset
\if :has_dblink
create extension if not exists dblink with schema extensions;
create temp table race (who text, trip uuid, ord int);

select extensions.dblink_connect('setup', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
  current_setting('port'), current_database()));
select extensions.dblink_exec('setup', $$ delete from auth.users where id = 'dddddddd-0000-4000-8000-00000000000d' $$);
select extensions.dblink_exec('setup', $$
  with u as (insert into auth.users (id, email) values ('dddddddd-0000-4000-8000-00000000000d', 'race@example.test') returning id)
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency, next_check_at)
  select u.id, 'LHR', 'JFK', current_date + 100, 1, 'economy', 42000, 'GBP', timestamptz '1900-01-01 00:00:00+00' + make_interval(secs => n)
  from u, generate_series(1, 4) as n $$);
insert into race
select 'mine', r.trip, r.ord from extensions.dblink('setup', $$
  select id, row_number() over (order by next_check_at)::int from public.trip_requests
  where owner_id = 'dddddddd-0000-4000-8000-00000000000d' $$) as r(trip uuid, ord int);

select extensions.dblink_connect('racer1', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
  current_setting('port'), current_database()));
select extensions.dblink_connect('racer2', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
  current_setting('port'), current_database()));
select extensions.dblink_exec('racer1', 'begin');
select extensions.dblink_exec('racer2', 'begin');
insert into race
select 'racer1', (c ->> 'id')::uuid, null from extensions.dblink('racer1', $$
  select jsonb_path_query(app.monitor_claim('{"limit": 2, "lease_seconds": 60, "trip_id": null}'), '$.trips[*].trip')::text $$) as r(c jsonb);
-- racer1 still holds its transaction (and the row locks) open while racer2 claims.
insert into race
select 'racer2', (c ->> 'id')::uuid, null from extensions.dblink('racer2', $$
  select jsonb_path_query(app.monitor_claim('{"limit": 2, "lease_seconds": 60, "trip_id": null}'), '$.trips[*].trip')::text $$) as r(c jsonb);
select extensions.dblink_exec('racer1', 'rollback');
select extensions.dblink_exec('racer2', 'rollback');
select extensions.dblink_disconnect('racer1');
select extensions.dblink_disconnect('racer2');
select extensions.dblink_exec('setup', $$ delete from auth.users where id = 'dddddddd-0000-4000-8000-00000000000d' $$);
select extensions.dblink_disconnect('setup');

select results_eq($$ select trip from race where who = 'racer1' order by trip $$,
  $$ select trip from race where who = 'mine' and ord in (1, 2) order by trip $$,
  'racer 1 (open transaction) claims the two oldest due trips');
select results_eq($$ select trip from race where who = 'racer2' order by trip $$,
  $$ select trip from race where who = 'mine' and ord in (3, 4) order by trip $$,
  'racer 2, claiming at the same time, skips the locked ones and takes the next two');
select is_empty($$ select trip from race where who = 'racer1' intersect select trip from race where who = 'racer2' $$,
  'the two concurrent claims are disjoint');
\else
select skip('dblink is not installed: the two-transaction race is left to the end-to-end test', 3);
\endif

-- Fixtures (this transaction only) -----------------------------------------------------------------
insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'user-a@example.test'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'user-b@example.test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_NffrFeUfNV2Hib', 'pm_1MqM05LkdIwHu7ix');
-- The claim hands the payment ids out only under a consent covering the trip (20261202000200).
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('aaaaaaaa-0000-4000-8000-00000000000a', 'pm_1MqM05LkdIwHu7ix', 99999999, 'GBP', 'pgTAP consent', 'test');

-- A trip of `owner` in `status` with a selected offer, due at `due`.
create function pg_temp.trip(owner uuid, status text, due timestamptz)
returns uuid
language plpgsql
as $$
declare
  t uuid;
  o uuid;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (owner, 'LHR', 'JFK', pg_temp.day(100), 1, 'economy', 42000, 'GBP') returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_' || replace(t::text, '-', ''), 39900, 'GBP', 'economy', 0, 490,
    pg_temp.day(100) + time '09:00', pg_temp.day(100) + time '12:10', '{ZZ}', pg_temp.at('30 minutes')::timestamptz)
  returning id into o;
  if status <> 'searching' then
    update public.trip_requests set status = 'watching', selected_offer_id = o where id = t;
  end if;
  if status in ('booking', 'booked') then
    update public.trip_requests set status = 'booking' where id = t;
  end if;
  if status = 'booked' then
    update public.trip_requests set status = 'booked' where id = t;
  end if;
  if status = 'expired' then
    update public.trip_requests set status = 'expired' where id = t;
  end if;
  update public.trip_requests set next_check_at = due where id = t;
  return t;
end
$$;

create temp table trips (k text primary key, id uuid);
create temp table got (k text primary key, j jsonb);
grant all on trips, got to public;
insert into trips values
  ('w1', pg_temp.trip('aaaaaaaa-0000-4000-8000-00000000000a', 'watching', '1900-01-02 00:00:01+00')),
  ('s2', pg_temp.trip('bbbbbbbb-0000-4000-8000-00000000000b', 'searching', '1900-01-02 00:00:02+00')),
  ('k3', pg_temp.trip('aaaaaaaa-0000-4000-8000-00000000000a', 'booking', '1900-01-02 00:00:03+00')),
  ('w4', pg_temp.trip('aaaaaaaa-0000-4000-8000-00000000000a', 'watching', '1900-01-02 00:00:04+00')),
  ('done', pg_temp.trip('aaaaaaaa-0000-4000-8000-00000000000a', 'booked', '1900-01-02 00:00:00+00')),
  ('gone', pg_temp.trip('aaaaaaaa-0000-4000-8000-00000000000a', 'expired', '1900-01-02 00:00:00+00')),
  ('later', pg_temp.trip('aaaaaaaa-0000-4000-8000-00000000000a', 'watching', now() + interval '1 hour'));

-- An open attempt on the booking trip, and a closed one on w1.
insert into public.booking_attempts (id, trip_id, state, version, open, phase)
select x.a, x.t, jsonb_build_object('attempt_id', x.a, 'trip_id', x.t, 'version', x.v, 'phase', x.p, 'payment_intent', 'pi_1'), 1, true, 'reprice'
from (values
  ('11111111-0000-4000-8000-000000000001'::uuid, (select id from trips where k = 'k3'), 5, '{"name": "capture"}'::jsonb),
  ('11111111-0000-4000-8000-000000000002'::uuid, (select id from trips where k = 'w1'), 9, '{"name": "closed", "end": "search_again"}'::jsonb)
) as x(a, t, v, p);

create temp table before as
select count(*)::int as due from public.trip_requests
where status in ('searching', 'watching', 'booking') and next_check_at <= now();
grant select on before to public;

select set_config('role', 'service_role', true);

-- Peek and kill switch -----------------------------------------------------------------------------
insert into got values ('peek', app.monitor_claim('{"limit": 0, "lease_seconds": 0, "trip_id": null}'));
select is((select j - 'due_left' from got where k = 'peek'),
  '{"enabled": true, "trips": [], "settings": {"monitor_enabled": true, "batch_size": 1000, "provider_call_budget": 1100,
    "concurrency": 64, "lock_lease_ms": 120000, "claim_lease_seconds": 300, "fanout_max": 4,
    "duffel_calls_per_second": 40, "stripe_calls_per_second": 20}}'::jsonb,
  'limit 0 peeks: the settings, nothing claimed');
select is((select (j ->> 'due_left')::int from got where k = 'peek'), (select due from before),
  'due_left counts the due trips (searching, watching, booking; not booked or expired)');

select set_config('role', 'postgres', true);
update public.pipeline_settings set monitor_enabled = false;
select set_config('role', 'service_role', true);
insert into got values ('off', app.monitor_claim('{"limit": 10, "lease_seconds": 60, "trip_id": null}'));
select is((select j -> 'enabled' from got where k = 'off'), 'false'::jsonb, 'kill switch off: enabled false');
select is((select j #>> '{trips,0,trip,id}' from got where k = 'off'), (select id::text from trips where k = 'k3'),
  'kill switch off: the due booking trip with an open attempt is still claimed (in-flight money finishes)');
select is_empty($$ select 1 from got, jsonb_array_elements(j -> 'trips') as c where k = 'off'
    and (c #>> '{trip,id}')::uuid in (select id from trips where k <> 'k3') $$,
  'kill switch off: none of the watching or searching trips is claimed');
select is((select j #> '{settings,monitor_enabled}' from got where k = 'off'), 'false'::jsonb, 'the settings say why');
select is((select app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 60, 'trip_id', (select id from trips where k = 'later'))) -> 'trips'),
  '[]'::jsonb, 'kill switch off: not even a trip_id claim');
select is((select next_check_at from public.trip_requests where id = (select id from trips where k = 'w1')),
  '1900-01-02 00:00:01+00'::timestamptz, 'kill switch off: due trips keep their next check time');
select set_config('role', 'postgres', true);
update public.pipeline_settings set monitor_enabled = true;
-- Undo the paused claim's lease on k3, so the claims below see the fixtures as made.
update public.trip_requests set next_check_at = '1900-01-02 00:00:03+00' where id = (select id from trips where k = 'k3');
select set_config('role', 'service_role', true);

-- Claiming ---------------------------------------------------------------------------------------------
insert into got values ('c1', app.monitor_claim('{"limit": 3, "lease_seconds": 60, "trip_id": null}'));
select is(
  (select array_agg((c #>> '{trip,id}')::uuid order by n) from got, jsonb_array_elements(j -> 'trips') with ordinality as x(c, n) where k = 'c1'),
  array[(select id from trips where k = 'w1'), (select id from trips where k = 's2'), (select id from trips where k = 'k3')],
  'claims the due trips oldest first (watching, searching and booking), skipping booked and expired');
select is((select (j ->> 'due_left')::int from got where k = 'c1'), (select due - 3 from before),
  'due_left: what is still due after the claim');
select is(
  (select count(*)::int from public.trip_requests
   where id in (select id from trips where k in ('w1', 's2', 'k3')) and next_check_at = now() + interval '60 seconds'),
  3, 'the lease: claimed trips are due again only after lease_seconds');
select is(
  (select (c #>> '{trip,version}')::bigint from got, jsonb_array_elements(j -> 'trips') as c where k = 'c1' and c #>> '{trip,id}' = (select id::text from trips where k = 'w1')),
  (select version from public.trip_requests where id = (select id from trips where k = 'w1')),
  'the claimed trip row carries the version after the lease (ready for begin_attempt''s compare-and-set)');
select is(
  (select c - 'trip' from got, jsonb_array_elements(j -> 'trips') as c where k = 'c1' and c #>> '{trip,id}' = (select id::text from trips where k = 'w1')),
  jsonb_build_object(
    'selected_offer', jsonb_build_object('provider_offer_id', 'off_' || replace((select id::text from trips where k = 'w1'), '-', ''),
      'total_minor', 39900, 'currency', 'GBP', 'expires_at', pg_temp.at('30 minutes'), 'departing_at', pg_temp.day(100) + time '09:00'),
    'attempt', null,
    'payment', jsonb_build_object('customer', 'cus_NffrFeUfNV2Hib', 'payment_method', 'pm_1MqM05LkdIwHu7ix')),
  'a claim: selected offer, no open attempt (the closed one is not handed out), the owner''s payment ids');
select is(
  (select c -> 'payment' from got, jsonb_array_elements(j -> 'trips') as c where k = 'c1' and c #>> '{trip,id}' = (select id::text from trips where k = 's2')),
  'null'::jsonb, 'payment is null for an owner without a payment profile');
select is(
  (select c #> '{attempt,state}' from got, jsonb_array_elements(j -> 'trips') as c where k = 'c1' and c #>> '{trip,id}' = (select id::text from trips where k = 'k3')),
  (select state from public.booking_attempts where id = '11111111-0000-4000-8000-000000000001'),
  'a booking trip comes with its open attempt''s state (a run that died resumes it)');
select is(
  (select (c #>> '{trip,status}') || ' ' || (c #>> '{trip,next_check_at}') from got, jsonb_array_elements(j -> 'trips') as c
   where k = 'c1' and c #>> '{trip,id}' = (select id::text from trips where k = 's2')),
  'searching ' || to_char((now() + interval '60 seconds') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'the trip row is the contract''s trip JSON');

insert into got values ('c2', app.monitor_claim('{"limit": 3, "lease_seconds": 60, "trip_id": null}'));
select is(
  (select (c #>> '{trip,id}')::uuid from got, jsonb_array_elements(j -> 'trips') as c where k = 'c2' limit 1),
  (select id from trips where k = 'w4'),
  'a second claim does not take leased trips again: it starts with the next due one');
select ok(
  (select bool_and(c #>> '{trip,id}' not in (select id::text from trips where k in ('w1', 's2', 'k3', 'done', 'gone', 'later')))
   from got, jsonb_array_elements(j -> 'trips') as c where k = 'c2'),
  'nothing claimed twice; booked, expired and not-yet-due trips are never claimed');

-- One trip by id ------------------------------------------------------------------------------------
insert into got values ('one', app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 30, 'trip_id', (select id from trips where k = 'later'))));
select is((select jsonb_array_length(j -> 'trips') || ' ' || (j #>> '{trips,0,trip,id}') from got where k = 'one'),
  '1 ' || (select id from trips where k = 'later'), 'trip_id claims that trip even though it is not due');
select is((select next_check_at from public.trip_requests where id = (select id from trips where k = 'later')),
  now() + interval '30 seconds', 'the trip_id claim takes the lease too');
select is((select app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 30, 'trip_id', (select id from trips where k = 'done'))) -> 'trips'),
  '[]'::jsonb, 'a booked trip is never claimed, even by id');
select is((select app.monitor_claim(jsonb_build_object('trip_id', gen_random_uuid())) -> 'trips'),
  '[]'::jsonb, 'an unknown trip id claims nothing (limit and lease default to the settings)');

-- Arguments -----------------------------------------------------------------------------------------
select throws_ok($$ select app.monitor_claim('{"limit": 1, "lease": 5}') $$, '22023', 'unknown field: lease', 'unknown fields are refused');
select throws_ok($$ select app.monitor_claim('{"limit": -1}') $$, '22023', 'field limit must be an integer between 0 and 10000', 'negative limit');
select throws_ok($$ select app.monitor_claim('{"limit": 1.5}') $$, '22023', 'field limit must be an integer between 0 and 10000', 'fractional limit');
select throws_ok($$ select app.monitor_claim('{"limit": 1, "lease_seconds": 0}') $$, '22023',
  'field lease_seconds must be at least 1 when claiming', 'claiming needs a lease');
select throws_ok($$ select app.monitor_claim('{"trip_id": "trip-1"}') $$, '22P02', null, 'trip_id must be a uuid');
select throws_ok($$ select app.monitor_claim('[]') $$, '22023', 'args must be a JSON object', 'args must be an object');

select * from finish();
rollback;
