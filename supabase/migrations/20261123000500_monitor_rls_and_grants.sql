-- Row level security and explicit grants for the issue-3 tables (same model as
-- 20261122000500_rls_and_grants.sql):
--   anon           nothing
--   authenticated  SELECT of their own rows (travelers: the clear columns only, never `pii`);
--                  nothing at all on pipeline_settings and monitor_runs
--   service_role   what the pipeline needs (it bypasses RLS)
-- All pipeline writes go through the SECURITY DEFINER functions in schema `app`.

alter table public.travelers enable row level security;
alter table public.trip_travelers enable row level security;
alter table public.payment_profiles enable row level security;
alter table public.booking_attempts enable row level security;
alter table public.bookings enable row level security;
alter table public.notifications enable row level security;
alter table public.pipeline_settings enable row level security;
alter table public.monitor_runs enable row level security;

revoke all on table public.travelers from public, anon, authenticated, service_role;
revoke all on table public.trip_travelers from public, anon, authenticated, service_role;
revoke all on table public.payment_profiles from public, anon, authenticated, service_role;
revoke all on table public.booking_attempts from public, anon, authenticated, service_role;
revoke all on table public.bookings from public, anon, authenticated, service_role;
revoke all on table public.notifications from public, anon, authenticated, service_role;
revoke all on table public.pipeline_settings from public, anon, authenticated, service_role;
revoke all on table public.monitor_runs from public, anon, authenticated, service_role;

-- Owners: read only. travelers: column grant without the ciphertext.
grant select (id, owner_id, passenger_type, created_at, updated_at) on table public.travelers to authenticated;
grant select on table public.trip_travelers to authenticated;
grant select on table public.payment_profiles to authenticated;
grant select on table public.booking_attempts to authenticated;
grant select on table public.bookings to authenticated;
grant select on table public.notifications to authenticated;

-- The pipeline (and operators through the service key).
grant select, insert, update, delete on table public.travelers to service_role;
grant select, insert, update, delete on table public.trip_travelers to service_role;
grant select, insert, update, delete on table public.payment_profiles to service_role;
grant select, insert, update on table public.booking_attempts to service_role;
grant select, insert, update on table public.bookings to service_role;
grant select, insert, update, delete on table public.notifications to service_role;
grant select, update on table public.pipeline_settings to service_role;
grant select, insert, update, delete on table public.monitor_runs to service_role;

-- `(select auth.uid())` is evaluated once per statement instead of once per row.
create policy travelers_owner_select on public.travelers
  for select to authenticated
  using (owner_id = (select auth.uid()));

create policy trip_travelers_owner_select on public.trip_travelers
  for select to authenticated
  using (owner_id = (select auth.uid()));

create policy payment_profiles_owner_select on public.payment_profiles
  for select to authenticated
  using (owner_id = (select auth.uid()));

create policy booking_attempts_owner_select on public.booking_attempts
  for select to authenticated
  using (
    exists (
      select 1 from public.trip_requests t
      where t.id = booking_attempts.trip_id and t.owner_id = (select auth.uid())
    )
  );

create policy bookings_owner_select on public.bookings
  for select to authenticated
  using (
    exists (
      select 1 from public.trip_requests t
      where t.id = bookings.trip_id and t.owner_id = (select auth.uid())
    )
  );

create policy notifications_owner_select on public.notifications
  for select to authenticated
  using (owner_id = (select auth.uid()));

-- pipeline_settings and monitor_runs: RLS on and no policy, so only RLS-bypassing roles
-- (service_role, postgres) see rows even if a grant is added by mistake.
