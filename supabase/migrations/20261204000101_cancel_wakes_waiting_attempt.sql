-- Issue 7 (lower item): a traveller's cancel of a trip whose attempt waits for them
-- (`await_traveller`, or re-pricing / ordering on the hold they authenticated) makes the trip due
-- now, so the saga releases the intent at the next monitor run instead of at the 15-minute poll.
-- `use_another_card` already does this in app.trips_payment; the cancel is recorded by
-- app.trips_control (and the erasure), so a trigger sets it wherever cancel_requested_at is set.
create function app.trip_requests_cancel_wakes_attempt()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.cancel_requested_at is not null and old.cancel_requested_at is null
    and exists (select 1 from public.booking_attempts a
                where a.trip_id = new.id and a.open
                  and (a.phase = 'await_traveller'
                       or (a.phase in ('reprice', 'order') and jsonb_typeof(a.state -> 'authorized') = 'object')))
    and (new.next_check_at is null or new.next_check_at > now()) then
    new.next_check_at := now();
  end if;
  return new;
end
$$;

revoke all on function app.trip_requests_cancel_wakes_attempt() from public, anon, authenticated;

create trigger trip_requests_cancel_wakes_attempt
before update of cancel_requested_at on public.trip_requests
for each row execute function app.trip_requests_cancel_wakes_attempt();
