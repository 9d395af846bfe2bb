-- Schema `app`: the SQL API the Edge Functions call, plus shared helpers.
--
-- `app` is not in PostgREST's exposed schemas (Supabase exposes `public` and `graphql_public` by
-- default), so nothing here is reachable through the Data API. Functions are callable only by
-- the roles they are explicitly granted to; EXECUTE is revoked from PUBLIC for every function in
-- this schema, including future ones.
--
-- Error contract of the app.* functions (the shim maps SQLSTATE -> HTTP, docs/contracts.md):
--   28000 invalid_authorization_specification  no user in the JWT claims / unknown user -> 401 unauthorized
--   P0002 no_data_found                         trip missing OR not the caller's        -> 404 not_found
--   22023 invalid_parameter_value               bad JSON shape, unknown/missing field   -> 400 validation_failed
--   22P02 invalid_text_representation           a value that does not parse (uuid, date) -> 400 validation_failed
--   22007 / 22008 datetime format / overflow    bad date or timestamp                    -> 400 validation_failed
--   22003 numeric_value_out_of_range            number too large for its column          -> 400 validation_failed
--   23502 not_null_violation                    missing required value                   -> 400 validation_failed
--   23514 check_violation                       an invariant (constraint name says which) -> 400 validation_failed
--   55000 object_not_in_prerequisite_state      illegal status transition / trip not in a
--                                               state that accepts this write            -> 409 (internal for the pipeline)
-- Anything else is a bug or an outage -> 500 internal.

create schema if not exists app;

revoke all on schema app from public;
grant usage on schema app to authenticated, service_role;

alter default privileges in schema app revoke execute on functions from public;

-- RFC 3339 UTC with milliseconds ("2026-11-22T12:00:00.000Z"), the format the core reads and
-- writes; independent of the session's TimeZone.
create function app.rfc3339(ts timestamptz)
returns text
language sql
stable
set search_path = ''
as $$
  select to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Local date-time without offset ("2027-03-12T09:00:00"), for airport-local `timestamp` columns.
create function app.local_datetime(ts timestamp)
returns text
language sql
stable
set search_path = ''
as $$
  select to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS')
$$;

-- True when the role that called into the current SECURITY DEFINER function bypasses RLS anyway
-- (service_role, or a direct privileged connection such as pg_cron's `postgres` with no role
-- set). Such callers may act on any trip; everyone else only on trips they own.
-- `current_setting('role')` is the role chosen by SET ROLE / set_config('role', ...), which a
-- SECURITY DEFINER call does not change; 'none' means the login role itself.
create function app.caller_bypasses_rls()
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (
      select r.rolsuper or r.rolbypassrls
      from pg_catalog.pg_roles r
      where r.rolname = case
        when coalesce(current_setting('role', true), 'none') in ('none', '') then session_user
        else current_setting('role', true)
      end
    ),
    false
  )
$$;

-- Maintains updated_at on every UPDATE.
create function app.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

revoke all on function app.rfc3339(timestamptz) from public;
revoke all on function app.local_datetime(timestamp) from public;
revoke all on function app.caller_bypasses_rls() from public;
revoke all on function app.touch_updated_at() from public;
