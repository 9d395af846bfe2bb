-- Health (issue 9, item 2): the numbers the `health` function's checks are made of. The
-- function (booking_core::health) turns them into pass/fail; no personal data here: counts,
-- ages in seconds, amounts per currency.
--
-- app.stuck_attempts() -> setof (attempt_id, trip_id, phase, idle_seconds)
--   Open attempts that have not moved for 30 minutes past their expected time (the attempt's
--   `not_before` when it waits on purpose, e.g. a reconcile spacing; else its last update), on
--   trips not already handed to an operator (`needs_operator` has its own alert). Runs every 30
--   to 60 s and a claim lease of 2 minutes mean a healthy attempt moves within minutes.
--   Shared by the health check and the `attempt_stuck` alert rule.
-- app.health_snapshot(args jsonb '{}') -> jsonb, service only:
--   {"monitor_enabled", "heartbeat_age_s" (null: never ran), "schedule_interval_s" (of the
--    pg_cron job auto-book-monitor: 30 for '30 seconds', 60 for a per-minute cron line),
--    "due_backlog", "due_oldest_age_s" (the trips a run would claim: while the monitor is paused
--    only those whose open attempt may hold money, so a deliberate pause is not a backlog),
--    "stuck_attempts", "needs_operator",
--    "outbox_backlog", "outbox_oldest_age_s", "outbox_dead_24h",
--    "alert_backlog", "alert_dead",
--    "money_held": [{"currency", "amount_minor", "attempts", "oldest_age_s"}]}
--   Money held: open attempts with a PaymentIntent in a phase between the authorization and its
--   capture or release (authorize, find_intent, order, reconcile, capture, release).

create function app.stuck_attempts()
returns table (attempt_id uuid, trip_id uuid, phase text, idle_seconds bigint)
language sql
stable
security definer
set search_path = ''
as $$
  select a.id, a.trip_id, a.phase,
         extract(epoch from now() - greatest(a.updated_at, coalesce(
           case when (a.state ->> 'not_before') ~ '^\d{4}-\d\d-\d\dT'
             then (a.state ->> 'not_before')::timestamptz end, a.updated_at)))::bigint
  from public.booking_attempts a
  join public.trip_requests t on t.id = a.trip_id
  where a.open
    and t.status <> 'needs_operator'
    -- waiting for the traveller's 3-D Secure (20261203000100) is expected idleness until its
    -- deadline (the saga releases then); only 30 minutes past the deadline is it stuck
    and not (a.phase = 'await_traveller' and (a.state #>> '{phase,deadline}') ~ '^\d{4}-\d\d-\d\dT'
             and (a.state #>> '{phase,deadline}')::timestamptz > now() - interval '30 minutes')
    and greatest(a.updated_at, coalesce(
          case when (a.state ->> 'not_before') ~ '^\d{4}-\d\d-\d\dT'
            then (a.state ->> 'not_before')::timestamptz end, a.updated_at))
        < now() - interval '30 minutes'
$$;

revoke all on function app.stuck_attempts() from public;
grant execute on function app.stuck_attempts() to service_role;

create function app.health_snapshot(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_settings public.pipeline_settings;
  v_schedule text;
  v_interval integer;
  v_out jsonb;
begin
  select s.* into v_settings from public.pipeline_settings s where s.id;
  select j.schedule into v_schedule from cron.job j where j.jobname = 'auto-book-monitor';
  v_interval := case
    when v_schedule ~ '^\d+ seconds?$' then split_part(v_schedule, ' ', 1)::integer
    when v_schedule is null then null
    else 60
  end;

  select jsonb_build_object(
    'monitor_enabled', coalesce(v_settings.monitor_enabled, false),
    'heartbeat_age_s', extract(epoch from now() - v_settings.heartbeat_at)::bigint,
    'schedule_interval_s', v_interval,
    'due_backlog', d.n,
    'due_oldest_age_s', d.oldest,
    'stuck_attempts', (select count(*) from app.stuck_attempts()),
    'needs_operator', (select count(*) from public.trip_requests t where t.status = 'needs_operator'),
    'outbox_backlog', o.n,
    'outbox_oldest_age_s', o.oldest,
    'outbox_dead_24h', (select count(*) from public.notifications n
                        where n.status = 'dead' and n.updated_at > now() - interval '24 hours'),
    'alert_backlog', (select count(*) from public.operator_alert_deliveries x
                      where x.status in ('pending', 'sending')),
    'alert_dead', (select count(*) from public.operator_alert_deliveries x where x.status = 'dead'),
    'money_held', coalesce((
      select jsonb_agg(jsonb_build_object('currency', m.currency, 'amount_minor', m.amount,
                                          'attempts', m.n, 'oldest_age_s', m.oldest)
                       order by m.currency)
      from (
        select coalesce(a.currency, 'XXX') as currency, sum(coalesce(a.amount_minor, 0))::bigint as amount,
               count(*) as n, extract(epoch from now() - min(a.created_at))::bigint as oldest
        from public.booking_attempts a
        where a.open and a.payment_intent is not null
          and a.phase in ('authorize', 'find_intent', 'await_traveller', 'order', 'reconcile', 'capture',
                          'release')
        group by 1
      ) m), '[]'::jsonb)
  ) into v_out
  from (
    select count(*) as n, extract(epoch from now() - min(t.next_check_at))::bigint as oldest
    from public.trip_requests t
    where t.status in ('searching', 'watching', 'booking') and t.next_check_at <= now()
      -- what a run would claim: while the monitor is paused only attempts that may hold money
      and (coalesce(v_settings.monitor_enabled, false)
        or (t.status = 'booking'
          and exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open)))
  ) d,
  (
    select count(*) as n, extract(epoch from now() - min(n.next_attempt_at))::bigint as oldest
    from public.notifications n
    where n.status in ('pending', 'sending') and n.next_attempt_at <= now()
  ) o;
  return v_out;
end
$$;

revoke all on function app.health_snapshot(jsonb) from public, anon, authenticated;
grant execute on function app.health_snapshot(jsonb) to service_role;
