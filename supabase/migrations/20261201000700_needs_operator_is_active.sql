-- Review fix: a trip flagged for an operator (`needs_operator`, added after the active-trip cap)
-- still holds or moved the traveller's money and is still the pipeline's work, so it counts as
-- active. Without this, the owner could fill the cap while a trip is flagged, and the operator's
-- `app.operator_resume_attempt` (needs_operator -> booking) would then be refused with PF001.

create or replace function app.trip_status_is_active(status text)
returns boolean
language sql
immutable
strict
set search_path = ''
as $$
  select status in ('searching', 'watching', 'booking', 'needs_traveller', 'needs_operator')
$$;

comment on column public.pipeline_settings.max_active_trips_per_user is
  'How many trips one owner may have in searching/watching/booking/needs_traveller/needs_operator at once.';

drop index if exists public.trip_requests_owner_active_idx;
create index trip_requests_owner_active_idx on public.trip_requests (owner_id)
  where status in ('searching', 'watching', 'booking', 'needs_traveller', 'needs_operator');
