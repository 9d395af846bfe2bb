-- A user deleted outside the erasure (migration 20261205000400_auth_delete_runs_the_erasure.sql):
-- the booked trip, its closed attempt and booking are kept under a tombstone, the consent kept
-- with its text erased, profiles, notifications, the payment profile and plain watches deleted,
-- and an erasure row left at `stripe` with the customer, which the resume job picks up. A user
-- with nothing to keep is cascaded as before (no erasure row); one with only a consent, only a
-- Stripe customer or only a feature flag entry is erased too; an erasure already waiting is
-- carried on; an open attempt still refuses the delete; another user is untouched.
begin;
select plan(27);

create function pg_temp.day(n int) returns date language sql stable as $$ select current_date + n $$;

create function pg_temp.state(attempt uuid, trip uuid, phase jsonb, intent text) returns jsonb
language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000test',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_AuthDeleteA', 'payment_method', 'pm_test', 'seed', 7, 'version', 1, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'), 'passenger_ids', '[]'::jsonb,
    'payment_intent', intent, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', now(), 'updated_at', now())
$$;

-- A trip of `owner` with a selected offer and an attempt in `phase` (open or closed).
create function pg_temp.trip_with_attempt(owner uuid, dest text, phase text, is_open boolean) returns uuid
language plpgsql as $$
declare
  v_trip uuid;
  v_att uuid := gen_random_uuid();
  o uuid;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (owner, 'LHR', dest, pg_temp.day(60), 1, 'economy', 42000, 'GBP') returning id into v_trip;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (v_trip, 'duffel', 'off_0000test', 39900, 'GBP', 'economy', 0, 490, pg_temp.day(60) + time '09:00',
    pg_temp.day(60) + time '12:10', '{ZZ}', now() + interval '30 minutes')
  returning id into o;
  update public.trip_requests set status = 'watching', selected_offer_id = o where id = v_trip;
  update public.trip_requests set status = 'booking' where id = v_trip;
  insert into public.booking_attempts (id, trip_id, state, version, open, phase)
  values (v_att, v_trip, pg_temp.state(v_att, v_trip,
    case when is_open then jsonb_build_object('name', phase)
         else jsonb_build_object('name', 'closed', 'end', 'booked') end, 'pi_AuthDelete'), 1, is_open, phase);
  if not is_open then
    insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency)
    values (v_trip, v_att, 'ord_0000ad' || left(md5(v_trip::text), 8), 'K9W6AD', 41240, 'GBP');
    update public.trip_requests set status = 'booked' where id = v_trip;
  end if;
  return v_trip;
end
$$;

insert into auth.users (id, email) values
  ('a2500000-0000-4000-8000-00000000000a', 'booked-then-deleted@example.test'),
  ('b2500000-0000-4000-8000-00000000000b', 'bystander@example.test'),
  ('c2500000-0000-4000-8000-00000000000c', 'nothing-to-keep@example.test'),
  ('d2500000-0000-4000-8000-00000000000d', 'mid-booking@example.test'),
  ('e2500000-0000-4000-8000-00000000000e', 'only-consent@example.test'),
  ('f2500000-0000-4000-8000-00000000000f', 'only-customer@example.test'),
  ('12500000-0000-4000-8000-000000000001', 'only-flag@example.test'),
  ('22500000-0000-4000-8000-000000000002', 'already-waiting@example.test');

create temp table k (name text primary key, id uuid);

do $$
declare
  a constant uuid := 'a2500000-0000-4000-8000-00000000000a';
  b constant uuid := 'b2500000-0000-4000-8000-00000000000b';
  c constant uuid := 'c2500000-0000-4000-8000-00000000000c';
  d constant uuid := 'd2500000-0000-4000-8000-00000000000d';
  v_trip uuid;
begin
  perform app.create_traveler(a, '{"title": "ms", "gender": "f", "given_name": "Dela",
    "family_name": "Tedwright", "born_on": "1980-02-03", "email": "dela@example.test", "phone_number": "+447700900250"}');
  insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
  values (a, 'cus_AuthDeleteA', 'pm_AuthDeleteA');
  insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
  values (a, 'pm_AuthDeleteA', 50000, 'GBP', 'I allow Parker Flight to charge my Visa ending 4242', 'v1');
  insert into k values ('booked', pg_temp.trip_with_attempt(a, 'JFK', 'closed', false));
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (a, 'LHR', 'AMS', pg_temp.day(62), 1, 'economy', 42000, 'GBP') returning id into v_trip;
  update public.trip_requests set status = 'watching' where id = v_trip;
  insert into public.notifications (trip_id, owner_id, template, dedupe_key)
  values (v_trip, a, 'price_alert', v_trip::text || '-price_alert-250');
  insert into k values ('watch', v_trip);

  perform app.create_traveler(b, '{"title": "mr", "gender": "m", "given_name": "Bystan",
    "family_name": "Der", "born_on": "1981-03-04", "email": "bystan@example.test", "phone_number": "+447700900251"}');
  insert into k values ('b_booked', pg_temp.trip_with_attempt(b, 'JFK', 'closed', false));

  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (c, 'LHR', 'JFK', pg_temp.day(60), 1, 'economy', 42000, 'GBP') returning id into v_trip;
  insert into k values ('c_trip', v_trip);

  insert into k values ('d_held', pg_temp.trip_with_attempt(d, 'CDG', 'order', true));
end
$$;

-- 1. The user who booked ------------------------------------------------------------------------
select lives_ok($$ delete from auth.users where id = 'a2500000-0000-4000-8000-00000000000a' $$,
  'a user who booked can be deleted outside the erasure');
select is((select count(*)::int from auth.users where id = 'a2500000-0000-4000-8000-00000000000a'), 0,
  'the auth user is gone');
select is((select count(*)::int from public.bookings b where b.trip_id = (select id from k where name = 'booked')), 1,
  'the booking is kept (accounting record)');
select is((select count(*)::int from public.booking_attempts a where a.trip_id = (select id from k where name = 'booked')), 1,
  'the closed attempt is kept');
select ok((select exists (select 1 from public.erased_subjects e where e.id = t.owner_id) and not t.auto_book
           from public.trip_requests t where t.id = (select id from k where name = 'booked')),
  'the booked trip belongs to a tombstone, auto-book off');
select is((select count(*)::int from public.trip_requests t where t.id = (select id from k where name = 'watch')), 0,
  'a trip without attempts is deleted');
select is((select count(*)::int from public.trip_requests t where t.owner_id = 'a2500000-0000-4000-8000-00000000000a'), 0,
  'no trip names the deleted user');
select is((select count(*)::int from public.travelers t where t.owner_id = 'a2500000-0000-4000-8000-00000000000a'), 0,
  'traveller profiles deleted');
select is((select count(*)::int from public.notifications n where n.owner_id = 'a2500000-0000-4000-8000-00000000000a'), 0,
  'notifications deleted');
select is((select count(*)::int from public.payment_profiles p where p.owner_id = 'a2500000-0000-4000-8000-00000000000a'), 0,
  'payment profile deleted');
select is((select c.text || ' ' || c.revoked_reason from public.consents c
           where c.payment_method_id = 'pm_AuthDeleteA'), '[erased] erased',
  'the consent is kept as evidence, its text erased and revoked');
select is((select c.owner_id from public.consents c where c.payment_method_id = 'pm_AuthDeleteA'),
          (select t.owner_id from public.trip_requests t where t.id = (select id from k where name = 'booked')),
  'consent and kept trip share the tombstone');

create temp table e as
select * from public.erasure_requests r where r.subject_hash = app.erasure_subject_hash('a2500000-0000-4000-8000-00000000000a');
select is((select step || ' ' || requested_via || ' ' || stripe_customer_id from e), 'stripe operator cus_AuthDeleteA',
  'an erasure row waits at step stripe with the customer to delete');
select is((select (counts ->> 'deleted_outside_erasure')::int + (counts ->> 'trips_kept')::int
                  + (counts ->> 'trips_deleted')::int from e), 3,
  'its counts: deleted outside the erasure, one trip kept, one deleted');
grant all on e to public;
alter table public.erasure_requests disable trigger erasure_requests_touch_updated_at;
update public.erasure_requests r set updated_at = now() - interval '6 minutes' where r.id = (select id from e);
alter table public.erasure_requests enable trigger erasure_requests_touch_updated_at;
select ok('a2500000-0000-4000-8000-00000000000a'::uuid in (select app.erasure_resume_due(100)),
  'the resume job picks it up (it deletes the Stripe customer and the Redis keys)');
select set_config('role', 'service_role', true);
select is(app.erasure_open('{"user_id": "a2500000-0000-4000-8000-00000000000a"}') -> 'erasure' ->> 'step', 'stripe',
  'privacy-operator finds it by the subject hash although the auth user is gone');
select is(app.erasure_advance(jsonb_build_object('erasure_id', (select id from e), 'step', 'stripe'))
            -> 'erasure' ->> 'step', 'redis', 'the stripe step recorded');
select is(app.erasure_advance(jsonb_build_object('erasure_id', (select id from e), 'step', 'redis'))
            -> 'erasure' ->> 'step', 'done', 'and the erasure closes with the user already gone');
select set_config('role', 'postgres', true);

-- 2. The bystander is untouched -----------------------------------------------------------------
select is((select count(*)::int from public.trip_requests t
           where t.owner_id = 'b2500000-0000-4000-8000-00000000000b'), 1, 'another user keeps their trip');

-- 3. Nothing to keep: the cascade as before -----------------------------------------------------
delete from auth.users where id = 'c2500000-0000-4000-8000-00000000000c';
select is((select count(*)::int from public.trip_requests t where t.id = (select id from k where name = 'c_trip')), 0,
  'a user with nothing to keep loses their trips to the cascade');
select is((select count(*)::int from public.erasure_requests r
           where r.subject_hash = app.erasure_subject_hash('c2500000-0000-4000-8000-00000000000c')), 0,
  'and no erasure row is opened for them');

-- 4. Something to clean, nothing to keep: erased, not cascaded ---------------------------------
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('e2500000-0000-4000-8000-00000000000e', 'pm_OnlyConsent', 50000, 'GBP', 'I allow Parker Flight to charge my card', 'v1');
delete from auth.users where id = 'e2500000-0000-4000-8000-00000000000e';
select is((select c.text from public.consents c where c.payment_method_id = 'pm_OnlyConsent'), '[erased]',
  'a user with only a consent: it is kept as evidence, its text erased');

insert into public.payment_profiles (owner_id, stripe_customer_id)
values ('f2500000-0000-4000-8000-00000000000f', 'cus_OnlyCustomer');
delete from auth.users where id = 'f2500000-0000-4000-8000-00000000000f';
select is((select step || ' ' || stripe_customer_id from public.erasure_requests
           where subject_hash = app.erasure_subject_hash('f2500000-0000-4000-8000-00000000000f')),
  'stripe cus_OnlyCustomer', 'a user with only a Stripe customer: it is queued for deletion');

update public.feature_flags set deny_users = array['12500000-0000-4000-8000-000000000001'::uuid]
where name = (select name from public.feature_flags order by name limit 1);
delete from auth.users where id = '12500000-0000-4000-8000-000000000001';
select is((select count(*)::int from public.feature_flags
           where '12500000-0000-4000-8000-000000000001'::uuid = any (deny_users)), 0,
  'a user only on a flag''s list: the list no longer names them');
select is((select count(*)::int from public.feature_flag_audit
           where after::text like '%12500000-0000-4000-8000-000000000001%'
              or before::text like '%12500000-0000-4000-8000-000000000001%'), 0,
  'nor does the flag audit');

-- An erasure the user asked for, waiting on an attempt that has since closed.
select pg_temp.trip_with_attempt('22500000-0000-4000-8000-000000000002', 'FRA', 'closed', false);
insert into public.erasure_requests (subject_hash, requested_via, user_id, tombstone_id)
values (app.erasure_subject_hash('22500000-0000-4000-8000-000000000002'), 'user',
  '22500000-0000-4000-8000-000000000002', gen_random_uuid());
delete from auth.users where id = '22500000-0000-4000-8000-000000000002';
select is((select requested_via || ' ' || step || ' ' || (counts ->> 'deleted_outside_erasure') || ' ' || (counts ->> 'trips_kept')
           from public.erasure_requests
           where subject_hash = app.erasure_subject_hash('22500000-0000-4000-8000-000000000002')),
  'user redis 1 1', 'an erasure already waiting is carried on by the delete (one row, its trip kept)');

-- 5. An open attempt still refuses ------------------------------------------------------------
select throws_ok($$ delete from auth.users where id = 'd2500000-0000-4000-8000-00000000000d' $$,
  '55006', format('trip %s has an open booking attempt and cannot be deleted', (select id from k where name = 'd_held')),
  'a user with an open attempt (money may be held) cannot be deleted');

select * from finish();
rollback;
