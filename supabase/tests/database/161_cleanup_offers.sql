-- Issue 8 item 2 (migration 20261203000402_cleanup_jobs.sql): app.cleanup_offers (expired or
-- superseded offers) and app.cleanup_finished_trip_offers (offers of trips finished N days ago):
-- rows past retention gone, the selected offer, offers a booking attempt names, offers of a trip
-- that is booking and recent rows kept, batches bounded, counts logged, a second run deletes
-- nothing. Every date derives from now().
begin;
select plan(20);

insert into auth.users (id, email) values ('16116116-0000-4000-8000-000000000001', 'user-161@example.test');

create temp table k (name text primary key, id uuid);
grant all on k to public;

-- A trip in `status`, last changed `age` ago.
create function pg_temp.trip(name text, status text, age interval)
returns uuid
language plpgsql
as $$
declare
  t uuid;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, status, updated_at, next_check_at)
  values ('16116116-0000-4000-8000-000000000001', 'LHR', 'JFK', current_date + 60, 1, 'economy', 42000, 'GBP',
    'searching', now() - age, null)
  returning id into t;
  insert into k values (name, t);
  return t;
end
$$;

-- An offer of `trip` stored `age` ago, expiring at now() + `expires_in`.
create function pg_temp.offer(trip text, poid text, age interval, expires_in interval default '30 minutes', raw jsonb default '{"id": "x"}')
returns uuid
language plpgsql
as $$
declare
  o uuid;
  d date := current_date + 60;
begin
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at, raw, created_at, updated_at)
  values ((select id from k where name = trip), 'duffel', poid, 40000, 'GBP', 'economy', 0, 490,
    d + time '09:00', d + time '12:10', '{ZZ}', now() + expires_in, raw, now() - age, now() - age)
  returning id into o;
  insert into k values (poid, o);
  return o;
end
$$;

create function pg_temp.point(trip text, age interval)
returns void
language sql
as $$
  insert into public.price_history (trip_id, observed_at, decision, offers_seen, best_total_minor, currency)
  values ((select id from k where name = trip), now() - age, 'no_acceptable_offer', 3, 40000, 'GBP')
$$;

-- A closed booking attempt of `trip` that names offer `poid`.
create function pg_temp.attempt(trip text, poid text, open boolean default false)
returns void
language plpgsql
as $$
declare
  a uuid := gen_random_uuid();
  t uuid := (select id from k where name = trip);
begin
  insert into public.booking_attempts (id, trip_id, state, version, open, phase)
  values (a, t, jsonb_build_object(
    'schema_version', 1, 'attempt_id', a, 'trip_id', t, 'offer_id', poid,
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', 1,
    'phase', case when open then '{"name": "reprice"}'::jsonb else '{"name": "closed", "end": "search_again"}'::jsonb end,
    'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
    'payment_intent', null, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', now(), 'updated_at', now()),
    1, open, case when open then 'reprice' else 'closed' end);
end
$$;

-- A watching trip: searches 2 hours ago (old_*) and 1 hour ago (new_*), the latest point 1 hour ago.
select pg_temp.trip('w', 'searching', '3 hours');
select pg_temp.offer('w', 'old_plain', '2 hours');
select pg_temp.offer('w', 'old_named', '2 hours');
select pg_temp.offer('w', 'old_selected', '2 hours');
select pg_temp.offer('w', 'new_current', '1 hour');
select pg_temp.offer('w', 'new_expired', '1 hour', '-1 minute');
select pg_temp.offer('w', 'new_expired_named', '1 hour', '-1 minute');
select pg_temp.point('w', '2 hours');
select pg_temp.point('w', '1 hour');
update public.trip_requests set status = 'watching', selected_offer_id = (select id from k where name = 'old_selected')
where id = (select id from k where name = 'w');
select pg_temp.attempt('w', 'old_named');
select pg_temp.attempt('w', 'new_expired_named');

-- A trip that is booking: its stale offers wait.
select pg_temp.trip('b', 'searching', '3 hours');
select pg_temp.offer('b', 'b_selected', '2 hours');
select pg_temp.offer('b', 'b_stale', '2 hours', '-1 minute');
select pg_temp.point('b', '1 hour');
update public.trip_requests set status = 'watching', selected_offer_id = (select id from k where name = 'b_selected')
where id = (select id from k where name = 'b');
select pg_temp.attempt('b', 'b_selected', true);
update public.trip_requests set status = 'booking' where id = (select id from k where name = 'b');

-- A trip never searched since its offers were stored (no newer point), offers not expired.
select pg_temp.trip('n', 'searching', '3 hours');
select pg_temp.offer('n', 'n_fresh', '2 hours');

-- cleanup_offers ------------------------------------------------------------------------------
select is(app.cleanup_offers(1, true) -> 'counts', '{"offers_deleted": 1}'::jsonb,
  'a run bounded to 1 row deletes 1 ...');
select is((select more from public.cleanup_runs where job = 'offers' and started_at >= now() order by id desc limit 1), true,
  '... and logs that more may remain');
select is(app.cleanup_offers() -> 'counts', '{"offers_deleted": 1}'::jsonb, 'the next run deletes the rest');
select set_eq(
  $$ select provider_offer_id from public.flight_offers where trip_id in (select id from k where name in ('w', 'b', 'n')) $$,
  array['old_named', 'old_selected', 'new_current', 'new_expired_named', 'b_selected', 'b_stale', 'n_fresh'],
  'superseded and expired offers are gone; selected, attempt-named, current, booking-trip and unsuperseded ones stay');
select is(app.cleanup_offers() -> 'counts', '{"offers_deleted": 0}'::jsonb, 'a second run deletes nothing');
select results_eq(
  $$ select counts, more from public.cleanup_runs where job = 'offers' and started_at >= now() order by id $$,
  $$ values ('{"offers_deleted": 1}'::jsonb, true), ('{"offers_deleted": 1}', false), ('{"offers_deleted": 0}', false) $$,
  'every run logs its counts');
select is(app.cleanup_offers(null, false) -> 'counts', '{"offers_deleted": 0}'::jsonb, 'a run with log = false ...');
select is((select count(*)::int from public.cleanup_runs where job = 'offers' and started_at >= now()), 3, '... writes no run row');

-- A bounded run over a backlog deletes in batches and stops at its budget.
select pg_temp.trip('big', 'searching', '3 hours');
select pg_temp.offer('big', 'big_' || n, '2 hours', '-1 minute') from generate_series(1, 25) n;
update public.pipeline_settings set cleanup_batch_size = 4, cleanup_max_batches = 5;
select is(app.cleanup_offers() -> 'counts', '{"offers_deleted": 20}'::jsonb,
  'without max_rows a run deletes at most batch size x max batches (4 x 5)');
select is(app.cleanup_offers() -> 'counts', '{"offers_deleted": 5}'::jsonb, 'the next run takes the rest');
update public.pipeline_settings set cleanup_batch_size = 500, cleanup_max_batches = 20;

-- cleanup_finished_trip_offers -----------------------------------------------------------------
select pg_temp.trip('old_cancel', 'searching', '40 days');
select pg_temp.offer('old_cancel', 'oc_selected', '40 days', '1 day');
select pg_temp.offer('old_cancel', 'oc_alt', '40 days', '1 day');
select pg_temp.offer('old_cancel', 'oc_named', '40 days', '1 day');
update public.trip_requests set status = 'watching', selected_offer_id = (select id from k where name = 'oc_selected')
where id = (select id from k where name = 'old_cancel');
select pg_temp.attempt('old_cancel', 'oc_named');
update public.trip_requests set status = 'cancelled' where id = (select id from k where name = 'old_cancel');
select pg_temp.trip('new_cancel', 'searching', '1 day');
select pg_temp.offer('new_cancel', 'nc_alt', '10 days', '1 day');
update public.trip_requests set status = 'cancelled' where id = (select id from k where name = 'new_cancel');

-- The trip guard sets updated_at on every update; age it with the triggers off.
set local session_replication_role = replica;
update public.trip_requests set updated_at = now() - interval '40 days' where id = (select id from k where name = 'old_cancel');
update public.trip_requests set updated_at = now() - interval '1 day' where id = (select id from k where name = 'new_cancel');
set local session_replication_role = origin;


select pg_temp.trip('old_watch', 'searching', '40 days');
select pg_temp.offer('old_watch', 'ow_alt', '40 days', '1 day');

select is((select updated_at < now() - interval '39 days' from public.trip_requests where id = (select id from k where name = 'old_cancel')),
  true, 'the cancelled trip finished 40 days ago');
select is(app.cleanup_finished_trip_offers() -> 'counts', '{"offers_deleted": 1, "raw_cleared": 2}'::jsonb,
  'a finished trip past finished_trip_offers_days loses its other offers, its kept ones their raw');
select set_eq(
  $$ select provider_offer_id from public.flight_offers where trip_id in (select id from k where name in ('old_cancel', 'new_cancel', 'old_watch')) $$,
  array['oc_selected', 'oc_named', 'nc_alt', 'ow_alt'],
  'kept: the selected offer and the attempt''s, offers of a recently finished trip and of a trip still open');
select is((select count(*)::int from public.flight_offers where trip_id = (select id from k where name = 'old_cancel') and raw is not null),
  0, 'the kept offers of the old trip have no raw body');
select is((select count(*)::int from public.flight_offers where provider_offer_id in ('nc_alt', 'ow_alt') and raw is not null),
  2, 'the others keep theirs');
select is(app.cleanup_finished_trip_offers() -> 'counts', '{"offers_deleted": 0, "raw_cleared": 0}'::jsonb,
  'a second run changes nothing');
update public.pipeline_settings set finished_trip_offers_days = 0;
select is(app.cleanup_finished_trip_offers() -> 'counts', '{"offers_deleted": 1, "raw_cleared": 0}'::jsonb,
  'finished_trip_offers_days = 0: the recently finished trip''s offers go too');
select is((select selected_offer_id from public.trip_requests where id = (select id from k where name = 'old_cancel')),
  (select id from k where name = 'oc_selected'), 'the finished trip still points at its selected offer');

-- Grants: service only.
select ok(has_function_privilege('service_role', 'app.cleanup_offers(integer, boolean)', 'execute'),
  'service_role may run the jobs');
select ok(not has_function_privilege('authenticated', 'app.cleanup_offers(integer, boolean)', 'execute')
  and not has_function_privilege('anon', 'app.cleanup_finished_trip_offers(integer, boolean)', 'execute'),
  'users may not');

select * from finish();
rollback;
