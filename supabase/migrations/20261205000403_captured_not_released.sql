-- Money captured while releasing is its own operator alert, open until a person resolves it.
--
-- The saga's release reads the intent when a cancel is refused; when the read finds it
-- `succeeded` (the money was taken and the release has no ticket for it) the attempt used to close
-- `release_failed`, like a hold Stripe would not release, and the alert rule `hold_not_released`
-- resolved itself 7 days after the attempt closed (a card hold's life): right for a hold, which
-- lapses, wrong for a capture, which does not (docs/saga.md named this as an open limit). Now the
-- saga closes such an attempt with its own reason `captured_not_released` (trip `failed`, never
-- re-booked; saga/apply.rs `captured_without_ticket`), and the new rule `captured_not_released`
-- keeps one alert per attempt open until an operator refunds the charge and marks the alert
-- resolved (never resolved by the evaluator, even while the rule is disabled); a resolved one
-- does not fire again.
--
-- The rules' conditions move out of app.alerts_evaluate into app.alert_conditions() (the same
-- queries, one `union all`), so a rule is changed by replacing that function, not the whole
-- evaluator. REPLACED: app.alerts_evaluate (from 20261204000100_on_session_races.sql): the same,
-- with its conditions read from app.alert_conditions(), and never resolving a
-- `captured_not_released` alert itself.

insert into public.alert_rules (rule, threshold, window_minutes, title) values
  ('captured_not_released', 0, 1440,
   'Money was captured while releasing a booking attempt (no ticket): refund it in Stripe, then resolve this alert');

create function app.alert_conditions()
returns table (rule text, incident_key text, trip_id uuid, attempt_id uuid, detail jsonb)
language sql
stable
security definer
set search_path = ''
as $$
  select 'monitor_silent', 'monitor', null::uuid, null::uuid,
         jsonb_build_object('heartbeat_age_s', extract(epoch from now() - s.heartbeat_at)::bigint)
  from public.pipeline_settings s, public.alert_rules r
  where s.id and r.rule = 'monitor_silent' and r.enabled
    and coalesce(s.heartbeat_at, '-infinity') < now() - make_interval(mins => r.window_minutes)

  union all

  select 'payment_failures', 'window', null::uuid, null::uuid,
         jsonb_build_object('failures', f.n, 'threshold', r.threshold, 'window_minutes', r.window_minutes)
  from public.alert_rules r,
       lateral (select count(*) as n from public.booking_attempts a
                where a.updated_at > now() - make_interval(mins => r.window_minutes)
                  and (a.reason in ('authentication_required', 'capture_failed')
                       or a.reason like 'card\_declined%')) f
  where r.rule = 'payment_failures' and r.enabled and f.n > r.threshold

  union all

  select 'attempt_stuck', s.attempt_id::text, s.trip_id, s.attempt_id,
         jsonb_build_object('phase', s.phase, 'idle_seconds', s.idle_seconds)
  from app.stuck_attempts() s, public.alert_rules r
  where r.rule = 'attempt_stuck' and r.enabled

  union all

  select 'order_outcome_unknown', a.id::text, a.trip_id, a.id,
         jsonb_build_object('phase', a.phase, 'order_known', a.order_id is not null)
  from public.booking_attempts a, public.alert_rules r
  where r.rule = 'order_outcome_unknown' and r.enabled
    and a.open and a.reason = 'order_outcome_unknown'

  union all

  select 'outbox_dead_letters', 'notifications', null::uuid, null::uuid,
         jsonb_build_object('dead', d.n, 'window_minutes', r.window_minutes)
  from public.alert_rules r,
       lateral (select count(*) as n from public.notifications n
                where n.status = 'dead'
                  and n.updated_at > now() - make_interval(mins => r.window_minutes)) d
  where r.rule = 'outbox_dead_letters' and r.enabled and d.n > r.threshold

  union all

  -- Finding 4: an erasure still running a day after it was asked for (waiting on an attempt
  -- an operator must resolve, a provider down for long), and one whose customer Stripe refused
  -- to delete (an operator deletes it by hand). Keyed by the erasure id; no personal data.
  select 'erasure_stalled', e.id::text, null::uuid, null::uuid,
         jsonb_build_object('erasure_id', e.id, 'step', e.step,
           'age_hours', (extract(epoch from now() - e.created_at) / 3600)::bigint)
  from public.erasure_requests e, public.alert_rules r
  where r.rule = 'erasure_stalled' and r.enabled and e.step <> 'done'
    and e.created_at < now() - make_interval(mins => r.window_minutes)

  union all

  select 'erasure_stripe_refused', e.id::text, null::uuid, null::uuid,
         jsonb_build_object('erasure_id', e.id, 'status', e.stripe_refused_status)
  from public.erasure_requests e, public.alert_rules r
  where r.rule = 'erasure_stripe_refused' and r.enabled and e.step = 'stripe'
    and e.stripe_refused_at is not null

  union all

  -- Issue 7: an attempt closed `release_failed` may still hold money (Stripe refused every
  -- bounded cancel). Keyed by the attempt; lapses with the hold (the rule's window, 7 days).
  select 'hold_not_released', a.id::text, a.trip_id, a.id,
         jsonb_build_object('phase', a.phase, 'payment_intent_known', a.payment_intent is not null)
  from public.booking_attempts a, public.alert_rules r
  where r.rule = 'hold_not_released' and r.enabled
    and a.reason = 'release_failed'
    and a.updated_at > now() - make_interval(mins => r.window_minutes)

  union all

  -- An attempt whose release found the intent captured (`captured_not_released`): money taken
  -- without a ticket. Never lapses: open until an operator refunds the charge and resolves the
  -- alert (update operator_alerts set resolved_at = now()), after which it does not fire again.
  select 'captured_not_released', a.id::text, a.trip_id, a.id,
         jsonb_build_object('phase', a.phase, 'payment_intent_known', a.payment_intent is not null,
           'amount_minor', a.amount_minor, 'currency', a.currency)
  from public.booking_attempts a, public.alert_rules r
  where r.rule = 'captured_not_released' and r.enabled
    and a.reason = 'captured_not_released'
    and not exists (
      select 1 from public.operator_alerts o
      where o.source = 'alert_rules' and o.rule = 'captured_not_released'
        and o.incident_key = a.id::text and o.resolved_at is not null)
$$;

revoke all on function app.alert_conditions() from public, anon, authenticated;
grant execute on function app.alert_conditions() to service_role;

-- REPLACED: the conditions come from app.alert_conditions().
create or replace function app.alerts_evaluate(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_fired integer := 0;
  v_resolved integer := 0;
  v_queued integer := 0;
  v_sent integer := 0;
  v_retried integer := 0;
  v_dead integer := 0;
  v_dispatched integer := 0;
  v_n integer;
  v_url text;
  v_row record;
  v_alert public.operator_alerts;
  v_resp record;
  v_ok boolean;
begin
  if args is null or jsonb_typeof(args) <> 'object' or args <> '{}'::jsonb then
    raise exception using errcode = '22023', message = 'arguments must be {}';
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('app.alerts_evaluate'));

  -- What holds now: (rule, incident_key, trip, attempt, detail).
  if pg_catalog.to_regclass('pg_temp.alert_conditions') is null then
    create temporary table alert_conditions (
      rule text, incident_key text, trip_id uuid, attempt_id uuid, detail jsonb
    ) on commit drop;
  end if;
  truncate pg_temp.alert_conditions;

  insert into pg_temp.alert_conditions select * from app.alert_conditions();

  -- New incidents: one open alert per (rule, incident_key).
  insert into public.operator_alerts (source, rule, reason, incident_key, trip_id, attempt_id, detail)
  select 'alert_rules', c.rule, c.rule, c.incident_key, c.trip_id, c.attempt_id, c.detail
  from pg_temp.alert_conditions c
  where not exists (
    select 1 from public.operator_alerts a
    where a.source = 'alert_rules' and a.resolved_at is null
      and a.rule = c.rule and a.incident_key = c.incident_key)
  on conflict do nothing;
  get diagnostics v_fired = row_count;

  -- Cleared incidents resolve; money captured without a ticket only by an operator (disabling
  -- the rule for a while must not close it, nor stop it firing again).
  update public.operator_alerts a set resolved_at = now()
  where a.source = 'alert_rules' and a.resolved_at is null and a.rule <> 'captured_not_released'
    and not exists (select 1 from pg_temp.alert_conditions c
                    where c.rule = a.rule and c.incident_key = a.incident_key);
  get diagnostics v_resolved = row_count;

  -- Queue the messages (every source): fire once per alert, resolve once when it is resolved.
  for v_alert in
    select a.* from public.operator_alerts a
    where a.notified_at is null or (a.resolved_at is not null and a.resolve_notified_at is null)
    order by a.id
    for update of a
  loop
    if v_alert.notified_at is null then
      insert into public.operator_alert_deliveries (alert_id, kind, payload)
      values (v_alert.id, 'fire', app.operator_alert_message(v_alert, 'fire'))
      on conflict (alert_id, kind) do nothing;
      get diagnostics v_n = row_count;
      v_queued := v_queued + v_n;
    end if;
    if v_alert.resolved_at is not null then
      insert into public.operator_alert_deliveries (alert_id, kind, payload)
      values (v_alert.id, 'resolve', app.operator_alert_message(v_alert, 'resolve'))
      on conflict (alert_id, kind) do nothing;
      get diagnostics v_n = row_count;
      v_queued := v_queued + v_n;
    end if;
    update public.operator_alerts a set
      notified_at = coalesce(a.notified_at, now()),
      resolve_notified_at = case when a.resolved_at is not null then coalesce(a.resolve_notified_at, now()) end
    where a.id = v_alert.id;
  end loop;

  -- Answers pg_net has for messages sent earlier.
  for v_row in
    select d.* from public.operator_alert_deliveries d
    where d.status = 'sending' order by d.id for update of d
  loop
    select r.status_code into v_resp from net._http_response r where r.id = v_row.request_id;
    if not found and v_row.updated_at > now() - interval '10 minutes' then
      continue;
    end if;
    v_ok := found and v_resp.status_code between 200 and 299;
    if v_ok then
      update public.operator_alert_deliveries d set status = 'sent', last_status = v_resp.status_code,
        updated_at = now() where d.id = v_row.id;
      v_sent := v_sent + 1;
    elsif v_row.attempts >= 8 then
      update public.operator_alert_deliveries d set status = 'dead', request_id = null,
        last_status = case when found then v_resp.status_code end, updated_at = now()
      where d.id = v_row.id;
      v_dead := v_dead + 1;
    else
      update public.operator_alert_deliveries d set status = 'pending', request_id = null,
        last_status = case when found then v_resp.status_code end,
        next_attempt_at = now() + make_interval(mins => least(60, (2 ^ (v_row.attempts - 1))::integer)),
        updated_at = now()
      where d.id = v_row.id;
      v_retried := v_retried + 1;
    end if;
  end loop;

  -- Send what is due (pg_net sends after this transaction commits). A failing pg_net (not
  -- installed, its queue refusing) leaves the messages pending and keeps the rules' work.
  begin
    select s.decrypted_secret into v_url from vault.decrypted_secrets s where s.name = 'operator_webhook_url';
    if v_url is not null and v_url ~ '^https?://' then
      for v_row in
        select d.* from public.operator_alert_deliveries d
        where d.status = 'pending' and d.next_attempt_at <= now()
        order by d.next_attempt_at, d.id limit 20
        for update of d skip locked
      loop
        update public.operator_alert_deliveries d set
          status = 'sending',
          attempts = d.attempts + 1,
          request_id = net.http_post(
            url := v_url,
            body := v_row.payload,
            headers := jsonb_build_object('Content-Type', 'application/json'),
            timeout_milliseconds := 10000
          ),
          updated_at = now()
        where d.id = v_row.id;
        v_dispatched := v_dispatched + 1;
      end loop;
    end if;
  exception
    when others then
      raise warning 'operator alert delivery failed: %', sqlstate;
      v_dispatched := 0;
  end;

  return jsonb_build_object('fired', v_fired, 'resolved', v_resolved, 'queued', v_queued,
    'sent', v_sent, 'retried', v_retried, 'dead', v_dead, 'dispatched', v_dispatched);
end
$$;

revoke all on function app.alerts_evaluate(jsonb) from public, anon, authenticated;
grant execute on function app.alerts_evaluate(jsonb) to service_role;
