-- Key rotation for the personal data encrypted at rest (issue 8 item 5).
--
-- Before: every encrypted value (travelers.pii, travelers.identity_document,
-- notifications.request_enc while `sending`) was pgp_sym_encrypt under the ONE Vault secret
-- `traveler_data_key`, and every reader decrypted with it; suppressions hash addresses with it.
--
-- Now:
-- * Data keys are Vault secrets named `traveler_data_key` (the original) or
--   `traveler_data_key_<suffix>` (suffix [a-z0-9_]{1,40}). The CURRENT key is the newest one
--   (vault created_at, then name) that is not retired. Rotating is one statement:
--     select vault.create_secret('<long random key>', 'traveler_data_key_2027q1', 'traveler data key');
--   and every write from then on uses it (app.traveler_data_key(), REPLACED, returns the current
--   key; every writer already calls it).
-- * Every encrypted value records its key: travelers.data_key, notifications.request_key (set by
--   BEFORE triggers, which find the key that decrypts the new value, current first: exact even if
--   a rotation commits while a writer runs).
-- * Readers decrypt with the recorded key (app.data_decrypt), so old and new keys both work
--   throughout. REPLACED for that: app.monitor_passengers, app.traveler_view,
--   app.travelers_attach_check, app.notify_claim_json (bodies unchanged otherwise).
-- * app.data_key_reencrypt(limit) moves at most `limit` rows per table to the current key
--   (FOR UPDATE SKIP LOCKED, so it never waits on or blocks the pipeline); pg_cron runs it every
--   5 minutes (job `data-key-reencrypt`). app.data_key_usage() shows rows per key.
-- * app.data_key_retire(name) retires a key no row uses (55006 while rows do, 55000 for the
--   current key): it is recorded in data_key_retirements (never used again, even if a seed script
--   re-creates a secret of that name) and its Vault secret is deleted.
-- * Suppression hashes (app.email_hash, REPLACED) use Vault secret `email_hash_key`, or while it
--   does not exist the original `traveler_data_key`: rotating the data key does not change the
--   hashes. Retiring the original key first copies its value to `email_hash_key`, so the
--   suppression list keeps matching (an HMAC key, not an encryption key: rotating it would forget
--   every suppression; see docs/privacy.md).

-- ------------------------------------------------------------------------------------------------
-- Keys
-- ------------------------------------------------------------------------------------------------
create table public.data_key_retirements (
  name text primary key,
  retired_at timestamptz not null default now(),
  constraint data_key_retirements_name_format check (name ~ '^traveler_data_key(_[a-z0-9_]{1,40})?$')
);

comment on table public.data_key_retirements is
  'Data keys retired (no row used them any more); never used again. Names only.';

alter table public.data_key_retirements enable row level security;
revoke all on table public.data_key_retirements from public, anon, authenticated, service_role;
grant select on table public.data_key_retirements to service_role;

-- The live data keys, current first. Internal (reads Vault).
create function app.data_keys()
returns table (name text, secret text)
language sql
stable
security definer
set search_path = ''
as $$
  select s.name, s.decrypted_secret
  from vault.decrypted_secrets s
  where (s.name = 'traveler_data_key' or s.name ~ '^traveler_data_key_[a-z0-9_]{1,40}$')
    and length(coalesce(s.decrypted_secret, '')) >= 16
    and not exists (select 1 from public.data_key_retirements r where r.name = s.name)
  order by s.created_at desc, s.name desc
$$;

revoke all on function app.data_keys() from public, anon, authenticated, service_role;

-- REPLACED (from 20261123000100_travelers.sql): the CURRENT key (was: the one named
-- traveler_data_key). 55000 when there is none.
create or replace function app.traveler_data_key()
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_key text;
begin
  select k.secret into v_key from app.data_keys() k limit 1;
  if v_key is null then
    raise exception using
      errcode = '55000',
      message = 'vault secret traveler_data_key is missing or shorter than 16 characters';
  end if;
  return v_key;
end
$$;

revoke all on function app.traveler_data_key() from public, anon, authenticated, service_role;

-- The name of the current key.
create function app.traveler_data_key_id()
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_name text;
begin
  select k.name into v_name from app.data_keys() k limit 1;
  if v_name is null then
    raise exception using
      errcode = '55000',
      message = 'vault secret traveler_data_key is missing or shorter than 16 characters';
  end if;
  return v_name;
end
$$;

revoke all on function app.traveler_data_key_id() from public, anon, authenticated, service_role;

-- Decrypts with the named key (null: the original). 55000 when that key is gone.
create function app.data_decrypt(p_data bytea, p_key text)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_secret text;
begin
  if p_data is null then
    return null;
  end if;
  select k.secret into v_secret from app.data_keys() k where k.name = coalesce(p_key, 'traveler_data_key');
  if v_secret is null then
    raise exception using
      errcode = '55000',
      message = format('data key %s is not in Vault (or retired)', coalesce(p_key, 'traveler_data_key'));
  end if;
  return extensions.pgp_sym_decrypt(p_data, v_secret);
end
$$;

revoke all on function app.data_decrypt(bytea, text) from public, anon, authenticated, service_role;

-- Which live key decrypts p_data (current first); null when none does.
create function app.data_key_of(p_data bytea)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  k record;
begin
  for k in select * from app.data_keys() loop
    begin
      perform extensions.pgp_sym_decrypt(p_data, k.secret);
      return k.name;
    exception when others then
      null;
    end;
  end loop;
  return null;
end
$$;

revoke all on function app.data_key_of(bytea) from public, anon, authenticated, service_role;

-- ------------------------------------------------------------------------------------------------
-- Every encrypted value records its key
-- ------------------------------------------------------------------------------------------------
alter table public.travelers add column data_key text;
alter table public.notifications add column request_key text;
-- Everything encrypted so far used the original key.
update public.travelers set data_key = 'traveler_data_key';
update public.notifications set request_key = 'traveler_data_key' where request_enc is not null;
alter table public.travelers
  add constraint travelers_data_key_format check (data_key ~ '^traveler_data_key(_[a-z0-9_]{1,40})?$');
alter table public.notifications
  add constraint notifications_request_key_format check (
    request_key is null or request_key ~ '^traveler_data_key(_[a-z0-9_]{1,40})?$'),
  add constraint notifications_request_key_present check ((request_enc is null) = (request_key is null));

comment on column public.travelers.data_key is
  'The Vault data key pii and identity_document are encrypted under (set by trigger).';
comment on column public.notifications.request_key is
  'The Vault data key request_enc is encrypted under (set by trigger).';

-- BEFORE INSERT OR UPDATE OF pii, identity_document: record the key. A value that is not an
-- OpenPGP message is left for the table's check constraint (23514); one no live key decrypts is
-- refused (22023).
create function app.travelers_record_key()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.pii is null or octet_length(new.pii) < 16 or get_byte(new.pii, 0) not in (140, 141, 195) then
    return new;
  end if;
  if tg_op = 'UPDATE' and new.pii is not distinct from old.pii
    and new.identity_document is not distinct from old.identity_document
    and new.data_key is not distinct from old.data_key then
    return new;
  end if;
  new.data_key := app.data_key_of(new.pii);
  if new.data_key is null then
    raise exception using errcode = '22023', message = 'pii is not encrypted under a live data key';
  end if;
  if new.identity_document is not null and octet_length(new.identity_document) >= 16
    and get_byte(new.identity_document, 0) in (140, 141, 195) then
    perform app.data_decrypt(new.identity_document, new.data_key);
  end if;
  return new;
end
$$;

revoke all on function app.travelers_record_key() from public, anon, authenticated, service_role;

create trigger travelers_record_key
before insert or update of pii, identity_document, data_key on public.travelers
for each row execute function app.travelers_record_key();

create function app.notifications_record_key()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.request_enc is null then
    new.request_key := null;
    return new;
  end if;
  if octet_length(new.request_enc) < 16 or get_byte(new.request_enc, 0) not in (140, 141, 195) then
    return new;
  end if;
  if tg_op = 'UPDATE' and new.request_enc is not distinct from old.request_enc
    and new.request_key is not distinct from old.request_key then
    return new;
  end if;
  new.request_key := app.data_key_of(new.request_enc);
  if new.request_key is null then
    raise exception using errcode = '22023', message = 'request_enc is not encrypted under a live data key';
  end if;
  return new;
end
$$;

revoke all on function app.notifications_record_key() from public, anon, authenticated, service_role;

create trigger notifications_record_key
before insert or update of request_enc, request_key on public.notifications
for each row execute function app.notifications_record_key();

create index travelers_data_key_idx on public.travelers (data_key);
create index notifications_request_key_idx on public.notifications (request_key) where request_key is not null;

-- ------------------------------------------------------------------------------------------------
-- Suppression hashes keep their key
-- ------------------------------------------------------------------------------------------------
create function app.email_hash_key()
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_key text;
begin
  select s.decrypted_secret into v_key from vault.decrypted_secrets s
  where s.name = 'email_hash_key' order by s.created_at desc limit 1;
  if v_key is null then
    select s.decrypted_secret into v_key from vault.decrypted_secrets s
    where s.name = 'traveler_data_key' order by s.created_at desc limit 1;
  end if;
  if v_key is null or length(v_key) < 16 then
    raise exception using errcode = '55000', message = 'vault secret email_hash_key is missing';
  end if;
  return v_key;
end
$$;

revoke all on function app.email_hash_key() from public, anon, authenticated, service_role;

-- REPLACED (from 20261202000300_communications.sql): the hash key instead of the data key.
create or replace function app.email_hash(address text)
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select encode(
    extensions.hmac(lower(btrim(address)), app.email_hash_key(), 'sha256'), 'hex'
  )
$$;

revoke all on function app.email_hash(text) from public, anon, authenticated, service_role;

-- ------------------------------------------------------------------------------------------------
-- Re-encryption, usage, retirement
-- ------------------------------------------------------------------------------------------------
-- data_key_usage() -> {"current": name, "keys": {name: {"travelers": n, "notifications": n}}}
create function app.data_key_usage()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'current', app.traveler_data_key_id(),
    'keys', coalesce((
      select jsonb_object_agg(k.name, jsonb_build_object(
        'travelers', (select count(*) from public.travelers t where t.data_key = k.name),
        'notifications', (select count(*) from public.notifications n where n.request_key = k.name)))
      from app.data_keys() k), '{}'::jsonb))
$$;

revoke all on function app.data_key_usage() from public, anon, authenticated;
grant execute on function app.data_key_usage() to service_role;

-- data_key_reencrypt(p_limit) -> {"current", "travelers": n, "notifications": n, "remaining": n}:
-- re-encrypts at most p_limit rows of each table that are under another key than the current
-- one, skipping rows others hold locked and profiles frozen by an open booking attempt (they are
-- taken by a later run; `remaining` counts them).
create function app.data_key_reencrypt(p_limit integer default 200)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_name text := app.traveler_data_key_id();
  v_key text := app.traveler_data_key();
  n_travelers integer;
  n_notifications integer;
  v_remaining bigint;
begin
  if p_limit is null or p_limit not between 1 and 10000 then
    raise exception using errcode = '22023', message = 'limit must be 1 to 10000';
  end if;
  with todo as (
    select t.id from public.travelers t
    where t.data_key <> v_name
      -- A profile on a trip whose attempt is open is frozen (travelers_keep_in_use): it is
      -- moved by a run after the attempt closes.
      and not app.traveler_in_open_attempt(t.id)
    order by t.id limit p_limit
    for update skip locked
  )
  update public.travelers t
  set pii = extensions.pgp_sym_encrypt(app.data_decrypt(t.pii, t.data_key), v_key, 'cipher-algo=aes256'),
      identity_document = case when t.identity_document is null then null
        else extensions.pgp_sym_encrypt(app.data_decrypt(t.identity_document, t.data_key), v_key, 'cipher-algo=aes256') end
  from todo where t.id = todo.id;
  get diagnostics n_travelers = row_count;

  with todo as (
    select n.id from public.notifications n
    where n.request_key is not null and n.request_key <> v_name
    order by n.id limit p_limit
    for update skip locked
  )
  update public.notifications n
  set request_enc = extensions.pgp_sym_encrypt(app.data_decrypt(n.request_enc, n.request_key), v_key, 'cipher-algo=aes256')
  from todo where n.id = todo.id;
  get diagnostics n_notifications = row_count;

  select (select count(*) from public.travelers t where t.data_key <> v_name)
       + (select count(*) from public.notifications n where n.request_key <> v_name)
  into v_remaining;
  return jsonb_build_object('current', v_name, 'travelers', n_travelers,
    'notifications', n_notifications, 'remaining', v_remaining);
end
$$;

revoke all on function app.data_key_reencrypt(integer) from public, anon, authenticated;
grant execute on function app.data_key_reencrypt(integer) to service_role;

-- data_key_retire(name) -> {"retired": name}. 22023 for a name that is not a data key, 55000 for
-- the current key or an unknown one, 55006 while rows use it.
create function app.data_key_retire(p_name text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_rows bigint;
  v_secret text;
begin
  if p_name is null or p_name !~ '^traveler_data_key(_[a-z0-9_]{1,40})?$' then
    raise exception using errcode = '22023', message = 'not a data key name';
  end if;
  select k.secret into v_secret from app.data_keys() k where k.name = p_name;
  if v_secret is null then
    raise exception using errcode = '55000', message = format('data key %s is not live', p_name);
  end if;
  if p_name = app.traveler_data_key_id() then
    raise exception using errcode = '55000', message = 'the current data key cannot be retired; add a newer one first';
  end if;
  -- Lock out writers that could still be encrypting under it (they would have read it before
  -- the newer key committed): rows that record it are counted under the tables' locks.
  lock table public.travelers, public.notifications in share row exclusive mode;
  select (select count(*) from public.travelers t where t.data_key = p_name)
       + (select count(*) from public.notifications n where n.request_key = p_name)
  into v_rows;
  if v_rows > 0 then
    raise exception using
      errcode = '55006',
      message = format('data key %s still encrypts %s rows', p_name, v_rows),
      hint = 'run app.data_key_reencrypt until remaining is 0';
  end if;
  if p_name = 'traveler_data_key'
    and not exists (select 1 from vault.secrets s where s.name = 'email_hash_key') then
    perform vault.create_secret(v_secret, 'email_hash_key', 'suppression list HMAC key (was traveler_data_key)');
  end if;
  insert into public.data_key_retirements (name) values (p_name);
  delete from vault.secrets s where s.name = p_name;
  return jsonb_build_object('retired', p_name);
end
$$;

revoke all on function app.data_key_retire(text) from public, anon, authenticated;
grant execute on function app.data_key_retire(text) to service_role;

-- The bounded job (idempotent: nothing to do is a cheap no-op).
do $$
begin
  perform cron.schedule('data-key-reencrypt', '*/5 * * * *', 'select app.data_key_reencrypt(500)');
end
$$;

-- ------------------------------------------------------------------------------------------------
-- Readers decrypt with the recorded key
-- ------------------------------------------------------------------------------------------------
-- REPLACED (from 20261201000400_traveler_documents.sql): decrypts each value with the key it records.
create or replace function app.monitor_passengers(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_trip_id uuid;
  v_trip public.trip_requests;
  v_needed integer;
  v_have integer;
  v_key text;
  v_passengers jsonb;
begin
  perform app.monitor_args(args, array['trip_id']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id;
  if v_trip.id is null then
    raise exception using errcode = 'P0002', message = 'trip not found';
  end if;

  v_needed := v_trip.adults + cardinality(v_trip.child_ages);
  select count(*) into v_have
  from public.trip_travelers tt
  where tt.trip_id = v_trip_id and tt.position between 1 and v_needed;
  if v_have <> v_needed then
    return jsonb_build_object('passengers', null, 'reason', 'travelers_missing');
  end if;

  v_key := app.traveler_data_key();
  select jsonb_agg(
    jsonb_build_object(
      'title', p.pii ->> 'title',
      'gender', p.pii ->> 'gender',
      'given_name', p.pii ->> 'given_name',
      'family_name', p.pii ->> 'family_name',
      'born_on', p.pii ->> 'born_on',
      'email', p.pii ->> 'email',
      'phone_number', p.pii ->> 'phone_number'
    ) || case when p.doc is null then '{}'::jsonb else jsonb_build_object('identity_document', p.doc) end
    order by p.position
  )
  into v_passengers
  from (
    select
      tt.position,
      app.data_decrypt(tr.pii, tr.data_key)::jsonb as pii,
      case when tr.identity_document is null then null
        else app.data_decrypt(tr.identity_document, tr.data_key)::jsonb end as doc
    from public.trip_travelers tt
    join public.travelers tr on tr.id = tt.traveler_id
    where tt.trip_id = v_trip_id and tt.position between 1 and v_needed
  ) as p;

  return jsonb_build_object('passengers', v_passengers);
end
$$;

-- REPLACED (from 20261202000100_travelers_and_trips_api.sql): decrypts each value with the key it records.
create or replace function app.traveler_view(t public.travelers, p_key text)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'id', t.id,
    'passenger_type', t.passenger_type,
    'version', t.version,
    'created_at', app.rfc3339(t.created_at),
    'updated_at', app.rfc3339(t.updated_at),
    'identity_document', case when t.identity_document is null then null
      else app.data_decrypt(t.identity_document, t.data_key)::jsonb end,
    'trips', coalesce((
      select jsonb_agg(jsonb_build_object('trip_id', tt.trip_id, 'position', tt.position)
        order by tt.trip_id, tt.position)
      from public.trip_travelers tt where tt.traveler_id = t.id), '[]'::jsonb)
  ) || app.data_decrypt(t.pii, t.data_key)::jsonb
$$;

-- REPLACED (from 20261202000100_travelers_and_trips_api.sql): decrypts each value with the key it records.
create or replace function app.travelers_attach_check(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_trip public.trip_requests;
  v_ids uuid[];
  v_key text;
begin
  perform app.monitor_args(args, array['trip_id', 'traveler_ids']);
  if jsonb_typeof(args -> 'traveler_ids') is distinct from 'array'
    or jsonb_array_length(args -> 'traveler_ids') not between 1 and 9 then
    raise exception using errcode = '22023', message = 'field traveler_ids must be an array of 1 to 9 uuids';
  end if;
  v_ids := array(select (x #>> '{}')::uuid from jsonb_array_elements(args -> 'traveler_ids') as x);
  select t.* into v_trip from public.trip_requests t
  where t.id = app.arg_uuid(args, 'trip_id') and t.owner_id = v_uid;
  if v_trip.id is null then
    return jsonb_build_object('trip', null, 'travelers', '[]'::jsonb);
  end if;
  if exists (select 1 from public.travelers t where t.owner_id = v_uid and t.id = any (v_ids)) then
    v_key := app.traveler_data_key();
  end if;
  return jsonb_build_object(
    'trip', jsonb_build_object(
      'id', v_trip.id, 'status', v_trip.status, 'adults', v_trip.adults,
      'child_ages', to_jsonb(v_trip.child_ages),
      'departure_date', to_char(v_trip.departure_date, 'YYYY-MM-DD'),
      'return_date', to_char(v_trip.return_date, 'YYYY-MM-DD')),
    'travelers', coalesce((
      select jsonb_agg(jsonb_build_object(
        'id', t.id, 'version', t.version,
        'born_on', app.data_decrypt(t.pii, t.data_key)::jsonb ->> 'born_on') order by t.id)
      from public.travelers t where t.owner_id = v_uid and t.id = any (v_ids)), '[]'::jsonb));
end
$$;

-- REPLACED (from 20261202000300_communications.sql): decrypts each value with the key it records.
create or replace function app.notify_claim_json(n public.notifications, key text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_trip public.trip_requests;
  v_offer jsonb;
  v_booking jsonb;
  v_passengers jsonb;
  v_recipient text;
  v_hash text;
  v_request text;
begin
  select t.* into v_trip from public.trip_requests t where t.id = n.trip_id;

  select jsonb_build_object(
    'departing_at', app.local_datetime(o.departing_at), 'arriving_at', app.local_datetime(o.arriving_at),
    'carriers', to_jsonb(o.carriers), 'stops', o.stops, 'duration_minutes', o.duration_minutes,
    'total_minor', o.total_minor, 'currency', o.currency
  ) into v_offer
  from public.flight_offers o where o.id = v_trip.selected_offer_id;

  select jsonb_build_object(
    'booking_reference', b.booking_reference, 'amount_minor', b.amount_minor, 'currency', b.currency
  ) into v_booking
  from public.bookings b where b.trip_id = n.trip_id
  order by b.created_at desc limit 1;

  select coalesce(jsonb_agg(jsonb_build_object(
      'given_name', p.pii ->> 'given_name', 'family_name', p.pii ->> 'family_name'
    ) order by p.position), '[]'::jsonb),
    (array_agg(p.pii ->> 'email' order by p.position))[1]
  into v_passengers, v_recipient
  from (
    select tt.position, app.data_decrypt(tr.pii, tr.data_key)::jsonb as pii
    from public.trip_travelers tt
    join public.travelers tr on tr.id = tt.traveler_id
    where tt.trip_id = n.trip_id
  ) p;

  -- No traveller on the trip (a plain watch): the account's own address.
  if v_recipient is null then
    select u.email into v_recipient from auth.users u where u.id = n.owner_id;
  end if;

  if n.request_enc is not null then
    v_request := app.data_decrypt(n.request_enc, n.request_key);
  end if;
  v_hash := coalesce(
    n.recipient_hash,
    case when v_recipient is not null then app.email_hash(v_recipient) end
  );

  return jsonb_build_object(
    'id', n.id,
    'template', n.template,
    'attempts', n.attempts,
    'status', n.status,
    'sending_at', app.rfc3339(n.sending_at),
    'stored_request', v_request,
    'recipient', case when n.request_enc is null then v_recipient end,
    'suppressed', v_hash is not null
      and exists (select 1 from public.email_suppressions s where s.address_hash = v_hash),
    'payload', n.payload,
    'trip', jsonb_build_object(
      'id', v_trip.id, 'origin', v_trip.origin, 'destination', v_trip.destination,
      'departure_date', v_trip.departure_date, 'return_date', v_trip.return_date,
      'adults', v_trip.adults, 'children', cardinality(v_trip.child_ages),
      'cabin', v_trip.cabin, 'max_total_minor', v_trip.max_total_minor,
      'currency', v_trip.currency, 'auto_book', v_trip.auto_book, 'status', v_trip.status,
      'last_error_code', v_trip.last_error_code
    ),
    'offer', v_offer,
    'booking', v_booking,
    'passengers', v_passengers
  );
end
$$;
