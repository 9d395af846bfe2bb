-- bootstrap.sql: what Supabase's Postgres image provides before any project migration runs.
--
-- STAND-IN. Applied by the local stack script as the `postgres` superuser BEFORE
-- `supabase db push`. It is never part of supabase/migrations: a real Supabase project already
-- has all of this. Idempotent: applying it twice is a no-op.
--
-- What it stands in for, and how it differs from the real thing:
--
-- * Roles (supabase/postgres `migrations/db/init-scripts/00000000000000-initial-schema.sql`):
--   anon, authenticated (nologin noinherit), service_role (nologin noinherit bypassrls),
--   authenticator (login noinherit, member of the three), each granted to postgres so that
--   `set role` / `set_config('role', …, true)` works as it does for PostgREST.
--   Differences: no supabase_admin, supabase_auth_admin, supabase_storage_admin, pgbouncer,
--   supabase_replication_admin, supabase_read_only_user; no passwords (trust auth locally);
--   `postgres` is a real superuser here, whereas on Supabase it is not. Role-level
--   statement_timeout (anon 3s, authenticated 8s) applies to sessions that LOG IN as those roles;
--   it does not apply after `set role`, exactly as in Postgres everywhere.
--   Default privileges: like projects created after 2026-05-30, new tables in `public` are NOT
--   granted to the API roles automatically (migrations must grant explicitly); functions and
--   sequences in `public` still are, as on Supabase.
--
-- * Schema `auth` (GoTrue's tables and supabase/auth migration 20240624145325): `auth.users` with
--   the columns GoTrue creates (subset: no instance-level tables such as identities, sessions,
--   refresh_tokens, mfa_*), and auth.uid(), auth.role(), auth.email(), auth.jwt() copied in
--   behaviour from Supabase (read `request.jwt.claim.*` / `request.jwt.claims`). Difference:
--   created_at/updated_at/aud/role have defaults here so that tests can insert users with plain
--   SQL; on Supabase, GoTrue fills them and nothing else writes to auth.users.
--
-- * Schema `vault` (supabase/vault 0.3.0): same table, view and function signatures.
--   Difference: NO ENCRYPTION. `secret` holds the plaintext and `decrypted_secret` is a copy; no
--   pgsodium, nonce stays null. Only superusers/postgres can read it, as on Supabase.
--
-- * Extensions `pg_cron` (real, needs shared_preload_libraries = 'pg_cron') and `pgtap` (real,
--   installed in schema `extensions` as on Supabase; postgres's search_path includes
--   `extensions`, as Supabase sets it).
--
-- * Schema `net`: the SQL half of a pg_net 0.20.4 stand-in. Same tables
--   (net.http_request_queue, net._http_response), same function signatures and defaults
--   (net.http_get, net.http_post, net.http_delete, net._http_collect_response,
--   net.http_collect_response, net._await_response, net.wake), same Content-Type rule for POST,
--   same URL-encoding of `params` (curl_easy_escape: everything but A-Z a-z 0-9 - . _ ~).
--   Differences: no C background worker. The functions insert a queue row and
--   `pg_notify('pg_net_wake', '')`; Postgres delivers NOTIFY only at COMMIT (never on rollback),
--   which gives pg_net's wake-at-commit semantics. A separate Deno process (written elsewhere in
--   this repository) LISTENs on `pg_net_wake`, drains the queue (≤ 200 rows), sends the requests,
--   writes net._http_response rows and deletes the queue rows. If that worker is not running,
--   requests simply wait in the queue (real pg_net raises when its worker is down). pg_net's
--   settings (pg_net.batch_size, pg_net.ttl), net.worker_restart(), net.wait_until_running(),
--   net.check_worker_is_up() and net.http_request() (0.21) are not provided.

set client_min_messages = warning;

-- ---------------------------------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------------------------------
do $roles$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$roles$;

-- Re-assert the attributes in case a role pre-existed with different ones.
alter role anon nologin noinherit;
alter role authenticated nologin noinherit;
alter role service_role nologin noinherit bypassrls;
alter role authenticator login noinherit;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';

-- ---------------------------------------------------------------------------------------------
-- Schemas `public` and `extensions`
-- ---------------------------------------------------------------------------------------------
create schema if not exists extensions;

grant usage on schema public to postgres, anon, authenticated, service_role;
grant usage on schema extensions to postgres, anon, authenticated, service_role;

alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;

alter role postgres set search_path = "$user", public, extensions;

create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgtap with schema extensions;
create extension if not exists pg_cron;

-- ---------------------------------------------------------------------------------------------
-- Schema `auth`
-- ---------------------------------------------------------------------------------------------
create schema if not exists auth;

create table if not exists auth.users (
  instance_id uuid null,
  id uuid not null primary key,
  aud varchar(255) null default 'authenticated',
  role varchar(255) null default 'authenticated',
  email varchar(255) null,
  encrypted_password varchar(255) null,
  email_confirmed_at timestamptz null,
  invited_at timestamptz null,
  confirmation_token varchar(255) null,
  confirmation_sent_at timestamptz null,
  recovery_token varchar(255) null,
  recovery_sent_at timestamptz null,
  email_change_token_new varchar(255) null,
  email_change varchar(255) null,
  email_change_sent_at timestamptz null,
  last_sign_in_at timestamptz null,
  raw_app_meta_data jsonb null default '{}'::jsonb,
  raw_user_meta_data jsonb null default '{}'::jsonb,
  is_super_admin bool null,
  created_at timestamptz null default now(),
  updated_at timestamptz null default now(),
  phone text null default null,
  phone_confirmed_at timestamptz null,
  phone_change text null default '',
  phone_change_token varchar(255) null default '',
  phone_change_sent_at timestamptz null,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current varchar(255) null default '',
  email_change_confirm_status smallint null default 0
    check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2),
  banned_until timestamptz null,
  reauthentication_token varchar(255) null default '',
  reauthentication_sent_at timestamptz null,
  is_sso_user boolean not null default false,
  deleted_at timestamptz null,
  is_anonymous boolean not null default false
);

create unique index if not exists users_email_partial_key on auth.users (email) where (is_sso_user = false);
create unique index if not exists users_phone_key on auth.users (phone);
create index if not exists users_instance_id_idx on auth.users (instance_id);

comment on table auth.users is
  'LOCAL STAND-IN for GoTrue''s auth.users (subset of columns). Auth: Stores user login data within a secure schema.';

create or replace function auth.uid()
returns uuid
language sql stable
set search_path to ''
as $$
  select
    coalesce(
      nullif(current_setting('request.jwt.claim.sub', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create or replace function auth.role()
returns text
language sql stable
set search_path to ''
as $$
  select
    coalesce(
      nullif(current_setting('request.jwt.claim.role', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

create or replace function auth.email()
returns text
language sql stable
set search_path to ''
as $$
  select
    coalesce(
      nullif(current_setting('request.jwt.claim.email', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;

create or replace function auth.jwt()
returns jsonb
language sql stable
set search_path to ''
as $$
  select
    coalesce(
      nullif(current_setting('request.jwt.claim', true), ''),
      nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';
comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';
comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead.';

grant usage on schema auth to anon, authenticated, service_role;
grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to anon, authenticated, service_role;
-- API roles cannot read auth.users on Supabase either; postgres (superuser here) can.
revoke all on auth.users from anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- Schema `vault` (plaintext stand-in for supabase_vault 0.3.0)
-- ---------------------------------------------------------------------------------------------
create schema if not exists vault;
revoke all on schema vault from public;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea default null,
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);

comment on table vault.secrets is
  'LOCAL STAND-IN: plaintext. On Supabase this column holds the pgsodium-encrypted secret.';

create unique index if not exists secrets_name_idx on vault.secrets using btree (name) where name is not null;

create or replace view vault.decrypted_secrets as
select
  s.id,
  s.name,
  s.description,
  s.secret,
  s.secret as decrypted_secret,
  s.key_id,
  s.nonce,
  s.created_at,
  s.updated_at
from vault.secrets s;

create or replace function vault.create_secret(
  new_secret text,
  new_name text = null,
  new_description text = '',
  -- unused, as in supabase_vault
  new_key_id uuid = null
)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  new_id uuid;
begin
  insert into vault.secrets (secret, name, description)
  values (new_secret, new_name, new_description)
  returning id into new_id;
  return new_id;
end
$$;

create or replace function vault.update_secret(
  secret_id uuid,
  new_secret text = null,
  new_name text = null,
  new_description text = null,
  -- unused, as in supabase_vault
  new_key_id uuid = null
)
returns void
language plpgsql
set search_path = ''
as $$
begin
  update vault.secrets s
  set
    secret = coalesce(new_secret, s.secret),
    name = coalesce(new_name, s.name),
    description = coalesce(new_description, s.description),
    updated_at = now()
  where s.id = secret_id;
end
$$;

revoke all on all tables in schema vault from public, anon, authenticated;
revoke all on function vault.create_secret(text, text, text, uuid) from public, anon, authenticated;
revoke all on function vault.update_secret(uuid, text, text, text, uuid) from public, anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- Schema `net` (SQL half of the pg_net 0.20.4 stand-in; see header)
-- ---------------------------------------------------------------------------------------------
create schema if not exists net;

create unlogged table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null check (method in ('GET', 'POST', 'DELETE')),
  url text not null,
  headers jsonb not null,
  body bytea,
  timeout_milliseconds int not null
);

create unlogged table if not exists net._http_response (
  id bigint,
  status_code int,
  content_type text,
  headers jsonb,
  content text,
  timed_out bool,
  error_msg text,
  created timestamptz not null default now()
);

create index if not exists _http_response_created_idx on net._http_response (created);

do $types$
begin
  if not exists (
    select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = 'net' and t.typname = 'request_status'
  ) then
    create type net.request_status as enum ('PENDING', 'SUCCESS', 'ERROR');
  end if;
  if not exists (
    select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = 'net' and t.typname = 'http_response'
  ) then
    create type net.http_response as (status_code integer, headers jsonb, body text);
  end if;
  if not exists (
    select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = 'net' and t.typname = 'http_response_result'
  ) then
    create type net.http_response_result as (
      status net.request_status,
      message text,
      response net.http_response
    );
  end if;
end
$types$;

-- curl_easy_escape: every byte of the UTF-8 encoding except A-Z a-z 0-9 - . _ ~ becomes %XX.
create or replace function net._urlencode_string(string varchar)
returns text
language sql
immutable
strict
set search_path = ''
as $$
  select coalesce(
    string_agg(
      case
        when b between 48 and 57 or b between 65 and 90 or b between 97 and 122
          or b in (45, 46, 95, 126)
          then chr(b)
        else '%' || upper(lpad(to_hex(b), 2, '0'))
      end,
      '' order by i
    ),
    ''
  )
  from (
    select i, get_byte(convert_to(string, 'UTF8'), i) as b
    from generate_series(0, octet_length(convert_to(string, 'UTF8')) - 1) as i
  ) as bytes
$$;

create or replace function net._encode_url_with_params_array(url text, params_array text[])
returns text
language sql
immutable
strict
set search_path = ''
as $$
  select case
    when cardinality(params_array) = 0 then url
    else url || case when strpos(url, '?') > 0 then '&' else '?' end
      || array_to_string(params_array, '&')
  end
$$;

-- Wake the (stand-in) worker. NOTIFY is delivered at COMMIT only, like pg_net's commit callback.
create or replace function net.wake()
returns void
language sql
set search_path = ''
as $$
  select pg_notify('pg_net_wake', '')
$$;

create or replace function net.http_get(
  -- url for the request
  url text,
  -- key/value pairs to be url encoded and appended to the `url`
  params jsonb default '{}'::jsonb,
  -- key/values to be included in request headers
  headers jsonb default '{}'::jsonb,
  -- the maximum number of milliseconds the request may take before being cancelled
  timeout_milliseconds int default 5000
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue (method, url, headers, timeout_milliseconds)
  values ('GET', net._encode_url_with_params_array(url, params_array), headers, timeout_milliseconds)
  returning id into request_id;

  perform pg_notify('pg_net_wake', '');

  return request_id;
end
$$;

create or replace function net.http_post(
  -- url for the request
  url text,
  -- body of the POST request
  body jsonb default '{}'::jsonb,
  -- key/value pairs to be url encoded and appended to the `url`
  params jsonb default '{}'::jsonb,
  -- key/values to be included in request headers
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  -- the maximum number of milliseconds the request may take before being cancelled
  timeout_milliseconds int default 5000
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  request_id bigint;
  params_array text[];
  content_type text;
begin
  select header_value into content_type
  from jsonb_each_text(coalesce(headers, '{}'::jsonb)) r(header_name, header_value)
  where lower(header_name) = 'content-type'
  limit 1;

  -- If the caller omitted the content type, add it back in automatically.
  if content_type is null then
    select headers || '{"Content-Type": "application/json"}'::jsonb into headers;
  end if;

  if content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;

  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (
    'POST',
    net._encode_url_with_params_array(url, params_array),
    headers,
    convert_to(body::text, 'UTF8'),
    timeout_milliseconds
  )
  returning id into request_id;

  perform pg_notify('pg_net_wake', '');

  return request_id;
end
$$;

create or replace function net.http_delete(
  -- url for the request
  url text,
  -- key/value pairs to be url encoded and appended to the `url`
  params jsonb default '{}'::jsonb,
  -- key/values to be included in request headers
  headers jsonb default '{}'::jsonb,
  -- the maximum number of milliseconds the request may take before being cancelled
  timeout_milliseconds int default 5000,
  -- optional body of the request
  body jsonb default null
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (
    'DELETE',
    net._encode_url_with_params_array(url, params_array),
    headers,
    convert_to(body::text, 'UTF8'),
    timeout_milliseconds
  )
  returning id into request_id;

  perform pg_notify('pg_net_wake', '');

  return request_id;
end
$$;

-- Blocks until a response row exists (polls every 50 ms), as pg_net does.
create or replace function net._await_response(request_id bigint)
returns bool
volatile
parallel safe
strict
language plpgsql
set search_path = ''
as $$
declare
  rec net._http_response;
begin
  while rec is null loop
    select * into rec from net._http_response where id = request_id;
    if rec is null then
      perform pg_sleep(0.05);
    end if;
  end loop;
  return true;
end
$$;

create or replace function net._http_collect_response(
  -- request_id reference
  request_id bigint,
  -- when `true`, return immediately. when `false` wait for the request to complete
  async bool default true
)
returns net.http_response_result
language plpgsql
set search_path = ''
as $$
declare
  rec net._http_response;
begin
  if not async then
    perform net._await_response(request_id);
  end if;

  select * into rec from net._http_response where id = request_id;

  if rec is null or rec.error_msg is not null then
    -- Still processing, or no such request (pg_net cannot tell them apart either).
    return (
      'ERROR',
      coalesce(rec.error_msg, 'request matching request_id not found'),
      null
    )::net.http_response_result;
  end if;

  return (
    'SUCCESS',
    'ok',
    (rec.status_code, rec.headers, rec.content)::net.http_response
  )::net.http_response_result;
end
$$;

-- Deprecated in pg_net; kept for signature parity.
create or replace function net.http_collect_response(request_id bigint, async bool default true)
returns net.http_response_result
language sql
set search_path = ''
as $$
  select net._http_collect_response(request_id, async)
$$;

grant usage on schema net to public;
grant all on all tables in schema net to public;
grant all on all sequences in schema net to public;
