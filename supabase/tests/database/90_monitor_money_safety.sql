-- Money-safety rules of the monitor SQL API (migration 20261124000100_monitor_money_safety.sql):
-- the kill switch still lets in-flight attempts finish but starts nothing new (finding 5), an
-- open attempt pins its trip and the trip's owner (finding 6), and at most 3 attempts start per
-- trip in 24 hours (finding 11).
--
-- The database may hold other due trips (a shared local stack). The trips made here are due
-- since 1900 (before anything real, on any day), so they come first; assertions look at these trips only, or at properties every
-- claimed trip must have.
begin;
select plan(37);

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
  ('cccccccc-0000-4000-8000-00000000000c', 'user-c@example.test');

-- A trip of `owner` in `status` (searching, watching or booking) with a selected offer, due at `due`.
create function pg_temp.trip(status text, due timestamptz, owner uuid default 'aaaaaaaa-0000-4000-8000-00000000000a')
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
  values (t, 'duffel', 'off_0000test', 39900, 'GBP', 'economy', 0, 490, pg_temp.day(100) + time '09:00', pg_temp.day(100) + time '12:10', '{ZZ}',
    pg_temp.at('30 minutes')::timestamptz)
  returning id into o;
  if status <> 'searching' then
    update public.trip_requests set status = 'watching', selected_offer_id = o where id = t;
  end if;
  if status = 'booking' then
    update public.trip_requests set status = 'booking' where id = t;
  end if;
  update public.trip_requests set next_check_at = due where id = t;
  return t;
end
$$;

-- An AttemptState (booking_core::saga::AttemptState JSON) in `phase`.
create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000test',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
    'payment_intent', null, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', pg_temp.at('0'), 'updated_at', pg_temp.at('0'))
$$;

-- An attempt row for `trip` in `phase`, created `age` ago (as the table owner: the API never
-- backdates). Returns its id.
create function pg_temp.attempt(trip uuid, phase jsonb, age interval default '1 hour', intent text default null)
returns uuid
language plpgsql
as $$
declare
  a uuid := gen_random_uuid();
begin
  insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at)
  values (a, trip, pg_temp.state(a, trip, 1, phase) || jsonb_build_object('payment_intent', intent), 1, true, 'reprice', now() - age);
  return a;
end
$$;

create function pg_temp.begin_args(trip uuid, trip_version bigint default null)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'trip_id', trip,
    'trip_version', coalesce(trip_version, (select version from public.trip_requests where id = trip)),
    'state', pg_temp.state(gen_random_uuid(), trip, 1, '{"name": "reprice"}'))
$$;

create temp table t (k text primary key, id uuid);
create temp table got (k text primary key, j jsonb);
grant all on t, got to public;
insert into t values
  ('kw', pg_temp.trip('watching', '1900-01-03 00:00:01+00')),
  ('ks', pg_temp.trip('searching', '1900-01-03 00:00:02+00')),
  ('kb', pg_temp.trip('booking', '1900-01-03 00:00:03+00')),
  ('kn', pg_temp.trip('booking', '1900-01-03 00:00:04+00')),
  ('kf', pg_temp.trip('booking', now() + interval '1 hour')),
  ('pin', pg_temp.trip('booking', now() + interval '1 hour', 'cccccccc-0000-4000-8000-00000000000c')),
  ('lim', pg_temp.trip('watching', now() + interval '1 hour')), ('lim2', pg_temp.trip('watching', now() + interval '1 hour')),
  ('two', pg_temp.trip('watching', now() + interval '1 hour')), ('old', pg_temp.trip('watching', now() + interval '1 hour'));
-- Open attempts on kb, kf and pin (kn is in booking without one: finding 9, the driver's case).
insert into t values
  ('kb_a', pg_temp.attempt((select id from t where k = 'kb'), '{"name": "order"}')),
  ('kf_a', pg_temp.attempt((select id from t where k = 'kf'), '{"name": "capture"}')),
  ('pin_a', pg_temp.attempt((select id from t where k = 'pin'), '{"name": "authorize"}'));
-- Closed attempts that held money (a PaymentIntent): lim and lim2 have 3 in the last 24 h, two
-- has 2, old has 3 but only 2 recent.
select pg_temp.attempt(x.trip, '{"name": "closed", "end": "search_again"}', x.age, 'pi_test')
from (values
  ((select id from t where k = 'lim'), interval '1 minute'), ((select id from t where k = 'lim'), interval '5 hours'),
  ((select id from t where k = 'lim'), interval '23 hours 59 minutes'),
  ((select id from t where k = 'lim2'), interval '1 hour'), ((select id from t where k = 'lim2'), interval '2 hours'),
  ((select id from t where k = 'lim2'), interval '3 hours'),
  ((select id from t where k = 'two'), interval '1 hour'), ((select id from t where k = 'two'), interval '2 hours'),
  ((select id from t where k = 'old'), interval '1 hour'), ((select id from t where k = 'old'), interval '2 hours'),
  ((select id from t where k = 'old'), interval '24 hours 1 minute')
) as x(trip, age);

-- 5. Kill switch ------------------------------------------------------------------------------------
update public.pipeline_settings set monitor_enabled = false;
select set_config('role', 'service_role', true);

insert into got values ('off', app.monitor_claim('{"limit": 10, "lease_seconds": 60, "trip_id": null}'));
select is((select j -> 'enabled' from got where k = 'off'), 'false'::jsonb, 'switch off: enabled false');
select is(
  (select array_agg((c #>> '{trip,id}')::uuid) from got, jsonb_array_elements(j -> 'trips') as c
   where k = 'off' and (c #>> '{trip,id}')::uuid in (select id from t)),
  array[(select id from t where k = 'kb')],
  'switch off: of the due trips only the booking one with an open attempt is claimed (not watching, searching, or booking without an attempt)');
select ok(
  (select bool_and(c #>> '{trip,status}' = 'booking' and jsonb_typeof(c -> 'attempt') = 'object')
   from got, jsonb_array_elements(j -> 'trips') as c where k = 'off'),
  'switch off: every claimed trip is in booking and comes with its open attempt');
select is((select c #> '{attempt,state}' from got, jsonb_array_elements(j -> 'trips') as c
   where k = 'off' and c #>> '{trip,id}' = (select id::text from t where k = 'kb')),
  (select state from public.booking_attempts where id = (select id from t where k = 'kb_a')),
  'the in-flight attempt is handed out, so the run resumes it');
select is((select next_check_at from public.trip_requests where id = (select id from t where k = 'kb')),
  now() + interval '60 seconds', 'the claimed booking trip is leased');
select is(
  (select array_agg(next_check_at order by next_check_at) from public.trip_requests where id in (select id from t where k in ('kw', 'ks', 'kn'))),
  array['1900-01-03 00:00:01+00', '1900-01-03 00:00:02+00', '1900-01-03 00:00:04+00']::timestamptz[],
  'the trips left alone keep their next check time');
select is((select (j ->> 'due_left')::int from got where k = 'off'),
  (select count(*)::int from public.trip_requests tr where tr.status = 'booking' and tr.next_check_at <= now()
     and exists (select 1 from public.booking_attempts a where a.trip_id = tr.id and a.open)),
  'switch off: due_left counts only what a paused run may still take');
select is(
  (select jsonb_array_length(app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 30, 'trip_id', (select id from t where k = 'kf'))) -> 'trips')),
  1, 'switch off: a trip_id claim still takes a booking trip with an open attempt (due or not)');
select is((select app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 30, 'trip_id', (select id from t where k = 'kw'))) -> 'trips'),
  '[]'::jsonb, 'switch off: a trip_id claim never takes a watching trip');
select is((select app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 30, 'trip_id', (select id from t where k = 'kn'))) -> 'trips'),
  '[]'::jsonb, 'switch off: nor a booking trip without an open attempt');

create temp table v0 as select id, version from public.trip_requests where id in (select id from t);
grant select on v0 to public;
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'kw'))),
  '{"started": false, "reason": "monitor_disabled"}'::jsonb, 'switch off: begin refuses with monitor_disabled');
select is((select status || ' ' || (version = (select version from v0 where v0.id = tr.id))::text
   from public.trip_requests tr where id = (select id from t where k = 'kw')),
  'watching true', 'monitor_disabled writes nothing to the trip');
select is((select count(*)::int from public.booking_attempts where trip_id = (select id from t where k = 'kw')), 0,
  'and inserts no attempt');
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'lim'))),
  '{"started": false, "reason": "monitor_disabled"}'::jsonb, 'switch off: the attempt limit is not even looked at');
select is((select status from public.trip_requests where id = (select id from t where k = 'lim')), 'watching',
  'so a paused monitor fails no trip');

select set_config('role', 'postgres', true);
update public.pipeline_settings set monitor_enabled = true;
select set_config('role', 'service_role', true);
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'kw'))),
  '{"started": true}'::jsonb, 'switch on again: begin starts');
insert into got values ('on', app.monitor_claim('{"limit": 10, "lease_seconds": 60, "trip_id": null}'));
select is(
  (select array_agg((c #>> '{trip,id}')::uuid order by n) from got, jsonb_array_elements(j -> 'trips') with ordinality as x(c, n)
   where k = 'on' and (c #>> '{trip,id}')::uuid in (select id from t where k in ('ks', 'kn'))),
  array[(select id from t where k = 'ks'), (select id from t where k = 'kn')],
  'switch on: searching trips and booking trips without an attempt are claimed again');

-- 11. At most 3 attempts per trip in 24 hours -----------------------------------------------------------
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'lim2'), 1)),
  '{"started": false, "reason": "trip_changed"}'::jsonb, 'a stale version loses the compare-and-set before the limit is applied');
select is((select status from public.trip_requests where id = (select id from t where k = 'lim2')), 'watching',
  'so a stale runner never fails the trip');

select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'lim'))),
  '{"started": false, "reason": "attempt_limit"}'::jsonb, 'a 4th attempt within 24 hours: attempt_limit');
select is((select jsonb_build_object('status', status, 'next_check_at', next_check_at, 'last_error_code', last_error_code,
     'version', version - (select version from v0 where v0.id = tr.id))
   from public.trip_requests tr where id = (select id from t where k = 'lim')),
  '{"status": "failed", "next_check_at": null, "last_error_code": "too_many_attempts", "version": 1}'::jsonb,
  'in the same transaction the trip is failed with too_many_attempts and no next check');
select is((select count(*)::int from public.booking_attempts where trip_id = (select id from t where k = 'lim')), 3,
  'no attempt is inserted');
select is((select jsonb_build_object('template', template, 'dedupe_key', dedupe_key, 'owner', owner_id, 'status', status)
   from public.notifications where template <> 'price_alert' and trip_id = (select id from t where k = 'lim')),
  jsonb_build_object('template', 'could_not_book', 'dedupe_key', (select id from t where k = 'lim') || '-too_many_attempts',
    'owner', 'aaaaaaaa-0000-4000-8000-00000000000a', 'status', 'pending'),
  'the traveller is told (could_not_book, one dedupe key per trip and reason)');
select is((select jsonb_build_object('decision', decision, 'reason', reason_code, 'attempts', detail -> 'attempts', 'limit', detail -> 'limit')
   from public.pipeline_events where trip_id = (select id from t where k = 'lim') and stage = 'monitor'),
  '{"decision": "fail", "reason": "too_many_attempts", "attempts": 3, "limit": 3}'::jsonb,
  'a monitor event says why (counts only)');
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'lim'))),
  '{"started": false, "reason": "trip_changed"}'::jsonb, 'the failed trip starts nothing afterwards');
select is((select count(*)::int from public.notifications where template <> 'price_alert' and trip_id = (select id from t where k = 'lim')), 1,
  'and is not notified twice');

select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'two'))),
  '{"started": true}'::jsonb, 'a 3rd attempt within 24 hours still starts');
select is(app.monitor_begin_attempt(pg_temp.begin_args((select id from t where k = 'old'))),
  '{"started": true}'::jsonb, 'attempts older than 24 hours do not count');

-- 6. An open attempt pins its trip and the trip's owner -------------------------------------------------
select set_config('role', 'postgres', true);
select throws_ok(format($$ delete from public.trip_requests where id = %L $$, (select id from t where k = 'pin')),
  '55006', format('trip %s has an open booking attempt and cannot be deleted', (select id from t where k = 'pin')),
  'a trip with an open attempt cannot be deleted');
select throws_ok(format($$ delete from public.booking_attempts where id = %L $$, (select id from t where k = 'pin_a')),
  '55006', format('booking attempt %s is open and cannot be deleted', (select id from t where k = 'pin_a')),
  'nor can the open attempt itself');
select throws_ok($$ delete from auth.users where id = 'cccccccc-0000-4000-8000-00000000000c' $$,
  '55006', format('trip %s has an open booking attempt and cannot be deleted', (select id from t where k = 'pin')),
  'nor the trip''s owner (the cascade reaches the trip and fails)');
select is((select count(*)::int from public.booking_attempts where id = (select id from t where k = 'pin_a') and open), 1,
  'the refused deletes changed nothing');

update public.booking_attempts
set state = pg_temp.state(id, trip_id, 2, '{"name": "closed", "end": "fail"}')
where id = (select id from t where k = 'pin_a');
select lives_ok($$ delete from auth.users where id = 'cccccccc-0000-4000-8000-00000000000c' $$,
  'once the attempt is closed, the owner can be deleted');
select is((select count(*)::int from public.booking_attempts where id = (select id from t where k = 'pin_a')), 1,
  'and the closed attempt is kept: the accounting record (migration 20261205000400)');
select ok((select exists (select 1 from public.erased_subjects e where e.id = r.owner_id)
           from public.trip_requests r where r.id = (select id from t where k = 'pin')),
  'its trip now belongs to a tombstone, not to the deleted user');
select lives_ok(format($$ delete from public.booking_attempts where id = %L $$,
    (select a.id from public.booking_attempts a where a.trip_id = (select id from t where k = 'lim') limit 1)),
  'a closed attempt can be deleted');
select lives_ok(format($$ delete from public.trip_requests where id = %L $$, (select id from t where k = 'lim')),
  'a trip whose attempts are all closed can be deleted');

select * from finish();
rollback;
