-- The issue-3 tables: RLS and grants (user A vs user B, anon, authenticated, service_role),
-- travelers encrypted at rest, and the invariants of travelers, trip_travelers, payment_profiles,
-- booking_attempts, bookings, notifications and pipeline_settings.
begin;
select plan(76);

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

-- The local stack seeds traveler_data_key; a scratch database may not have it.
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

-- An AttemptState (booking_core::saga::AttemptState JSON) with `extra` merged over it.
create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, extra jsonb default '{}')
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000test',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
    'payment_intent', null, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', pg_temp.at('0'), 'updated_at', pg_temp.at('0')
  ) || extra
$$;

-- Per user: a trip with an offer, a traveler on it, a payment profile, an attempt, a booking and
-- a notification.
create temp table ids (who text primary key, owner uuid, trip uuid, traveler uuid, attempt uuid);
grant select on ids to public;
do $$
declare
  u record;
  t uuid;
  tr uuid;
  a uuid;
begin
  for u in select * from (values
    ('a', 'aaaaaaaa-0000-4000-8000-00000000000a'::uuid, 'Amelia', 'amelia@example.test'),
    ('b', 'bbbbbbbb-0000-4000-8000-00000000000b'::uuid, 'Bessie', 'bessie@example.test')
  ) as v(who, id, given, email) loop
    insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
    values (u.id, 'LHR', 'JFK', pg_temp.day(100), 1, 'economy', 42000, 'GBP') returning id into t;
    tr := app.create_traveler(u.id, jsonb_build_object(
      'title', 'ms', 'gender', 'f', 'given_name', u.given, 'family_name', 'Coleman',
      'born_on', '1987-07-24', 'email', u.email, 'phone_number', '+442080160508'));
    insert into public.trip_travelers (trip_id, owner_id, traveler_id, position) values (t, u.id, tr, 1);
    insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
    values (u.id, 'cus_' || u.who || 'X1', 'pm_' || u.who || 'X1');
    a := gen_random_uuid();
    insert into public.booking_attempts (id, trip_id, state, version, open, phase)
    values (a, t, pg_temp.state(a, t, 1, '{"name": "reprice"}'), 1, true, 'reprice');
    insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency)
    values (t, a, 'ord_' || u.who, 'RZPNX8', 22178, 'GBP');
    insert into public.notifications (trip_id, owner_id, template, dedupe_key)
    values (t, u.id, 'booked', a || '-booked');
    insert into ids values (u.who, u.id, t, tr, a);
  end loop;
end
$$;

-- Structure ------------------------------------------------------------------------------------
select ok((select bool_and(relrowsecurity) from pg_class where oid in (
    'public.travelers'::regclass, 'public.trip_travelers'::regclass, 'public.payment_profiles'::regclass,
    'public.booking_attempts'::regclass, 'public.bookings'::regclass, 'public.notifications'::regclass,
    'public.pipeline_settings'::regclass, 'public.monitor_runs'::regclass)),
  'RLS is enabled on every new table');

select table_privs_are('public', 'travelers', 'anon', array[]::text[], 'anon: nothing on travelers');
select table_privs_are('public', 'trip_travelers', 'anon', array[]::text[], 'anon: nothing on trip_travelers');
select table_privs_are('public', 'payment_profiles', 'anon', array[]::text[], 'anon: nothing on payment_profiles');
select table_privs_are('public', 'booking_attempts', 'anon', array[]::text[], 'anon: nothing on booking_attempts');
select table_privs_are('public', 'bookings', 'anon', array[]::text[], 'anon: nothing on bookings');
select table_privs_are('public', 'notifications', 'anon', array[]::text[], 'anon: nothing on notifications');
select table_privs_are('public', 'pipeline_settings', 'anon', array[]::text[], 'anon: nothing on pipeline_settings');
select table_privs_are('public', 'monitor_runs', 'anon', array[]::text[], 'anon: nothing on monitor_runs');

select table_privs_are('public', 'travelers', 'authenticated', array[]::text[],
  'authenticated: no table-wide privilege on travelers (column grants only)');
select ok(has_column_privilege('authenticated', 'public.travelers', 'passenger_type', 'SELECT')
  and not has_column_privilege('authenticated', 'public.travelers', 'pii', 'SELECT'),
  'authenticated may read the clear columns of travelers, never pii');
select table_privs_are('public', 'trip_travelers', 'authenticated', array['SELECT'], 'authenticated: SELECT on trip_travelers');
select table_privs_are('public', 'payment_profiles', 'authenticated', array['SELECT'], 'authenticated: SELECT on payment_profiles');
select table_privs_are('public', 'booking_attempts', 'authenticated', array['SELECT'], 'authenticated: SELECT on booking_attempts');
select table_privs_are('public', 'bookings', 'authenticated', array['SELECT'], 'authenticated: SELECT on bookings');
select table_privs_are('public', 'notifications', 'authenticated', array['SELECT'], 'authenticated: SELECT on notifications');
select table_privs_are('public', 'pipeline_settings', 'authenticated', array[]::text[], 'authenticated: nothing on pipeline_settings');
select table_privs_are('public', 'monitor_runs', 'authenticated', array[]::text[], 'authenticated: nothing on monitor_runs');
select table_privs_are('public', 'pipeline_settings', 'service_role', array['SELECT', 'UPDATE'],
  'service_role: SELECT and UPDATE on the single settings row');
select table_privs_are('public', 'booking_attempts', 'service_role', array['INSERT', 'SELECT', 'UPDATE'],
  'service_role: no DELETE on the saga ledger');

select is(
  (select count(*)::int from pg_proc p where p.pronamespace = 'app'::regnamespace and p.proname in (
    'monitor_claim', 'monitor_reschedule', 'monitor_expire', 'monitor_begin_attempt', 'monitor_save_attempt',
    'monitor_passengers', 'monitor_record_search', 'monitor_record_search_failure', 'monitor_heartbeat')
    and pg_get_function_identity_arguments(p.oid) = 'args jsonb'
    and p.prorettype = 'jsonb'::regtype
    and p.prosecdef and p.proconfig @> array['search_path=""']
    and has_function_privilege('service_role', p.oid, 'EXECUTE')
    and not has_function_privilege('authenticated', p.oid, 'EXECUTE')
    and not has_function_privilege('anon', p.oid, 'EXECUTE')
    and not has_function_privilege('public', p.oid, 'EXECUTE')),
  9,
  'the nine app.monitor_*(args jsonb) returns jsonb: SECURITY DEFINER, empty search_path, service_role only');
select ok(not has_function_privilege('authenticated', 'app.create_traveler(uuid, jsonb)', 'EXECUTE')
  and has_function_privilege('service_role', 'app.create_traveler(uuid, jsonb)', 'EXECUTE')
  and not has_function_privilege('service_role', 'app.traveler_data_key()', 'EXECUTE')
  and not has_function_privilege('authenticated', 'app.traveler_data_key()', 'EXECUTE'),
  'create_traveler is service only; nobody may call traveler_data_key directly');

-- Encrypted at rest ------------------------------------------------------------------------------
select columns_are('public', 'travelers', array['id', 'owner_id', 'passenger_type', 'pii', 'identity_document', 'created_at', 'updated_at', 'version', 'data_key'],
  'travelers has no clear-text personal column (pii and identity_document are encrypted)');
select ok(
  (select bool_and(position(convert_to(w, 'UTF8') in t.pii) = 0)
   from public.travelers t,
     unnest(array['Amelia', 'Bessie', 'Coleman', 'amelia@example.test', 'bessie@example.test', '1987-07-24',
                  '+442080160508', 'given_name']) as w),
  'no name, email, birth date, phone (or JSON key) appears in the stored bytes');
select is(
  (select extensions.pgp_sym_decrypt(t.pii, (select decrypted_secret from vault.decrypted_secrets where name = 'traveler_data_key'))::jsonb
   from public.travelers t where t.id = (select traveler from ids where who = 'a')),
  '{"title": "ms", "gender": "f", "given_name": "Amelia", "family_name": "Coleman", "born_on": "1987-07-24",
    "email": "amelia@example.test", "phone_number": "+442080160508"}'::jsonb,
  'the Vault key decrypts the seven fields');
select throws_like(
  $$ select extensions.pgp_sym_decrypt(pii, 'not-the-key') from public.travelers limit 1 $$,
  '%Wrong key%', 'another key does not decrypt');
select lives_ok(
  $$ select app.create_traveler('aaaaaaaa-0000-4000-8000-00000000000a', '{"title": "ms", "gender": "f",
       "given_name": "Amelia", "family_name": "Coleman", "born_on": "1987-07-24", "email": "amelia@example.test",
       "phone_number": "+442080160508"}') $$,
  'the same traveler can be stored twice');
select is(
  (select count(distinct pii)::int from public.travelers where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a'),
  2, 'identical travelers encrypt to different bytes (random session key)');
select throws_ok(
  $$ insert into public.travelers (owner_id, pii) values ('aaaaaaaa-0000-4000-8000-00000000000a',
       convert_to('{"given_name": "Amelia", "family_name": "Coleman", "email": "x@example.test"}', 'UTF8')) $$,
  '23514', null, 'plaintext cannot be stored in pii (travelers_pii_encrypted)');
select throws_ok(
  $$ select app.create_traveler('aaaaaaaa-0000-4000-8000-00000000000a', '{"title": "ms", "gender": "f",
       "given_name": "Amelia", "family_name": "Coleman", "born_on": "1987-07-24", "email": "amelia@example.test",
       "phone_number": "020 8016 0508"}') $$,
  '22023', 'field phone_number must be E.164 (+4420…)', 'create_traveler names the bad field, not its value');
select throws_ok(
  $$ select app.create_traveler('aaaaaaaa-0000-4000-8000-00000000000a', '{"title": "ms", "gender": "f",
       "given_name": "A", "family_name": "C", "born_on": "1987-07-24", "email": "a@example.test",
       "phone_number": "+442080160508", "card_number": "4242424242424242"}') $$,
  '22023', 'unknown field: card_number', 'create_traveler refuses unknown fields');
select throws_ok(
  $$ select app.create_traveler('cccccccc-0000-4000-8000-00000000000c', '{"title": "ms", "gender": "f",
       "given_name": "A", "family_name": "C", "born_on": "1987-07-24", "email": "a@example.test",
       "phone_number": "+442080160508"}') $$,
  'P0002', 'owner not found', 'create_traveler for an unknown owner');

-- Invariants -----------------------------------------------------------------------------------
select throws_ok(
  $$ insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
     values ('cccccccc-0000-4000-8000-00000000000c', 'cus_X', 'pm_X') $$,
  '23503', null, 'payment_profiles needs a real user');
select throws_ok(
  $$ update public.payment_profiles set stripe_payment_method_id = '4242424242424242'
     where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  '23514', null, 'a card number is not a payment method id (pm_…)');
select throws_ok(
  $$ update public.payment_profiles set stripe_customer_id = 'alice@example.test'
     where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  '23514', null, 'the customer id must look like cus_…');
select throws_ok(
  $$ insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
     values ((select trip from ids where who = 'a'), 'aaaaaaaa-0000-4000-8000-00000000000a', (select traveler from ids where who = 'b'), 2) $$,
  '23503', null, 'a trip cannot carry another owner''s traveler');
select throws_ok(
  $$ insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
     select (select trip from ids where who = 'a'), 'aaaaaaaa-0000-4000-8000-00000000000a', t.id, 1
     from public.travelers t where t.owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a'
       and t.id <> (select traveler from ids where who = 'a') limit 1 $$,
  '23505', null, 'one traveler per position');

select is(
  (select jsonb_build_object('version', version, 'open', open, 'phase', phase, 'payment_intent', payment_intent)
   from public.booking_attempts where id = (select attempt from ids where who = 'a')),
  '{"version": 1, "open": true, "phase": "reprice", "payment_intent": null}'::jsonb,
  'the operator columns are derived from the state');
update public.booking_attempts
set state = pg_temp.state(id, trip_id, 2, '{"name": "capture"}',
  '{"payment_intent": "pi_3Mtw", "amount": {"amount_minor": 22178, "currency": "GBP"},
    "order": {"id": "ord_0000A", "booking_reference": "RZPNX8"}, "reason": "price_ok"}'),
  version = 99, phase = 'closed', open = false
where id = (select attempt from ids where who = 'a');
select is(
  (select jsonb_build_object('version', version, 'open', open, 'phase', phase, 'payment_intent', payment_intent,
     'order_id', order_id, 'amount_minor', amount_minor, 'currency', currency, 'reason', reason)
   from public.booking_attempts where id = (select attempt from ids where who = 'a')),
  '{"version": 2, "open": true, "phase": "capture", "payment_intent": "pi_3Mtw", "order_id": "ord_0000A",
    "amount_minor": 22178, "currency": "GBP", "reason": "price_ok"}'::jsonb,
  'the derived columns follow the state, whatever the writer put in them');
select throws_ok(
  $$ update public.booking_attempts set state = pg_temp.state(id, trip_id, 2, '{"name": "order"}')
     where id = (select attempt from ids where who = 'a') $$,
  '55000', 'attempt version must go up (stored 2, new 2)', 'the attempt version only goes up');
select throws_ok(
  $$ update public.booking_attempts set state = pg_temp.state(gen_random_uuid(), trip_id, 3, '{"name": "order"}')
     where id = (select attempt from ids where who = 'a') $$,
  '22023', 'state.attempt_id must be this attempt''s id', 'the state must name its own attempt');
select throws_ok(
  $$ insert into public.booking_attempts (id, trip_id, state, version, open, phase)
     select x.id, (select trip from ids where who = 'a'), pg_temp.state(x.id, (select trip from ids where who = 'a'), 1, '{"name": "reprice"}'), 1, true, 'reprice'
     from (select gen_random_uuid() as id) x $$,
  '23505', null, 'a second open attempt for the same trip is refused by the unique index');
select throws_ok(
  $$ insert into public.booking_attempts (id, trip_id, state, version, open, phase)
     select x.id, (select trip from ids where who = 'a'), pg_temp.state(x.id, (select trip from ids where who = 'b'), 1, '{"name": "reprice"}'), 1, true, 'reprice'
     from (select gen_random_uuid() as id) x $$,
  '22023', 'state.trip_id must be this attempt''s trip', 'the state must name its own trip');
update public.booking_attempts
set state = pg_temp.state(id, trip_id, 3, '{"name": "closed", "end": "booked"}')
where id = (select attempt from ids where who = 'a');
select is((select open from public.booking_attempts where id = (select attempt from ids where who = 'a')), false,
  'phase closed: the attempt is no longer open');
select lives_ok(
  $$ insert into public.booking_attempts (id, trip_id, state, version, open, phase)
     select x.id, (select trip from ids where who = 'a'), pg_temp.state(x.id, (select trip from ids where who = 'a'), 1, '{"name": "reprice"}'), 1, true, 'reprice'
     from (select gen_random_uuid() as id) x $$,
  'after it closed, a new open attempt for the trip is allowed');
select throws_ok(
  $$ update public.booking_attempts set state = pg_temp.state(id, trip_id, 4, '{"name": "reprice"}')
     where id = (select attempt from ids where who = 'a') $$,
  '55000', 'a closed attempt cannot change', 'a closed attempt never reopens');

select throws_ok(
  $$ insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency)
     values ((select trip from ids where who = 'a'), (select attempt from ids where who = 'a'), 'ord_other', 'ABC123', 100, 'GBP') $$,
  '23505', null, 'one booking per attempt');
select throws_ok(
  $$ insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency)
     values ((select trip from ids where who = 'b'), (select attempt from ids where who = 'b'), 'ord_x', 'ABC123', 100, 'GBP') $$,
  '23505', null, 'bookings: the same attempt cannot book twice (also under another order id)');
select throws_ok(
  $$ insert into public.notifications (trip_id, owner_id, template, dedupe_key)
     values ((select trip from ids where who = 'a'), 'aaaaaaaa-0000-4000-8000-00000000000a', 'booked',
             (select attempt from ids where who = 'a') || '-booked') $$,
  '23505', null, 'notifications: dedupe_key is unique');
select throws_ok(
  $$ update public.notifications set status = 'sent' where owner_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  '23514', null, 'a sent notification has a provider message id');
select throws_ok($$ insert into public.pipeline_settings (id) values (false) $$, '23514', null,
  'pipeline_settings holds a single row (id must be true)');
select throws_ok($$ insert into public.pipeline_settings (id) values (true) $$, '23505', null,
  'pipeline_settings holds a single row (no second true)');
select throws_ok($$ update public.pipeline_settings set batch_size = 0 $$, '23514', null, 'batch_size is at least 1');

-- User A ---------------------------------------------------------------------------------------
select pg_temp.act_as('aaaaaaaa-0000-4000-8000-00000000000a');
select is((select array_agg(distinct owner_id) from public.travelers), array['aaaaaaaa-0000-4000-8000-00000000000a'::uuid],
  'A reads only their own travelers');
select throws_ok($$ select pii from public.travelers $$, '42501', 'permission denied for table travelers',
  'A cannot read even their own ciphertext');
select results_eq($$ select trip_id from public.trip_travelers $$, $$ select trip from ids where who = 'a' $$,
  'A reads only their own trip_travelers');
select results_eq($$ select owner_id from public.payment_profiles $$, $$ select owner from ids where who = 'a' $$,
  'A reads only their own payment profile');
select is((select array_agg(distinct trip_id) from public.booking_attempts), array[(select trip from ids where who = 'a')],
  'A reads only the attempts of their own trips');
select results_eq($$ select trip_id from public.bookings $$, $$ select trip from ids where who = 'a' $$,
  'A reads only their own bookings');
select results_eq($$ select trip_id from public.notifications $$, $$ select trip from ids where who = 'a' $$,
  'A reads only their own notifications');
select is_empty($$ select 1 from public.booking_attempts where trip_id = (select trip from ids where who = 'b') $$,
  'A cannot read B''s attempts by trip id');
select throws_ok($$ select * from public.pipeline_settings $$, '42501', 'permission denied for table pipeline_settings',
  'A cannot read the settings');
select throws_ok($$ select * from public.monitor_runs $$, '42501', 'permission denied for table monitor_runs',
  'A cannot read the run log');
select throws_ok($$ update public.booking_attempts set state = '{}' $$, '42501', 'permission denied for table booking_attempts',
  'A cannot write attempts');
select throws_ok($$ insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
    values ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_A', 'pm_A') $$,
  '42501', 'permission denied for table payment_profiles', 'A cannot write payment profiles directly');
select throws_ok($$ select app.monitor_claim('{"limit": 1}') $$, '42501', 'permission denied for function monitor_claim',
  'authenticated cannot call app.monitor_claim');
select throws_ok($$ select app.monitor_passengers(jsonb_build_object('trip_id', (select trip from ids where who = 'a'))) $$,
  '42501', 'permission denied for function monitor_passengers', 'authenticated cannot read passengers, even their own');
select throws_ok($$ select app.create_traveler('aaaaaaaa-0000-4000-8000-00000000000a', '{}') $$,
  '42501', 'permission denied for function create_traveler', 'authenticated cannot call create_traveler');

-- anon -----------------------------------------------------------------------------------------
select pg_temp.act_as_role('anon');
select throws_ok($$ select id from public.travelers $$, '42501', 'permission denied for table travelers', 'anon: no travelers');
select throws_ok($$ select * from public.booking_attempts $$, '42501', 'permission denied for table booking_attempts', 'anon: no attempts');
select throws_ok($$ select * from public.bookings $$, '42501', 'permission denied for table bookings', 'anon: no bookings');
select throws_ok($$ select * from public.notifications $$, '42501', 'permission denied for table notifications', 'anon: no notifications');
select throws_ok($$ select app.monitor_claim('{}') $$, '42501', 'permission denied for schema app', 'anon: no monitor API');

-- service_role ---------------------------------------------------------------------------------
select pg_temp.act_as_role('service_role');
select is((select count(distinct owner_id)::int from public.travelers where owner_id in (select owner from ids)), 2,
  'service_role reads every traveler');
select is((select count(*)::int from public.pipeline_settings), 1, 'service_role reads the settings row');

-- Without the Vault key, nothing can be encrypted --------------------------------------------------
select pg_temp.act_as_postgres();
delete from vault.secrets where name = 'traveler_data_key';
select throws_ok(
  $$ select app.create_traveler('aaaaaaaa-0000-4000-8000-00000000000a', '{"title": "ms", "gender": "f",
       "given_name": "A", "family_name": "C", "born_on": "1987-07-24", "email": "a@example.test",
       "phone_number": "+442080160508"}') $$,
  '55000', 'vault secret traveler_data_key is missing or shorter than 16 characters',
  'no Vault key: create_traveler refuses (55000)');

select * from finish();
rollback;
