-- The health snapshot's `money_held` ages count from when money was first held, as
-- app.stuck_attempts() does since 20261205000402: the attempt's start, or when the traveller
-- finished 3-D Secure (booking_attempts.left_traveller_at); an attempt still waiting for the
-- traveller holds nothing yet (age 0). Before, an attempt whose traveller authenticated near the
-- 24-hour deadline failed the `money_held` check (24 hours) the moment it moved on.
--
-- REPLACED: app.health_snapshot (from 20261203000602_health.sql), only `oldest_age_s` changed.

create or replace function app.health_snapshot(args jsonb)
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
               count(*) as n,
               -- money is held from the attempt's start, or from when the traveller finished
               -- 3-D Secure; an intent still waiting for them holds nothing yet
               extract(epoch from now() - min(case when a.phase = 'await_traveller' then now()
                 else greatest(a.created_at, a.left_traveller_at) end))::bigint as oldest
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
