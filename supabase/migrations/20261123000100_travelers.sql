-- travelers, trip_travelers, payment_profiles: who flies and who pays (issue 3).
--
-- travelers holds the minimum personal data needed to ticket (title, gender, given and family
-- name, birth date, email, phone). All of it is ENCRYPTED AT REST in one column, `pii`:
-- pgcrypto's pgp_sym_encrypt over the JSON object of those seven fields, under a key read at run
-- time from Vault (`vault.decrypted_secrets`, name `traveler_data_key`). The key never sits in
-- the repository: on Supabase create it once with
--   select vault.create_secret('<long random key>', 'traveler_data_key', 'travelers.pii key');
-- locally scripts/stack.sh seeds it from TRAVELER_DATA_KEY in .local/env. Only non-personal
-- columns (ids, passenger type, timestamps) are in the clear. Losing the key loses the data.
--
-- payment_profiles holds Stripe ids only (customer `cus_…`, payment method `pm_…`), never card
-- data.

-- pgcrypto lives in `extensions` on Supabase (pre-installed there) and in the local bootstrap.
create extension if not exists pgcrypto with schema extensions;

-- The traveler data key from Vault. SECURITY DEFINER (owner: the migration role, which can read
-- Vault); EXECUTE for nobody but the functions of this schema that run as the same owner.
-- 55000 when the secret is missing: the pipeline cannot ticket without it.
create function app.traveler_data_key()
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_key text;
begin
  select s.decrypted_secret into v_key
  from vault.decrypted_secrets s
  where s.name = 'traveler_data_key'
  order by s.created_at desc
  limit 1;
  if v_key is null or length(v_key) < 16 then
    raise exception using
      errcode = '55000',
      message = 'vault secret traveler_data_key is missing or shorter than 16 characters';
  end if;
  return v_key;
end
$$;

revoke all on function app.traveler_data_key() from public, anon, authenticated, service_role;

create table public.travelers (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references auth.users (id) on delete cascade,
  -- Not personal: what the airline needs to price the seat.
  passenger_type text not null default 'adult',
  -- pgp_sym_encrypt('{"title":…,"gender":…,"given_name":…,"family_name":…,"born_on":…,
  -- "email":…,"phone_number":…}', traveler_data_key). Never decrypted outside app.* functions.
  pii bytea not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  constraint travelers_passenger_type_known check (passenger_type in ('adult', 'child', 'infant_without_seat')),
  -- An OpenPGP message: a symmetric-key ESK packet first (tag 3; old format 0x8c/0x8d, new 0xc3),
  -- so plaintext cannot be stored by mistake.
  constraint travelers_pii_encrypted check (
    octet_length(pii) between 16 and 8192 and get_byte(pii, 0) in (140, 141, 195)
  ),
  -- Target of trip_travelers' composite key (a traveler of the SAME owner as the trip).
  constraint travelers_id_owner_key unique (id, owner_id)
);

comment on table public.travelers is
  'Passengers to ticket. Personal data is in `pii`, encrypted with pgp_sym_encrypt under Vault secret traveler_data_key; owners read only the clear columns.';
comment on column public.travelers.pii is
  'pgp_sym_encrypt(json of title, gender, given_name, family_name, born_on, email, phone_number). No plaintext PII anywhere else.';

create index travelers_owner_idx on public.travelers (owner_id);

create trigger travelers_touch_updated_at
before update on public.travelers
for each row execute function app.touch_updated_at();

-- A trip's passengers, in the trip's passenger order: positions 1..adults are the adults, then
-- the children in child_ages order (what app.monitor_passengers returns).
-- The trip and the traveler must belong to the same owner: composite keys on (id, owner_id).
alter table public.trip_requests
  add constraint trip_requests_id_owner_key unique (id, owner_id);

create table public.trip_travelers (
  trip_id uuid not null,
  owner_id uuid not null,
  traveler_id uuid not null,
  position smallint not null,
  created_at timestamptz not null default now(),

  constraint trip_travelers_pkey primary key (trip_id, position),
  constraint trip_travelers_trip_fkey foreign key (trip_id, owner_id)
    references public.trip_requests (id, owner_id) on delete cascade,
  constraint trip_travelers_traveler_fkey foreign key (traveler_id, owner_id)
    references public.travelers (id, owner_id) on delete cascade,
  constraint trip_travelers_traveler_once unique (trip_id, traveler_id),
  constraint trip_travelers_position_range check (position between 1 and 9)
);

comment on table public.trip_travelers is
  'Which travelers fly on a trip, by position (adults first, then children in child_ages order).';

create index trip_travelers_traveler_idx on public.trip_travelers (traveler_id);

-- Stores a traveler for `owner_id` and returns its id. Service only (the user-facing API is a
-- later issue; tests and the demo seed travelers through this). Validates the seven fields'
-- shape, then encrypts them together. Errors: 22023 for a bad shape (the message names the
-- field, never its value), 55000 when the Vault key is missing.
create function app.create_traveler(owner_id uuid, traveler jsonb)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  fields constant text[] := array[
    'title', 'gender', 'given_name', 'family_name', 'born_on', 'email', 'phone_number'
  ];
  k text;
  v_type text;
  v_pii jsonb;
  v_id uuid;
begin
  if traveler is null or jsonb_typeof(traveler) <> 'object' then
    raise exception using errcode = '22023', message = 'traveler must be a JSON object';
  end if;
  for k in select e.key from jsonb_each(traveler) as e loop
    if not (k = any (fields) or k = 'passenger_type') then
      raise exception using errcode = '22023', message = format('unknown field: %s', left(k, 64));
    end if;
  end loop;
  foreach k in array fields loop
    if jsonb_typeof(traveler -> k) is distinct from 'string' or length(traveler ->> k) not between 1 and 200 then
      raise exception using errcode = '22023', message = format('field %s must be a non-empty string', k);
    end if;
  end loop;
  if (traveler ->> 'title') not in ('mr', 'ms', 'mrs', 'miss', 'dr') then
    raise exception using errcode = '22023', message = 'field title must be mr, ms, mrs, miss or dr';
  end if;
  if (traveler ->> 'gender') not in ('m', 'f') then
    raise exception using errcode = '22023', message = 'field gender must be m or f';
  end if;
  if (traveler ->> 'born_on') !~ '^\d{4}-\d{2}-\d{2}$' then
    raise exception using errcode = '22023', message = 'field born_on must be an ISO date (YYYY-MM-DD)';
  end if;
  perform (traveler ->> 'born_on')::date;
  if (traveler ->> 'email') !~ '^[^@\s]+@[^@\s]+$' then
    raise exception using errcode = '22023', message = 'field email must be an email address';
  end if;
  if (traveler ->> 'phone_number') !~ '^\+[1-9][0-9]{6,14}$' then
    raise exception using errcode = '22023', message = 'field phone_number must be E.164 (+4420…)';
  end if;
  v_type := coalesce(traveler ->> 'passenger_type', 'adult');

  select jsonb_object_agg(f, traveler ->> f) into v_pii from unnest(fields) as f;

  begin
    insert into public.travelers (owner_id, passenger_type, pii)
    values (
      create_traveler.owner_id,
      v_type,
      extensions.pgp_sym_encrypt(v_pii::text, app.traveler_data_key(), 'cipher-algo=aes256')
    )
    returning id into v_id;
  exception
    when foreign_key_violation then
      raise exception using errcode = 'P0002', message = 'owner not found';
  end;
  return v_id;
end
$$;

revoke all on function app.create_traveler(uuid, jsonb) from public, anon, authenticated;
grant execute on function app.create_traveler(uuid, jsonb) to service_role;

create table public.payment_profiles (
  owner_id uuid primary key references auth.users (id) on delete cascade,
  stripe_customer_id text not null,
  stripe_payment_method_id text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  constraint payment_profiles_customer_format check (stripe_customer_id ~ '^cus_[A-Za-z0-9_]{1,250}$'),
  constraint payment_profiles_payment_method_format check (stripe_payment_method_id ~ '^pm_[A-Za-z0-9_]{1,250}$')
);

comment on table public.payment_profiles is
  'The Stripe customer and saved payment method used off-session. Stripe ids only, never card data.';

create trigger payment_profiles_touch_updated_at
before update on public.payment_profiles
for each row execute function app.touch_updated_at();
