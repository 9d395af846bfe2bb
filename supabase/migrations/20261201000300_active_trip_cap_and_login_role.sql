-- Issue 6, defects 5, 6 and 7 (docs/contracts.md "Errors from functions", docs/architecture.md
-- "The functions' database role"):
--
-- 5. A per-user cap on active trips. pipeline_settings.max_active_trips_per_user (default 20)
--    bounds how many trips one owner may have in an active status (searching, watching,
--    booking, needs_traveller: the ones the monitor keeps working on). A BEFORE INSERT / UPDATE
--    OF status trigger enforces it wherever a trip becomes active: app.create_trip (insert) and
--    an operator's retry `failed -> searching` (update); moves between active statuses are not
--    counted again. The trigger takes a transaction-scoped advisory lock on the owner first, so
--    two concurrent creates for one owner are serialized and cannot both pass the count. Refusal:
--    SQLSTATE PF001 (custom class PF, "Parker Flight"), message `too many active trips`, which the
--    shims map to 409 `too_many_active_trips`.
-- 7. Anonymous users (Supabase Auth's `is_anonymous` claim true) may create and re-search trips
--    (a price watch) but not auto-book ones: the same trigger refuses `auto_book = true` on insert
--    and any update that turns auto_book on, for a caller whose JWT claims say is_anonymous,
--    with SQLSTATE PF002, message `anonymous users cannot auto-book`, mapped to 403
--    `anonymous_auto_book_forbidden`. Callers without JWT claims (operators, the pipeline as
--    service_role) are not affected.
-- 6. The functions' own login role `pipeline_functions`: LOGIN, NOINHERIT, no password here
--    (set out of band, see docs/architecture.md), member of `authenticated` and `service_role`
--    only, so it has no privilege of its own and can do exactly what `set role authenticated`
--    (RLS, the caller's claims) and `set role service_role` (the monitor SQL API) allow. It is
--    not a superuser, cannot create roles or databases, does not bypass RLS by itself, cannot
--    read auth.users and cannot become postgres.

-- 5. The cap ---------------------------------------------------------------------------------------
alter table public.pipeline_settings
  add column max_active_trips_per_user integer not null default 20,
  add constraint pipeline_settings_max_active_trips_range
    check (max_active_trips_per_user between 1 and 10000);

comment on column public.pipeline_settings.max_active_trips_per_user is
  'How many trips one owner may have in searching/watching/booking/needs_traveller at once.';

-- True for the statuses the monitor keeps working on.
create function app.trip_status_is_active(status text)
returns boolean
language sql
immutable
strict
set search_path = ''
as $$
  select status in ('searching', 'watching', 'booking', 'needs_traveller')
$$;

revoke all on function app.trip_status_is_active(text) from public;
grant execute on function app.trip_status_is_active(text) to authenticated, service_role;

-- BEFORE INSERT OR UPDATE OF status, auto_book on trip_requests: the anonymous auto-book rule and
-- the active-trip cap. SECURITY DEFINER so that it can read pipeline_settings (service only) and
-- count the owner's trips whatever RLS lets the caller see.
create function app.trip_requests_limits()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  cap integer;
  active integer;
begin
  if new.auto_book
    and (tg_op = 'INSERT' or not old.auto_book)
    and coalesce((claims ->> 'is_anonymous')::boolean, false) then
    raise exception using
      errcode = 'PF002',
      message = 'anonymous users cannot auto-book',
      hint = 'sign in with a permanent account to let the pipeline book';
  end if;

  if app.trip_status_is_active(new.status)
    and (tg_op = 'INSERT' or not app.trip_status_is_active(old.status)) then
    -- One owner at a time: a concurrent create for the same owner waits here until this
    -- transaction ends, then counts what it committed.
    perform pg_catalog.pg_advisory_xact_lock(
      pg_catalog.hashtext('app.trip_requests_limits'), pg_catalog.hashtext(new.owner_id::text));
    select s.max_active_trips_per_user into cap from public.pipeline_settings s where s.id;
    select count(*) into active
    from public.trip_requests t
    where t.owner_id = new.owner_id
      and app.trip_status_is_active(t.status)
      and t.id <> new.id;
    if active >= coalesce(cap, 20) then
      raise exception using
        errcode = 'PF001',
        message = 'too many active trips',
        detail = format('at most %s active trips per user', coalesce(cap, 20)),
        hint = 'cancel a trip or wait until one ends';
    end if;
  end if;
  return new;
end
$$;

revoke all on function app.trip_requests_limits() from public;

create trigger trip_requests_limits
before insert or update of status, auto_book on public.trip_requests
for each row execute function app.trip_requests_limits();

-- The count above, per owner.
create index if not exists trip_requests_owner_active_idx on public.trip_requests (owner_id)
  where status in ('searching', 'watching', 'booking', 'needs_traveller');

-- 6. The functions' login role -----------------------------------------------------------------------
do $role$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'pipeline_functions') then
    create role pipeline_functions login noinherit nosuperuser nocreatedb nocreaterole
      nobypassrls noreplication;
  end if;
end
$role$;

-- Re-assert the attributes in case the role pre-existed (no password is set or changed here).
alter role pipeline_functions login noinherit nosuperuser nocreatedb nocreaterole nobypassrls
  noreplication;

comment on role pipeline_functions is
  'Login role of the Edge Functions (PIPELINE_DB_URL): no privileges of its own; acts only after set role authenticated / service_role.';

grant authenticated, service_role to pipeline_functions;

-- Nothing else: schema usage and EXECUTE on the app API come only with `set role`.
revoke all on schema app from pipeline_functions;
revoke all on schema public from pipeline_functions;
