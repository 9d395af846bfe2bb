-- Money held for hours is stuck, even when the attempt keeps moving.
--
-- app.stuck_attempts() (20261203000602_health.sql) finds open attempts IDLE for 30 minutes past
-- their expected time. An attempt that retries a call every few minutes is never idle: a release
-- whose cancel meets a Stripe outage that lasts all day (outage retries never count toward the
-- release bound, saga/apply.rs RELEASE_MAX_SENDS), or a capture retried the same way, kept the
-- traveller's money held with no operator alert (docs/saga.md named this as an open limit).
--
-- REPLACED: app.stuck_attempts() also returns an open attempt that holds money (a PaymentIntent
-- in a phase between the authorization and its capture or release, the phases the health
-- snapshot's `money_held` counts) for more than 3 hours since the attempt began, or since the
-- traveller's 3-D Secure deadline for `await_traveller` (waiting for the traveller until then
-- is on purpose). A healthy attempt holds money for seconds to minutes. `find_intent` (an
-- authorization of unknown outcome, no intent id yet) counts as holding money. Excluded: trips
-- handed to an operator (`needs_operator` has its own alert), and attempts reconciling an
-- unknown order outcome for less than 8 hours (alert `order_outcome_unknown`; the look-ups last
-- up to 6 hours). The health check
-- `stuck_attempts` and the alert rule `attempt_stuck` (one alert per attempt, resolved when the
-- attempt closes or leaves the money phases) both read this function, so both now see it;
-- `idle_seconds` stays the idle time (0 to a few minutes for such a retrying attempt), and the
-- new column `held_seconds` (null when no money is held) says how long the money has been held.

drop function app.stuck_attempts();

create function app.stuck_attempts()
returns table (attempt_id uuid, trip_id uuid, phase text, idle_seconds bigint, held_seconds bigint)
language sql
stable
security definer
set search_path = ''
as $$
  with open_attempts as (
    select a.id, a.trip_id, a.phase, a.reason,
           greatest(a.updated_at, coalesce(
             case when (a.state ->> 'not_before') ~ '^\d{4}-\d\d-\d\dT'
               then (a.state ->> 'not_before')::timestamptz end, a.updated_at)) as expected_at,
           case when (a.state #>> '{phase,deadline}') ~ '^\d{4}-\d\d-\d\dT'
             then (a.state #>> '{phase,deadline}')::timestamptz end as deadline,
           -- find_intent looks for an authorization of unknown outcome: no intent id yet,
           -- but money may be held
           case when a.phase = 'find_intent' or (a.payment_intent is not null
                 and a.phase in ('authorize', 'await_traveller', 'order', 'reconcile', 'capture',
                                 'release'))
             then case when a.phase = 'await_traveller' and (a.state #>> '{phase,deadline}') ~ '^\d{4}-\d\d-\d\dT'
                    then greatest(a.created_at, (a.state #>> '{phase,deadline}')::timestamptz)
                    else a.created_at end
           end as held_since
    from public.booking_attempts a
    join public.trip_requests t on t.id = a.trip_id
    where a.open
      and t.status <> 'needs_operator'
  )
  select o.id, o.trip_id, o.phase,
         extract(epoch from now() - o.expected_at)::bigint,
         extract(epoch from now() - o.held_since)::bigint
  from open_attempts o
  where (
      -- idle 30 minutes past the expected time; waiting for the traveller's 3-D Secure
      -- (20261203000100) is expected idleness until its deadline (the saga releases then)
      o.expected_at < now() - interval '30 minutes'
      and not (o.phase = 'await_traveller' and o.deadline > now() - interval '30 minutes')
    ) or (
      -- money held for more than 3 hours, however busy the attempt is
      o.held_since < now() - interval '3 hours'
      -- reconciling an unknown order outcome has its own alert and may look the order up for
      -- up to 6 hours (its reason changes on the way); past 8 hours it is stuck too
      and not (o.phase = 'reconcile' and o.held_since >= now() - interval '8 hours')
    )
$$;

comment on function app.stuck_attempts() is
  'Open attempts idle 30 minutes past their expected time, or holding money for over 3 hours (trips not handed to an operator). Health check stuck_attempts and alert rule attempt_stuck.';

revoke all on function app.stuck_attempts() from public, anon, authenticated;
grant execute on function app.stuck_attempts() to service_role;
