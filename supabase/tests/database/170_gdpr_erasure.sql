-- GDPR erasure (issue 8 item 3; migration 20261203000500_gdpr_erasure.sql): the erasure waits
-- while an attempt may hold money and never touches it; a crash between steps resumes; the
-- scrub deletes profiles, notifications and the payment profile, erases consents' text and keeps
-- trips with attempts (bookings, attempts) under a tombstone; auth.users goes last; a second
-- request is idempotent; the audit row holds no personal data; another user is untouched.
begin;
select plan(47);

create function pg_temp.day(n int) returns date language sql stable as $$ select current_date + n $$;

create function pg_temp.act_as(uid uuid) returns void language plpgsql as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object('sub', uid, 'role', 'authenticated',
    'aud', 'authenticated')::text, true);
end
$$;
create function pg_temp.act_as_service() returns void language plpgsql as $$
begin
  perform set_config('role', 'service_role', true);
  perform set_config('request.jwt.claims', '{"role":"service_role"}', true);
end
$$;
create function pg_temp.act_as_postgres() returns void language plpgsql as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, intent text) returns jsonb
language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000test',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_ErasureA', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'), 'passenger_ids', '[]'::jsonb,
    'payment_intent', intent, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', now(), 'updated_at', now())
$$;

create function pg_temp.with_offer(t uuid) returns void language plpgsql as $$
declare
  o uuid;
begin
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_0000test', 39900, 'GBP', 'economy', 0, 490, pg_temp.day(100) + time '09:00',
    pg_temp.day(100) + time '12:10', '{ZZ}', now() + interval '30 minutes')
  returning id into o;
  update public.trip_requests set status = 'watching', selected_offer_id = o where id = t;
end
$$;

insert into auth.users (id, email) values
  ('a1700000-0000-4000-8000-00000000000a', 'erase-me@example.test'),
  ('b1700000-0000-4000-8000-00000000000b', 'keep-me@example.test');

create temp table k (name text primary key, id uuid);
grant all on k to public;

-- User A: a profile, a card and consent, a booked trip (closed attempt + booking), a trip with an
-- OPEN attempt holding an authorization, a plain watch with a queued notification.
-- User B: a profile and a watch.
do $$
declare
  a constant uuid := 'a1700000-0000-4000-8000-00000000000a';
  b constant uuid := 'b1700000-0000-4000-8000-00000000000b';
  v_trip uuid;
  v_att uuid;
begin
  insert into k values ('trav_a', app.create_traveler(a, '{"title": "ms", "gender": "f", "given_name": "Erasa",
    "family_name": "Gonewright", "born_on": "1980-02-03", "email": "erasa@example.test", "phone_number": "+447700900170"}'));
  insert into k values ('trav_b', app.create_traveler(b, '{"title": "mr", "gender": "m", "given_name": "Keeper",
    "family_name": "Stays", "born_on": "1981-03-04", "email": "keeper@example.test", "phone_number": "+447700900171"}'));
  insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
  values (a, 'cus_ErasureA', 'pm_ErasureA');
  insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
  values (a, 'pm_ErasureA', 50000, 'GBP', 'I allow Parker Flight to charge my Visa ending 4242', 'v1');

  -- booked
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (a, 'LHR', 'JFK', pg_temp.day(60), 1, 'economy', 42000, 'GBP') returning id into v_trip;
  perform pg_temp.with_offer(v_trip);
  update public.trip_requests set status = 'booking' where id = v_trip;
  v_att := gen_random_uuid();
  insert into public.booking_attempts (id, trip_id, state, version, open, phase)
  values (v_att, v_trip, pg_temp.state(v_att, v_trip, 1, '{"name": "closed", "end": "booked"}', 'pi_ErasureBooked'), 1, false, 'closed');
  insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency)
  values (v_trip, v_att, 'ord_0000erasure', 'K9W6RR', 41240, 'GBP');
  update public.trip_requests set status = 'booked' where id = v_trip;
  insert into k values ('booked', v_trip), ('booked_a', v_att);

  -- an attempt in flight: authorized, not captured
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency, auto_book)
  values (a, 'LHR', 'CDG', pg_temp.day(61), 1, 'economy', 42000, 'GBP', false) returning id into v_trip;
  perform pg_temp.with_offer(v_trip);
  update public.trip_requests set status = 'booking' where id = v_trip;
  v_att := gen_random_uuid();
  insert into public.booking_attempts (id, trip_id, state, version, open, phase)
  values (v_att, v_trip, pg_temp.state(v_att, v_trip, 1, '{"name": "order"}', 'pi_ErasureHeld'), 1, true, 'order');
  insert into k values ('held', v_trip), ('held_a', v_att);

  -- a plain watch
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (a, 'LHR', 'AMS', pg_temp.day(62), 1, 'economy', 42000, 'GBP') returning id into v_trip;
  update public.trip_requests set status = 'watching' where id = v_trip;
  insert into public.notifications (trip_id, owner_id, template, dedupe_key)
  values (v_trip, a, 'price_alert', v_trip::text || '-price_alert-1');
  insert into k values ('watch', v_trip);

  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (b, 'LHR', 'JFK', pg_temp.day(60), 1, 'economy', 42000, 'GBP') returning id into v_trip;
  insert into k values ('b_trip', v_trip);
end
$$;

update public.feature_flags set allow_users = array['a1700000-0000-4000-8000-00000000000a'::uuid]
where name = (select name from public.feature_flags order by name limit 1);
insert into public.feature_flag_audit (flag, changed_by, reason, before, after)
select name, 'pgtap', 'allow a tester', '{"allow_users": []}', '{"allow_users": ["a1700000-0000-4000-8000-00000000000a"]}'
from public.feature_flags order by name limit 1;

-- Grants ---------------------------------------------------------------------------------------
select ok((select bool_and(c.relrowsecurity) from pg_class c
           where c.oid in ('public.erasure_requests'::regclass, 'public.erased_subjects'::regclass)),
  'RLS on erasure_requests and erased_subjects');
select table_privs_are('public', 'erasure_requests', 'authenticated', array[]::text[], 'authenticated: nothing on erasure_requests');
select function_privs_are('app', 'erasure_advance', array['jsonb'], 'authenticated', array[]::text[],
  'authenticated cannot advance an erasure');
select function_privs_are('app', 'erasure_open', array['jsonb'], 'authenticated', array[]::text[],
  'authenticated cannot open another user''s erasure');

-- 1. Start: watches cancelled, the attempt in flight makes it wait ------------------------------
select pg_temp.act_as_service();
select throws_ok($$ select app.privacy_erase('{}') $$, '28000', null, 'privacy_erase needs a caller');
select pg_temp.act_as('a1700000-0000-4000-8000-00000000000a');
create temp table s1 as select app.privacy_erase('{}') -> 'erasure' as st;
grant all on s1 to public;
select is((select st ->> 'step' from s1), 'waiting', 'an open attempt: the erasure waits');
select is((select (st ->> 'retry_after_seconds')::int from s1), 60, 'with a retry-after');
select pg_temp.act_as_postgres();
select is((select status from public.trip_requests where id = (select id from k where name = 'watch')), 'cancelled',
  'the plain watch is cancelled');
select isnt((select cancel_requested_at from public.trip_requests where id = (select id from k where name = 'held')), null,
  'the trip in flight has its cancel recorded');
select is((select status from public.trip_requests where id = (select id from k where name = 'held')), 'booking',
  'and keeps booking: the erasure does not stop the saga');
select is((select phase || ' ' || open::text || ' ' || version::text from public.booking_attempts
           where id = (select id from k where name = 'held_a')), 'order true 1',
  'the attempt holding money is untouched (neither released nor orphaned)');
select is((select count(*)::int from public.travelers where owner_id = 'a1700000-0000-4000-8000-00000000000a'), 1,
  'nothing is deleted while waiting');
select throws_ok($$ insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('a1700000-0000-4000-8000-00000000000a', 'LHR', 'JFK', current_date + 50, 1, 'economy', 42000, 'GBP') $$,
  'PF010', 'this account is being erased', 'no new trips while the erasure runs');

select pg_temp.act_as_service();
select is(app.erasure_advance(jsonb_build_object('erasure_id', (select st ->> 'erasure_id' from s1), 'step', 'scrub'))
  #>> '{erasure,step}', 'waiting', 'a step that is not the current one changes nothing');
select pg_temp.act_as('a1700000-0000-4000-8000-00000000000a');
select is(app.privacy_erase('{}') #>> '{erasure,erasure_id}', (select st ->> 'erasure_id' from s1),
  'asking again finds the same erasure');
select pg_temp.act_as_postgres();
select is((select count(*)::int from public.erasure_requests
           where subject_hash = encode(extensions.digest('a1700000-0000-4000-8000-00000000000a', 'sha256'), 'hex')), 1,
  'one erasure row for the user');

-- 2. The saga closes the attempt (released), the pending cancel takes effect --------------------
update public.booking_attempts
set state = pg_temp.state(id, trip_id, 2, '{"name": "closed", "end": "fail"}', 'pi_ErasureHeld')
where id = (select id from k where name = 'held_a');
update public.trip_requests set status = 'watching' where id = (select id from k where name = 'held');
select is((select status from public.trip_requests where id = (select id from k where name = 'held')), 'cancelled',
  'the pending cancel took effect when the attempt ended');

select pg_temp.act_as('a1700000-0000-4000-8000-00000000000a');
select is(app.privacy_erase('{}') #>> '{erasure,step}', 'scrub', 'no attempt open: the erasure moves on to scrub');
-- (a crash here: the next request resumes at scrub)
select pg_temp.act_as('a1700000-0000-4000-8000-00000000000a');
select is(app.privacy_erase('{}') #>> '{erasure,step}', 'scrub', 'resumed at scrub');

-- 3. Scrub --------------------------------------------------------------------------------------
select pg_temp.act_as_service();
create temp table s2 as
  select app.erasure_advance(jsonb_build_object('erasure_id', (select st ->> 'erasure_id' from s1), 'step', 'scrub')) -> 'erasure' as st;
select is((select st ->> 'step' from s2), 'stripe', 'scrub done: next the Stripe customer');
select is((select st ->> 'stripe_customer' from s2), 'cus_ErasureA', 'the customer to delete was persisted at the start');
select pg_temp.act_as_postgres();
select is((select count(*)::int from public.travelers where owner_id = 'a1700000-0000-4000-8000-00000000000a'), 0,
  'profiles deleted');
select is((select count(*)::int from public.notifications where owner_id = 'a1700000-0000-4000-8000-00000000000a'), 0,
  'notifications deleted');
select is((select count(*)::int from public.payment_profiles where owner_id = 'a1700000-0000-4000-8000-00000000000a'), 0,
  'payment profile deleted');
select is((select count(*)::int from public.trip_requests where owner_id = 'a1700000-0000-4000-8000-00000000000a'), 0,
  'no trip is linked to the user any more');
select is((select count(*)::int from public.trip_requests where id = (select id from k where name = 'watch')), 0,
  'the watch without attempts is deleted');
select ok((select owner_id <> 'a1700000-0000-4000-8000-00000000000a'
             and owner_id in (select id from public.erased_subjects)
           from public.trip_requests where id = (select id from k where name = 'booked')),
  'the booked trip is kept under a tombstone');
select is((select count(distinct owner_id)::int from public.trip_requests
           where id in (select id from k where name in ('booked', 'held'))), 1, 'one tombstone for both kept trips');
select is((select count(*)::int from public.bookings where attempt_id = (select id from k where name = 'booked_a')), 1,
  'the booking is kept');
select is((select count(*)::int from public.booking_attempts where id in (select id from k where name in ('booked_a', 'held_a'))), 2,
  'both attempts (payment records) are kept');
select is((select text || ' ' || revoked_reason from public.consents where payment_method_id = 'pm_ErasureA'),
  '[erased] erased', 'the consent is kept as evidence, its text erased, revoked');
select ok((select owner_id in (select id from public.erased_subjects) from public.consents where payment_method_id = 'pm_ErasureA'),
  'and its owner is the tombstone');

select ok(not exists (select 1 from public.feature_flags
               where 'a1700000-0000-4000-8000-00000000000a'::uuid = any (allow_users || deny_users)),
  'the user is off every feature-flag list');
select ok(not exists (select 1 from public.feature_flag_audit
               where (before::text || after::text) like '%a1700000-0000-4000-8000-00000000000a%'),
  'and the flags'' audit names the tombstone instead');

select pg_temp.act_as_service();
select is(app.erasure_advance(jsonb_build_object('erasure_id', (select st ->> 'erasure_id' from s1), 'step', 'scrub'))
  #>> '{erasure,step}', 'stripe', 'scrub again (a retried call) changes nothing');

-- 4. Stripe, Redis (done by the driver), then auth.users ------------------------------------------
select is(app.erasure_advance(jsonb_build_object('erasure_id', (select st ->> 'erasure_id' from s1), 'step', 'stripe'))
  #>> '{erasure,step}', 'redis', 'stripe done: next the Redis keys');
create temp table s3 as
  select app.erasure_advance(jsonb_build_object('erasure_id', (select st ->> 'erasure_id' from s1), 'step', 'redis')) -> 'erasure' as st;
select is((select st ->> 'step' from s3), 'done', 'redis done: the erasure is done');
select pg_temp.act_as_postgres();
select is((select count(*)::int from auth.users where id = 'a1700000-0000-4000-8000-00000000000a'), 0,
  'auth.users row deleted last');
select ok((select user_id is null and tombstone_id is null and stripe_customer_id is null and trip_ids is null
             and completed_at is not null from public.erasure_requests where id = (select (st ->> 'erasure_id')::uuid from s1)),
  'the audit row keeps no link to the person');
select ok((select position('erase-me' in to_jsonb(r)::text) = 0
             and position('a1700000-0000-4000-8000-00000000000a' in to_jsonb(r)::text) = 0
           from public.erasure_requests r where id = (select (st ->> 'erasure_id')::uuid from s1)),
  'no email or user id in the audit row');
select is((select (counts ->> 'trips_kept')::int || '/' || (counts ->> 'trips_deleted')::int from public.erasure_requests
           where id = (select (st ->> 'erasure_id')::uuid from s1)),
  '2/1', 'the audit row counts what was kept and deleted');

select pg_temp.act_as('a1700000-0000-4000-8000-00000000000a');
select is(app.privacy_erase('{}') #>> '{erasure,step}', 'done', 'a second request after the end answers done');

-- 5. Another user untouched; kept trips stay quiet ----------------------------------------------
select pg_temp.act_as_postgres();
select is((select count(*)::int from public.travelers where id = (select id from k where name = 'trav_b')), 1,
  'another user''s profile is untouched');
insert into public.notifications (trip_id, owner_id, template, dedupe_key)
select id, owner_id, 'schedule_changed', id::text || '-schedule' from public.trip_requests where id = (select id from k where name = 'booked');
select is((select count(*)::int from public.notifications where trip_id = (select id from k where name = 'booked')), 0,
  'a notification for an erased owner is dropped, not failed');
select throws_ok($$ insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (gen_random_uuid(), 'LHR', 'JFK', current_date + 50, 1, 'economy', 42000, 'GBP') $$,
  '23503', null, 'an owner that is neither a user nor a tombstone is refused like a foreign key');
delete from auth.users where id = 'b1700000-0000-4000-8000-00000000000b';
select is((select count(*)::int from public.trip_requests where id = (select id from k where name = 'b_trip')), 0,
  'deleting a user outside the erasure still cascades to their trips');

select pg_temp.act_as_service();
select throws_ok($$ select app.erasure_open('{"user_id": "c1700000-0000-4000-8000-00000000000c"}') $$,
  'P0002', 'no such user', 'the operator path: an unknown user is P0002');

select * from finish();
rollback;
