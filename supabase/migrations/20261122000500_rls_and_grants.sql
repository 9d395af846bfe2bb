-- Row level security and explicit grants for the pipeline tables.
--
-- Supabase no longer grants new `public` tables to the API roles automatically (2026), and older
-- projects still have default privileges that do; so every grant is explicit, and everything
-- else is revoked first. The model:
--   anon           nothing
--   authenticated  SELECT only, and RLS limits it to rows of trips the user owns
--   service_role   everything (it bypasses RLS)
-- All pipeline writes go through the SECURITY DEFINER functions in schema `app`.

alter table public.trip_requests enable row level security;
alter table public.flight_offers enable row level security;
alter table public.pipeline_events enable row level security;

revoke all on table public.trip_requests from public, anon, authenticated, service_role;
revoke all on table public.flight_offers from public, anon, authenticated, service_role;
revoke all on table public.pipeline_events from public, anon, authenticated, service_role;

grant select on table public.trip_requests to authenticated;
grant select on table public.flight_offers to authenticated;
grant select on table public.pipeline_events to authenticated;

grant all on table public.trip_requests to service_role;
grant all on table public.flight_offers to service_role;
grant all on table public.pipeline_events to service_role;
grant usage, select on sequence public.pipeline_events_id_seq to service_role;

-- `(select auth.uid())` is evaluated once per statement instead of once per row.
create policy trip_requests_owner_select on public.trip_requests
  for select to authenticated
  using (owner_id = (select auth.uid()));

create policy flight_offers_owner_select on public.flight_offers
  for select to authenticated
  using (
    exists (
      select 1 from public.trip_requests t
      where t.id = flight_offers.trip_id and t.owner_id = (select auth.uid())
    )
  );

create policy pipeline_events_owner_select on public.pipeline_events
  for select to authenticated
  using (
    exists (
      select 1 from public.trip_requests t
      where t.id = pipeline_events.trip_id and t.owner_id = (select auth.uid())
    )
  );
