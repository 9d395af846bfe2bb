-- Issue 7 review fix: the cancel wake-up (20261204000101_cancel_wakes_waiting_attempt.sql) also
-- moved next_check_at to now() for an attempt in phase `order`. For a run ordering, next_check_at
-- is the claim's lease (app.monitor_claim sets it to now() + lease_seconds), so a second run
-- could claim while the first is still ordering and end in reconcile. REPLACED: the trip is made
-- due now only while the open attempt is in a phase without a side effect in flight:
--   * `await_traveller`, or `reprice` on the hold the traveller authenticated
--     (`state.authorized` present): a re-price is a read, and the order it would lead to is
--     refused by the app.monitor_save_attempt guard (20261204000100) while the cancel is pending;
--   * and the stored state has no request in flight (`state.in_flight` not true): a run that
--     saved its mark and is waiting for the provider keeps its lease.
-- Never for `order`, `authorize`, `capture`, `release`, `reconcile`, `find_intent`. Whether a run
-- holds the lease of a reprice / await_traveller attempt cannot be told from the row (the lease
-- and a poll time are both just next_check_at); a second claim then re-reads and the
-- versioned save lets one of the two runs win, and neither sends an order (the guard).
create or replace function app.trip_requests_cancel_wakes_attempt()
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
                       or (a.phase = 'reprice' and jsonb_typeof(a.state -> 'authorized') = 'object'))
                  and coalesce(a.state ->> 'in_flight', 'false') <> 'true')
    and (new.next_check_at is null or new.next_check_at > now()) then
    new.next_check_at := now();
  end if;
  return new;
end
$$;

revoke all on function app.trip_requests_cancel_wakes_attempt() from public, anon, authenticated;
