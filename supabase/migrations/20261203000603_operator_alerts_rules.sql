-- Alerts (issue 9, item 3): rules evaluated on a schedule, one open alert per incident in the
-- ONE open-alerts table (public.operator_alerts), a resolve message when it clears, delivery to
-- an operator webhook (Slack-compatible JSON) through an outbox with retries. No personal data:
-- rule names, ids, counts, phases, ages.
--
-- operator_alerts gains: rule (what raised it; the reason for rows raised directly by the
--   monitor, the Stripe webhook or a decision-log `operator_alert`), incident_key (one open alert
--   per rule and key for the rules below), notified_at / resolve_notified_at (the fire and
--   resolve messages were queued). trip_id was made nullable by 20261202000200 (system-wide
--   rules have none). resolved_at is the "resolved" mark (rules set it when the condition clears;
--   operators set it by hand for direct alerts).
-- Decision-log rows with decision `operator_alert` (the Duffel webhook's `airline_cancelled`)
--   raise an operator_alerts row too (trigger pipeline_events_operator_alert), so that every open
--   alert is in one table.
--
-- alert_rules: the rules, their threshold and window (operators tune them as the table owner):
--   monitor_silent        no monitor run (pipeline_settings.heartbeat_at) for window minutes (15)
--   payment_failures      more than threshold (5) payment failures (attempts with reason
--                         card_declined*, authentication_required, capture_failed) in window (1 day)
--   attempt_stuck         an open attempt idle past its expected time (app.stuck_attempts), per attempt
--   order_outcome_unknown an open attempt whose order outcome is unknown (reason
--                         order_outcome_unknown: reconciling with Duffel), per attempt
--   outbox_dead_letters   emails dead-lettered (notifications status `dead`) in window (1 day)
--   Raised elsewhere, delivered the same way: ledger_unclosable and travelers_unreadable (the
--   monitor), the Stripe reconciliation mismatches (stripe_webhook), airline_cancelled (duffel).
--
-- operator_alert_deliveries: the outbox. One row per (alert, kind fire|resolve), queued in the
--   same transaction that raised or resolved the alert. app.alerts_evaluate sends due rows with
--   net.http_post to the Vault secret `operator_webhook_url` (no URL: rows wait), reads pg_net's
--   answer on the next run: 2xx sent; anything else (or no answer within 10 minutes) retried
--   after 1, 2, 4, ... minutes (at most 60), dead after 8 tries (health reports `alert_dead`).
--
-- app.alerts_evaluate(args jsonb '{}') -> {"fired", "resolved", "queued", "sent", "retried",
--   "dead", "dispatched"}: the rules, the queueing, the delivery; one evaluation at a time
--   (advisory lock). Service only. pg_cron job `operator-alerts` runs it every minute.

alter table public.operator_alerts
  add column rule text,
  add column incident_key text,
  add column notified_at timestamptz,
  add column resolve_notified_at timestamptz,
  add constraint operator_alerts_rule_format check (rule is null or rule ~ '^[a-z][a-z0-9_]{0,63}$'),
  add constraint operator_alerts_incident_key_format check (
    incident_key is null or incident_key ~ '^[A-Za-z0-9_:.-]{1,200}$'
  );

update public.operator_alerts set rule = reason where rule is null;

comment on table public.operator_alerts is
  'The one open-alerts table: rule-based incidents (source alert_rules), attempts the monitor flagged, Stripe reconciliation mismatches, decision-log operator alerts. Open while resolved_at is null. Ids, codes and amounts only.';

create function app.operator_alerts_defaults()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.rule := coalesce(new.rule, new.reason);
  new.incident_key := coalesce(new.incident_key, new.attempt_id::text, new.event_id, new.trip_id::text);
  return new;
end
$$;

revoke all on function app.operator_alerts_defaults() from public;

create trigger operator_alerts_defaults
before insert on public.operator_alerts
for each row execute function app.operator_alerts_defaults();

create unique index operator_alerts_one_open_incident
  on public.operator_alerts (rule, incident_key)
  where resolved_at is null and source = 'alert_rules';
create index operator_alerts_unnotified_idx on public.operator_alerts (id)
  where notified_at is null or (resolved_at is not null and resolve_notified_at is null);

-- Decision-log operator alerts land in the one table.
create function app.pipeline_events_operator_alert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.operator_alerts (source, reason, trip_id, event_id, detail)
  values (
    new.stage,
    coalesce(new.reason_code, 'operator_alert'),
    new.trip_id,
    case when (new.detail ->> 'event_id') ~ '^[A-Za-z0-9_:.-]{1,200}$' then new.detail ->> 'event_id' end,
    jsonb_strip_nulls(jsonb_build_object(
      'pipeline_event_id', new.id,
      'order_id', new.detail ->> 'order_id',
      'booking_id', new.detail ->> 'booking_id',
      'type', new.detail ->> 'type'
    ))
  );
  return new;
end
$$;

revoke all on function app.pipeline_events_operator_alert() from public;

create trigger pipeline_events_operator_alert
after insert on public.pipeline_events
for each row when (new.decision = 'operator_alert')
execute function app.pipeline_events_operator_alert();

-- The rules ---------------------------------------------------------------------------------------
create table public.alert_rules (
  rule text primary key,
  enabled boolean not null default true,
  threshold integer not null default 0,
  window_minutes integer not null default 1440,
  title text not null,

  constraint alert_rules_rule_format check (rule ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint alert_rules_threshold_nonnegative check (threshold >= 0),
  constraint alert_rules_window_positive check (window_minutes between 1 and 43200),
  constraint alert_rules_title_bounded check (char_length(title) between 1 and 200)
);

comment on table public.alert_rules is 'Alert rules app.alerts_evaluate applies: threshold and window. Service reads; operators tune as the table owner.';

insert into public.alert_rules (rule, threshold, window_minutes, title) values
  ('monitor_silent', 0, 15, 'No monitor run for 15 minutes'),
  ('payment_failures', 5, 1440, 'More payment failures than usual in the last day'),
  ('attempt_stuck', 0, 30, 'A booking attempt is stuck past its expected time'),
  ('order_outcome_unknown', 0, 1440, 'An order''s outcome is unknown (reconciling with Duffel)'),
  ('outbox_dead_letters', 0, 1440, 'Emails were dead-lettered');

create table public.operator_alert_deliveries (
  id bigint generated always as identity primary key,
  alert_id bigint not null references public.operator_alerts (id) on delete cascade,
  kind text not null,
  payload jsonb not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  request_id bigint,
  last_status integer,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  constraint operator_alert_deliveries_once unique (alert_id, kind),
  constraint operator_alert_deliveries_kind_known check (kind in ('fire', 'resolve')),
  constraint operator_alert_deliveries_status_known check (status in ('pending', 'sending', 'sent', 'dead')),
  constraint operator_alert_deliveries_payload_bounded check (octet_length(payload::text) <= 8192),
  constraint operator_alert_deliveries_sending_has_request check (status <> 'sending' or request_id is not null)
);

comment on table public.operator_alert_deliveries is 'Outbox of operator webhook messages (Slack-compatible JSON): one per alert and kind, retried with backoff.';

create index operator_alert_deliveries_due_idx on public.operator_alert_deliveries (next_attempt_at, id)
  where status in ('pending', 'sending');

alter table public.alert_rules enable row level security;
alter table public.operator_alert_deliveries enable row level security;
revoke all on table public.alert_rules from public, anon, authenticated, service_role;
revoke all on table public.operator_alert_deliveries from public, anon, authenticated, service_role;
grant select on table public.alert_rules to service_role;
grant select on table public.operator_alert_deliveries to service_role;

-- The message ------------------------------------------------------------------------------------
create function app.operator_alert_message(a public.operator_alerts, kind text)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'text', format('%s %s: %s (incident %s)',
      case kind when 'fire' then '[FIRING]' else '[RESOLVED]' end,
      a.rule,
      coalesce((select r.title from public.alert_rules r where r.rule = a.rule),
               format('operator alert from %s', a.source)),
      coalesce(a.incident_key, a.id::text)),
    'attachments', jsonb_build_array(jsonb_build_object(
      'color', case kind when 'fire' then 'danger' else 'good' end,
      'fields', jsonb_path_query_array(jsonb_build_array(
        jsonb_build_object('title', 'rule', 'value', a.rule, 'short', true),
        jsonb_build_object('title', 'source', 'value', a.source, 'short', true),
        jsonb_build_object('title', 'alert', 'value', a.id::text, 'short', true),
        jsonb_build_object('title', 'since', 'value',
          to_char(a.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'short', true),
        case when a.trip_id is not null then jsonb_build_object('title', 'trip', 'value', a.trip_id::text) end,
        case when a.attempt_id is not null then jsonb_build_object('title', 'attempt', 'value', a.attempt_id::text) end,
        case when a.detail <> '{}'::jsonb then jsonb_build_object('title', 'detail', 'value', left(a.detail::text, 500)) end
      ), '$[*] ? (@ != null)')
    ))
  )
$$;

revoke all on function app.operator_alert_message(public.operator_alerts, text) from public;

-- The evaluation ----------------------------------------------------------------------------------
create function app.alerts_evaluate(args jsonb)
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

-- The schedule: every minute (pg_cron replaces a job of the same name).
select cron.schedule('operator-alerts', '* * * * *', $cmd$select app.alerts_evaluate('{}'::jsonb)$cmd$);
