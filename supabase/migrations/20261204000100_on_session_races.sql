-- Issue 7, the on-session payment's two money-path races (docs/saga.md "On-session payment:
-- the races a second reader found").
--
-- 1. An attempt that ends `release_failed` may still hold the traveller's money: the saga now
--    only ends there after a bounded number of cancels that Stripe refused while the intent
--    stayed cancelable, or when the intent was captured without a ticket. Both need an
--    operator: new alert rule `hold_not_released` (one alert per attempt, open while the
--    attempt closed `release_failed` less than 7 days ago, the life of a card hold; after that
--    the hold has lapsed and the alert resolves). app.alerts_evaluate is REPLACED from
--    20261203000900_erasure_review_fixes.sql, plus that one condition.
--
-- 2. A traveller's cancel / "another card" that commits while a run re-prices the hold the
--    traveller authenticated (the run read its claim before the request) must never be followed
--    by an order. app.monitor_save_attempt (latest: 20261201000200_attempt_limit_dead_offers.sql)
--    is kept unchanged as app.monitor_save_attempt_unguarded, and the new app.monitor_save_attempt
--    checks first: a save whose state is in phase `order` on such a hold (`state.authorized`
--    present) while the trip has a pending request (`cancel_requested_at`, or `payment_request`
--    for this attempt) is refused with {saved: false, refused: "traveller_request"} and the trip
--    is made due now. The saga only sends an order after its `order` mark is saved, so no order
--    is sent after the request committed. The check locks the trip row first, the row the
--    trips function locks before it records a request (app.trips_control `cancel`,
--    app.trips_payment `another_card`): whichever commits first wins, under any interleaving.
--    The next run's claim carries the request and the saga releases the hold instead
--    (crates/booking-core/src/saga/next.rs). What the traveller is told stays true: `cancel`
--    answers `cancel_pending` (the trip is cancelled when the attempt ends unbooked: now it does,
--    unless the order mark was saved before the cancel, in which case the booking stands), and
--    `another_card` is only accepted while the attempt waits in `await_traveller`.

-- 1 ---------------------------------------------------------------------------------------------
insert into public.alert_rules (rule, threshold, window_minutes, title) values
  ('hold_not_released', 0, 10080,
   'A booking attempt closed without releasing its card hold (release_failed): cancel or refund it in Stripe');


-- REPLACED (from 20261203000900_erasure_review_fixes.sql): plus hold_not_released.
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

  insert into pg_temp.alert_conditions
  select 'monitor_silent', 'monitor', null, null,
         jsonb_build_object('heartbeat_age_s', extract(epoch from now() - s.heartbeat_at)::bigint)
  from public.pipeline_settings s, public.alert_rules r
  where s.id and r.rule = 'monitor_silent' and r.enabled
    and coalesce(s.heartbeat_at, '-infinity') < now() - make_interval(mins => r.window_minutes);

  insert into pg_temp.alert_conditions
  select 'payment_failures', 'window', null, null,
         jsonb_build_object('failures', f.n, 'threshold', r.threshold, 'window_minutes', r.window_minutes)
  from public.alert_rules r,
       lateral (select count(*) as n from public.booking_attempts a
                where a.updated_at > now() - make_interval(mins => r.window_minutes)
                  and (a.reason in ('authentication_required', 'capture_failed')
                       or a.reason like 'card\_declined%')) f
  where r.rule = 'payment_failures' and r.enabled and f.n > r.threshold;

  insert into pg_temp.alert_conditions
  select 'attempt_stuck', s.attempt_id::text, s.trip_id, s.attempt_id,
         jsonb_build_object('phase', s.phase, 'idle_seconds', s.idle_seconds)
  from app.stuck_attempts() s, public.alert_rules r
  where r.rule = 'attempt_stuck' and r.enabled;

  insert into pg_temp.alert_conditions
  select 'order_outcome_unknown', a.id::text, a.trip_id, a.id,
         jsonb_build_object('phase', a.phase, 'order_known', a.order_id is not null)
  from public.booking_attempts a, public.alert_rules r
  where r.rule = 'order_outcome_unknown' and r.enabled
    and a.open and a.reason = 'order_outcome_unknown';

  insert into pg_temp.alert_conditions
  select 'outbox_dead_letters', 'notifications', null, null,
         jsonb_build_object('dead', d.n, 'window_minutes', r.window_minutes)
  from public.alert_rules r,
       lateral (select count(*) as n from public.notifications n
                where n.status = 'dead'
                  and n.updated_at > now() - make_interval(mins => r.window_minutes)) d
  where r.rule = 'outbox_dead_letters' and r.enabled and d.n > r.threshold;

  -- Finding 4: an erasure still running a day after it was asked for (waiting on an attempt
  -- an operator must resolve, a provider down for long), and one whose customer Stripe refused
  -- to delete (an operator deletes it by hand). Keyed by the erasure id; no personal data.
  insert into pg_temp.alert_conditions
  select 'erasure_stalled', e.id::text, null, null,
         jsonb_build_object('erasure_id', e.id, 'step', e.step,
           'age_hours', (extract(epoch from now() - e.created_at) / 3600)::bigint)
  from public.erasure_requests e, public.alert_rules r
  where r.rule = 'erasure_stalled' and r.enabled and e.step <> 'done'
    and e.created_at < now() - make_interval(mins => r.window_minutes);

  insert into pg_temp.alert_conditions
  select 'erasure_stripe_refused', e.id::text, null, null,
         jsonb_build_object('erasure_id', e.id, 'status', e.stripe_refused_status)
  from public.erasure_requests e, public.alert_rules r
  where r.rule = 'erasure_stripe_refused' and r.enabled and e.step = 'stripe'
    and e.stripe_refused_at is not null;

  -- Issue 7: an attempt closed `release_failed` may still hold money (Stripe refused every
  -- bounded cancel, or the intent was captured without a ticket). Keyed by the attempt.
  insert into pg_temp.alert_conditions
  select 'hold_not_released', a.id::text, a.trip_id, a.id,
         jsonb_build_object('phase', a.phase, 'payment_intent_known', a.payment_intent is not null)
  from public.booking_attempts a, public.alert_rules r
  where r.rule = 'hold_not_released' and r.enabled
    and a.reason = 'release_failed'
    and a.updated_at > now() - make_interval(mins => r.window_minutes);

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

  -- Cleared incidents resolve.
  update public.operator_alerts a set resolved_at = now()
  where a.source = 'alert_rules' and a.resolved_at is null
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

-- 2 ---------------------------------------------------------------------------------------------
alter function app.monitor_save_attempt(jsonb) rename to monitor_save_attempt_unguarded;
revoke all on function app.monitor_save_attempt_unguarded(jsonb)
  from public, anon, authenticated, service_role;

create function app.monitor_save_attempt(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_attempt_id uuid;
  v_trip public.trip_requests;
begin
  if jsonb_typeof(args) = 'object' and jsonb_typeof(args -> 'state') = 'object'
    and args #>> '{state,phase,name}' = 'order'
    and jsonb_typeof(args #> '{state,authorized}') = 'object' then
    v_attempt_id := app.arg_uuid(args, 'attempt_id');
    -- The trip row first: the lock app.trips_control (cancel) and app.trips_payment
    -- (another_card) take before they record a request.
    select t.* into v_trip from public.trip_requests t
    where t.id = (select a.trip_id from public.booking_attempts a where a.id = v_attempt_id)
    for update;
    if v_trip.id is not null and (v_trip.cancel_requested_at is not null
        or v_trip.payment_request_attempt_id = v_attempt_id) then
      -- Due now: the next run's claim carries the request and the saga releases the hold.
      update public.trip_requests t set next_check_at = now() where t.id = v_trip.id;
      return jsonb_build_object('saved', false, 'refused', 'traveller_request');
    end if;
  end if;
  return app.monitor_save_attempt_unguarded(args);
end
$$;

comment on function app.monitor_save_attempt(jsonb) is
  'monitor_save_attempt (20261201000200) behind a guard: no order on a traveller-authenticated hold while the traveller''s cancel or another-card request is pending ({saved:false, refused:traveller_request}).';

revoke all on function app.monitor_save_attempt(jsonb) from public, anon, authenticated;
grant execute on function app.monitor_save_attempt(jsonb) to service_role;
