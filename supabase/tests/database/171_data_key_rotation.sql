-- Key rotation (issue 8 item 5; migration 20261203000510_data_key_rotation.sql): every encrypted
-- value records its key; a new Vault key is used for new writes at once; both keys decrypt
-- through the real readers (travelers_list, monitor_passengers, notify_claim) throughout; the
-- bounded re-encryption job moves old rows; the old key retires only when no row uses it; the
-- suppression hash does not change with the data key.
begin;
select plan(35);

select vault.create_secret('pgtap-only-traveler-key-0123456789', 'traveler_data_key')
where not exists (select 1 from vault.secrets where name = 'traveler_data_key');

create function pg_temp.act_as(uid uuid) returns void language plpgsql as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object('sub', uid, 'role', 'authenticated',
    'aud', 'authenticated')::text, true);
end
$$;
create function pg_temp.act_as_postgres() returns void language plpgsql as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

-- The test's own keys, so it means the same on a database where other tests left rows under any
-- key: K1 is current for the "old" rows, then K2 (same created_at, later name) takes over.
select vault.create_secret('pgtap-rotation-key-171a-abcdefghijklmnop', 'traveler_data_key_pgtap171a', 'rotation test');

insert into auth.users (id, email) values ('a1710000-0000-4000-8000-00000000000a', 'rotate@example.test');
create temp table k (name text primary key, id uuid, v text);
grant all on k to public;

insert into k (name, id) values ('t_old', app.create_traveler('a1710000-0000-4000-8000-00000000000a',
  '{"title": "ms", "gender": "f", "given_name": "Oldkey", "family_name": "Row", "born_on": "1970-01-02",
    "email": "old@example.test", "phone_number": "+447700900301",
    "identity_document": {"type": "passport", "unique_identifier": "OLD123456", "issuing_country_code": "GB",
      "expires_on": "2040-01-01"}}'));
insert into k (name, v) values ('hash_before', app.email_hash('someone@example.test'));

-- A trip with the old traveller, and a notification being sent (request stored encrypted).
do $$
declare
  v_trip uuid;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('a1710000-0000-4000-8000-00000000000a', 'LHR', 'JFK', current_date + 60, 1, 'economy', 42000, 'GBP')
  returning id into v_trip;
  insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
  values (v_trip, 'a1710000-0000-4000-8000-00000000000a', (select id from k where name = 't_old'), 1);
  insert into k (name, id) values ('trip', v_trip);
  insert into public.notifications (trip_id, owner_id, template, dedupe_key)
  values (v_trip, 'a1710000-0000-4000-8000-00000000000a', 'booked', v_trip::text || '-booked');
  insert into k (name, id) values ('n', (select id from public.notifications where trip_id = v_trip));
end
$$;
select is(app.notify_sending(jsonb_build_object('id', (select id from k where name = 'n'),
  'body', '{"to":["old@example.test"],"subject":"s","text":"t"}')), '{"ok": true}'::jsonb, 'a request stored under the old key');

select is((select subject from public.notifications where id = (select id from k where name = 'n')), 's',
  'the subject sent is kept (for the export) when the request is stored');
select is((select data_key from public.travelers where id = (select id from k where name = 't_old')), 'traveler_data_key_pgtap171a',
  'a value records the key that encrypted it');
select is((select request_key from public.notifications where id = (select id from k where name = 'n')), 'traveler_data_key_pgtap171a',
  'so does a stored request');

-- Rotate: a new key in Vault is the current key at once --------------------------------------------
select vault.create_secret('pgtap-rotation-key-171b-abcdefghijklmnop', 'traveler_data_key_pgtap171b', 'rotation test');
select is(app.traveler_data_key_id(), 'traveler_data_key_pgtap171b', 'the newest key is current');
insert into k (name, id) values ('t_new', app.create_traveler('a1710000-0000-4000-8000-00000000000a',
  '{"title": "mr", "gender": "m", "given_name": "Newkey", "family_name": "Row", "born_on": "1971-02-03",
    "email": "new@example.test", "phone_number": "+447700900302"}'));
select is((select data_key from public.travelers where id = (select id from k where name = 't_new')),
  'traveler_data_key_pgtap171b', 'new writes use it');
select is(app.email_hash('someone@example.test'), (select v from k where name = 'hash_before'),
  'the suppression hash does not change with the data key');

-- Both keys decrypt, through the real readers ----------------------------------------------------
select pg_temp.act_as('a1710000-0000-4000-8000-00000000000a');
select is((select string_agg(t ->> 'given_name', ',' order by t ->> 'given_name')
           from jsonb_array_elements(app.travelers_list('{}') -> 'travelers') t), 'Newkey,Oldkey',
  'travelers_list decrypts rows under either key');
select pg_temp.act_as_postgres();
select is(app.monitor_passengers(jsonb_build_object('trip_id', (select id from k where name = 'trip')))
  #>> '{passengers,0,identity_document,unique_identifier}', 'OLD123456', 'monitor_passengers decrypts the old key''s document');
select is((app.data_key_usage() #>> '{keys,traveler_data_key_pgtap171a,travelers}')::int, 1, 'usage: one traveller under the old key');
select is((app.data_key_usage() #>> '{keys,traveler_data_key_pgtap171b,travelers}')::int, 1, 'and one under the new');

-- The old key cannot retire while rows use it, the current never ----------------------------------
select throws_ok($$ select app.data_key_retire('traveler_data_key_pgtap171a') $$, '55006', null,
  'a key still in use cannot be retired');
select throws_ok($$ select app.data_key_retire('traveler_data_key_pgtap171b') $$, '55000', null,
  'the current key cannot be retired');
select throws_ok($$ select app.data_key_retire('monitor_key') $$, '22023', null, 'only data keys');

-- Bounded re-encryption ----------------------------------------------------------------------------
-- While an attempt on the trip is open the profile is frozen (travelers_keep_in_use): the job
-- leaves it for a later run and the old key cannot retire.
insert into k (name, id) values ('att', gen_random_uuid());
insert into public.booking_attempts (id, trip_id, state, version, open, phase)
select k.id, t.id, jsonb_build_object(
  'schema_version', 1, 'attempt_id', k.id, 'trip_id', t.id, 'offer_id', 'off_0000test',
  'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
  'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', 1,
  'phase', jsonb_build_object('name', 'reprice'), 'in_flight', false, 'tries', 0, 'not_before', null,
  'amount', null, 'passenger_ids', '[]'::jsonb, 'payment_intent', null, 'order', null,
  'check_intent', false, 'key_generation', 0, 'lookup_misses', 0, 'reason', null,
  'started_at', now(), 'updated_at', now()), 1, true, 'reprice'
from k, k t where k.name = 'att' and t.name = 'trip';
select lives_ok($$ select app.data_key_reencrypt(10000) $$, 'a profile frozen by an open attempt does not fail the job');
select is((select data_key from public.travelers where id = (select id from k where name = 't_old')), 'traveler_data_key_pgtap171a',
  'it is skipped: still under the old key');
select throws_ok($$ select app.data_key_retire('traveler_data_key_pgtap171a') $$, '55006', null, 'so the old key cannot retire yet');
update public.booking_attempts set state = state || '{"version": 2, "phase": {"name": "closed", "end": "fail"}}'
where id = (select id from k where name = 'att');

update public.travelers set updated_at = updated_at where false;
insert into k (name, v) values ('ver', (select version::text from public.travelers where id = (select id from k where name = 't_old')));
select is((app.data_key_reencrypt(1) ->> 'travelers')::int, 1, 'a run moves at most its limit');
select lives_ok($$ select app.data_key_reencrypt(10000) $$, 'the next runs move the rest');
select is((app.data_key_usage() #>> '{keys,traveler_data_key_pgtap171a}')::jsonb, '{"travelers": 0, "notifications": 0}'::jsonb,
  'nothing left under the old key');
select is((select data_key from public.travelers where id = (select id from k where name = 't_old')),
  'traveler_data_key_pgtap171b', 'the old row is under the new key');
select is((select version::text from public.travelers where id = (select id from k where name = 't_old')),
  (select v from k where name = 'ver'), 're-encryption does not bump the profile version (no spurious traveler_changed)');
select is((select request_key from public.notifications where id = (select id from k where name = 'n')),
  'traveler_data_key_pgtap171b', 'the stored request too');

-- Retire the old key -------------------------------------------------------------------------------
select is(app.data_key_retire('traveler_data_key_pgtap171a'), '{"retired": "traveler_data_key_pgtap171a"}'::jsonb, 'the old key retires');
select is((select count(*)::int from vault.secrets where name = 'traveler_data_key_pgtap171a'), 0, 'its Vault secret is gone');
select is((select count(*)::int from public.data_key_retirements where name = 'traveler_data_key_pgtap171a'), 1, 'and recorded');
select pg_temp.act_as('a1710000-0000-4000-8000-00000000000a');
select is((select string_agg(t ->> 'email', ',' order by t ->> 'email')
           from jsonb_array_elements(app.travelers_list('{}') -> 'travelers') t), 'new@example.test,old@example.test',
  'everything still decrypts');
select pg_temp.act_as_postgres();
select is((select n ->> 'stored_request' from jsonb_array_elements(
    app.notify_claim(jsonb_build_object('notification_id', (select id from k where name = 'n'))) -> 'notifications') n),
  '{"to":["old@example.test"],"subject":"s","text":"t"}', 'notify_claim decrypts the re-encrypted request');

-- The original key: retiring it keeps the suppression hashes (its value moves to email_hash_key).
-- Only where no frozen row still uses it (on a fresh database, always).
insert into k (name, v) select 'legacy_free', case
  when exists (select 1 from public.travelers where data_key = 'traveler_data_key')
    or exists (select 1 from public.notifications where request_key = 'traveler_data_key')
    or exists (select 1 from vault.secrets where name = 'email_hash_key')
  then 'no' else 'yes' end;
select case when (select v from k where name = 'legacy_free') = 'yes'
  then is(app.data_key_retire('traveler_data_key'), '{"retired": "traveler_data_key"}'::jsonb, 'the original key retires')
  else skip('rows other tests froze still use the original key') end;
select case when (select v from k where name = 'legacy_free') = 'yes'
  then is((select count(*)::int from vault.secrets where name = 'email_hash_key'), 1, 'its value lives on as email_hash_key')
  else skip('rows other tests froze still use the original key') end;
select case when (select v from k where name = 'legacy_free') = 'yes'
  then is(app.email_hash('someone@example.test'), (select v from k where name = 'hash_before'),
    'suppression hashes still match')
  else skip('rows other tests froze still use the original key') end;

-- A retired name is never current again, even if a seed re-creates it ------------------------------
select vault.create_secret('pgtap-resurrected-key-0123456789', 'traveler_data_key_pgtap171a');
select is(app.traveler_data_key_id(), 'traveler_data_key_pgtap171b', 'a retired name stays retired');
select throws_ok($$ insert into public.travelers (owner_id, pii) values ('a1710000-0000-4000-8000-00000000000a',
    extensions.pgp_sym_encrypt('{}', 'not-a-vault-key-0123456789', 'cipher-algo=aes256')) $$,
  '22023', 'pii is not encrypted under a live data key', 'a value no live key decrypts is refused');

select is((select count(*)::int from cron.job where jobname = 'data-key-reencrypt'), 1, 'the re-encryption job is scheduled');
select ok(not has_function_privilege('authenticated', 'app.data_key_retire(text)', 'EXECUTE')
  and not has_function_privilege('authenticated', 'app.data_key_reencrypt(integer)', 'EXECUTE'),
  'key management is service only');

select * from finish();
rollback;
