-- The traveller's own profiles and watches (issue 7 items 1 and 4;
-- 20261202000100_travelers_and_trips_api.sql): user B can neither read nor change user A's
-- travellers or trips; profiles are stored encrypted and decrypted only for their owner; a
-- profile on a trip with an open attempt cannot be deleted; a pause or cancel that commits before
-- app.monitor_begin_attempt makes it start nothing; a cancel meeting an attempt in flight waits for
-- its end. Dates derive from now().
begin;
select plan(32);

insert into auth.users (id, email) values
  ('a1a1a1a1-0000-4000-8000-0000000000a1', 'travel-a@example.test'),
  ('b2b2b2b2-0000-4000-8000-0000000000b2', 'travel-b@example.test');
-- Auto-booking needs a saved default card and a consent (migration 20261202000200).
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('a1a1a1a1-0000-4000-8000-0000000000a1', 'cus_ta1a1a1a100004000800000000000a1', 'pm_card_visa');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('a1a1a1a1-0000-4000-8000-0000000000a1', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');
select vault.create_secret('pgtap-only-traveler-key-0123456789', 'traveler_data_key')
where not exists (select 1 from vault.secrets where name = 'traveler_data_key');

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

create function pg_temp.as_service()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'service_role', true);
  perform set_config('request.jwt.claims', jsonb_build_object('role', 'service_role')::text, true);
end
$$;

create function pg_temp.as_postgres()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

-- An AttemptState (booking_core::saga::AttemptState JSON).
create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000trav',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
    'payment_intent', null, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', now(), 'updated_at', now())
$$;

-- A watching auto-book trip of A with a selected offer.
create function pg_temp.trip(auto_book boolean default true)
returns uuid
language plpgsql
as $$
declare
  t uuid;
  o uuid;
  d date := (now() + interval '40 days')::date;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, child_ages, cabin,
    max_total_minor, currency, auto_book)
  values ('a1a1a1a1-0000-4000-8000-0000000000a1', 'LHR', 'JFK', d, 1, '{7}', 'economy', 42000, 'GBP', auto_book)
  returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_0000trav', 41240, 'GBP', 'economy', 0, 490, d + time '09:15', d + time '12:25',
    '{ZZ}', now() + interval '30 minutes')
  returning id into o;
  update public.trip_requests set status = 'watching', selected_offer_id = o, next_check_at = now() where id = t;
  return t;
end
$$;

create function pg_temp.begin(trip uuid, trip_version bigint)
returns jsonb
language sql
as $$
  select app.monitor_begin_attempt(jsonb_build_object(
    'trip_id', trip, 'trip_version', trip_version,
    'state', pg_temp.state(gen_random_uuid(), trip, 1, '{"name": "reprice"}')))
$$;

create temp table k (name text primary key, id uuid, v bigint);
grant all on k to public;
insert into k (name, id) values ('trip', pg_temp.trip()), ('race', pg_temp.trip()), ('pause', pg_temp.trip()),
  ('flight', pg_temp.trip());

-- Profiles ------------------------------------------------------------------------------------------
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000000a1');
insert into k (name, id)
select 'adult', (app.travelers_create(jsonb_build_object('traveler', jsonb_build_object(
  'title', 'ms', 'gender', 'f', 'given_name', 'Zoë', 'family_name', 'Quimby', 'born_on', '1987-07-24',
  'email', 'zoe.quimby@example.test', 'phone_number', '+442080160509', 'passenger_type', 'adult'))) #>> '{traveler,id}')::uuid;
insert into k (name, id)
select 'child', (app.travelers_create(jsonb_build_object('traveler', jsonb_build_object(
  'title', 'miss', 'gender', 'f', 'given_name', 'Ada', 'family_name', 'Quimby',
  'born_on', to_char(now() - interval '7 years 2 months', 'YYYY-MM-DD'),
  'email', 'zoe.quimby@example.test', 'phone_number', '+442080160509', 'passenger_type', 'child',
  'identity_document', jsonb_build_object('type', 'passport', 'unique_identifier', 'P1234567',
    'issuing_country_code', 'GB', 'expires_on', to_char(now() + interval '3 years', 'YYYY-MM-DD'))))) #>> '{traveler,id}')::uuid;

select is(jsonb_array_length(app.travelers_list('{}') -> 'travelers'), 2, 'A lists her two profiles');
select is((select x ->> 'given_name' from jsonb_array_elements(app.travelers_list('{}') -> 'travelers') x
           where x ->> 'id' = (select id::text from k where name = 'adult')), 'Zoë', 'decrypted for the owner');
select is((select x #>> '{identity_document,unique_identifier}' from jsonb_array_elements(app.travelers_list('{}') -> 'travelers') x
           where x ->> 'id' = (select id::text from k where name = 'child')), 'P1234567', 'the document too');
select throws_ok($$ select pii from public.travelers $$, '42501', null, 'the ciphertext column stays unreadable');
select pg_temp.as_postgres();
select ok((select position('Quimby' in encode(pii, 'escape')) = 0 and get_byte(pii, 0) in (140, 141, 195)
           from public.travelers where id = (select id from k where name = 'adult')), 'stored encrypted');

-- B sees and changes nothing of A's -----------------------------------------------------------------
select pg_temp.act_as('b2b2b2b2-0000-4000-8000-0000000000b2');
select is(app.travelers_list('{}'), '{"travelers": []}'::jsonb, 'B lists no profile of A');
select is(app.travelers_update(jsonb_build_object('traveler_id', (select id from k where name = 'adult'),
  'traveler', jsonb_build_object('title', 'mr', 'gender', 'm', 'given_name', 'Mallory', 'family_name', 'X',
  'born_on', '1980-01-01', 'email', 'm@example.test', 'phone_number', '+15555550100'))),
  '{"traveler": null}'::jsonb, 'B cannot update A''s profile (answered like a missing one)');
select is(app.travelers_delete(jsonb_build_object('traveler_id', (select id from k where name = 'adult'))),
  '{"deleted": false}'::jsonb, 'B cannot delete A''s profile');
select is(app.travelers_attach_check(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'traveler_ids', jsonb_build_array((select id from k where name = 'adult')))) -> 'trip', 'null'::jsonb,
  'B cannot read A''s trip slots or birth dates');
select is(app.travelers_attach(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'travelers', jsonb_build_array(jsonb_build_object('id', (select id from k where name = 'adult'), 'version', 1)))),
  '{"attached": false, "reason": "not_found"}'::jsonb, 'B cannot attach to A''s trip');
select is(app.trips_list('{}'), '{"trips": []}'::jsonb, 'B lists no trip of A');
select is(app.trips_get(jsonb_build_object('trip_id', (select id from k where name = 'trip'))), '{"trip": null}'::jsonb,
  'B cannot read A''s trip');
select is(app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'trip'), 'action', 'cancel')) ->> 'outcome',
  'not_found', 'B cannot cancel A''s trip');
select pg_temp.as_postgres();
select is((select status from public.trip_requests where id = (select id from k where name = 'trip')), 'watching',
  'A''s trip is untouched');
select pg_temp.as_service();
select throws_ok($$ select app.travelers_list('{}') $$, '28000', null, 'service_role has no caller: 28000');
select pg_temp.as_postgres();
select ok(not has_function_privilege('anon', 'app.trips_control(jsonb)', 'execute'), 'anon cannot call trips_control');

-- Attach: a compare-and-set on the profiles' versions ------------------------------------------------
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000000a1');
select is(app.travelers_attach_check(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'traveler_ids', jsonb_build_array((select id from k where name = 'adult'), (select id from k where name = 'child'))))
  #>> '{trip,child_ages}', '[7]', 'the check gives the slots');
select is(app.travelers_attach(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'travelers', jsonb_build_array(jsonb_build_object('id', (select id from k where name = 'adult'), 'version', 9),
    jsonb_build_object('id', (select id from k where name = 'child'), 'version', 1)))),
  '{"attached": false, "reason": "traveler_changed"}'::jsonb, 'a stale profile version attaches nothing');
select is(app.travelers_attach(jsonb_build_object('trip_id', (select id from k where name = 'trip'),
  'travelers', jsonb_build_array(jsonb_build_object('id', (select id from k where name = 'adult'), 'version', 1),
    jsonb_build_object('id', (select id from k where name = 'child'), 'version', 1)))),
  '{"attached": true}'::jsonb, 'attached in passenger order');
select pg_temp.as_service();
select is(jsonb_array_length(app.monitor_passengers(jsonb_build_object('trip_id', (select id from k where name = 'trip'))) -> 'passengers'),
  2, 'the monitor finds the attached travellers');

-- In use by an open attempt: no delete, no change ---------------------------------------------------
select is(pg_temp.begin((select id from k where name = 'trip'),
  (select version from public.trip_requests where id = (select id from k where name = 'trip'))),
  '{"started": true}'::jsonb, 'an attempt begins');
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000000a1');
select throws_ok(format($$ select app.travelers_delete('{"traveler_id": "%s"}') $$, (select id from k where name = 'adult')),
  '55006', null, 'a profile on a trip with an open attempt cannot be deleted');
select throws_ok(format($$ select app.travelers_update(jsonb_build_object('traveler_id', '%s', 'traveler', jsonb_build_object(
  'title', 'ms', 'gender', 'f', 'given_name', 'Zoe', 'family_name', 'Quimby', 'born_on', '1987-07-24',
  'email', 'z@example.test', 'phone_number', '+442080160509'))) $$, (select id from k where name = 'adult')),
  '55006', null, 'nor changed');

-- Cancel racing begin: the cancel commits first (it holds the row lock; begin sees its version) ----
select pg_temp.as_postgres();
update k set v = (select version from public.trip_requests where id = k.id) where name in ('race', 'pause', 'flight');
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000000a1');
select is(app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'race'), 'action', 'cancel')) ->> 'outcome',
  'cancelled', 'A cancels before any attempt');
select is(app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'pause'), 'action', 'pause')) ->> 'outcome',
  'paused', 'A pauses another');
select pg_temp.as_service();
select is(pg_temp.begin((select id from k where name = 'race'), (select v from k where name = 'race')),
  '{"started": false, "reason": "trip_changed"}'::jsonb, 'begin after the cancel starts nothing');
select is(pg_temp.begin((select id from k where name = 'pause'), (select v from k where name = 'pause')),
  '{"started": false, "reason": "trip_changed"}'::jsonb, 'begin after the pause starts nothing');
select pg_temp.as_postgres();
select is((select count(*)::int from public.booking_attempts where trip_id in
  (select id from k where name in ('race', 'pause'))), 0, 'no attempt row, so nothing can be charged');

-- Cancel meeting an attempt in flight: pending, then the trip ends cancelled when it ends unbooked ---
select pg_temp.as_service();
select is(pg_temp.begin((select id from k where name = 'flight'), (select v from k where name = 'flight')),
  '{"started": true}'::jsonb, 'an attempt begins first');
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000000a1');
select is(app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'flight'), 'action', 'cancel')) #>> '{attempt,phase}',
  'reprice', 'the cancel meets the attempt and says its phase');
select pg_temp.as_postgres();
update public.trip_requests set status = 'watching' where id = (select id from k where name = 'flight');
select is((select status from public.trip_requests where id = (select id from k where name = 'flight')), 'cancelled',
  'the attempt ending unbooked leaves the trip cancelled');

-- Update: compare-and-set ---------------------------------------------------------------------------
select pg_temp.act_as('a1a1a1a1-0000-4000-8000-0000000000a1');
select is(app.trips_control(jsonb_build_object('trip_id', (select id from k where name = 'pause'), 'action', 'update',
  'version', 1, 'changes', jsonb_build_object('max_total_minor', 50000))) ->> 'outcome', 'version_conflict',
  'a stale version changes nothing');

select * from finish();
rollback;
