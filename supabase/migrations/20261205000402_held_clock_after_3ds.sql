-- The held-money clock starts when the traveller finishes 3-D Secure, not when the attempt began.
--
-- app.stuck_attempts() (20261205000200) counts money as held since the attempt's created_at,
-- except in `await_traveller`, where it counts from the traveller's deadline. While an attempt
-- waits for the traveller's 3-D Secure the PaymentIntent is `requires_action`: no money is held
-- yet. So an attempt whose traveller authenticated more than 3 hours after it began (allowed: the
-- deadline is a day) was listed as stuck (health failing, `attempt_stuck` firing) the moment it
-- moved on to the order, although its money had been held for seconds. (docs/saga.md named this
-- as an open limit: noisy, never unsafe.)
--
-- New column booking_attempts.left_traveller_at: when the attempt last left `await_traveller`
-- (null if it never waited), kept by a BEFORE trigger (no caller writes it: whatever a caller
-- sends is replaced). REPLACED app.stuck_attempts(): the same, with money held since
-- greatest(created_at, left_traveller_at) outside `await_traveller`.

alter table public.booking_attempts add column left_traveller_at timestamptz;

comment on column public.booking_attempts.left_traveller_at is
  'When the attempt last left await_traveller (the traveller finished 3-D Secure): money is held from then on. Kept by a trigger.';

-- Named to fire after booking_attempts_derive (triggers fire in name order), which sets phase.
create function app.booking_attempts_held_clock()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    new.left_traveller_at := null;
  elsif old.phase = 'await_traveller' and new.phase is distinct from 'await_traveller' then
    new.left_traveller_at := now();
  else
    new.left_traveller_at := old.left_traveller_at;
  end if;
  return new;
end
$$;

revoke all on function app.booking_attempts_held_clock() from public, anon, authenticated, service_role;

create trigger booking_attempts_held_clock
before insert or update on public.booking_attempts
for each row execute function app.booking_attempts_held_clock();

create or replace function app.stuck_attempts()
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
                    -- after 3-D Secure the money is held from when the traveller finished it
                    else greatest(a.created_at, a.left_traveller_at) end
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
