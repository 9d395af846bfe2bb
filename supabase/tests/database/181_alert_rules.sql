-- Alert rules and the one open-alerts table (migration 20261203000603_operator_alerts_rules.sql,
-- issue 9 item 3): each rule fires once per incident (one open operator_alerts row, one `fire`
-- message queued however often it is evaluated) and resolves when its condition clears (one
-- `resolve` message); alerts raised elsewhere (the monitor's ledger_unclosable, a decision-log
-- operator_alert) are delivered the same way; messages carry no personal data; without an
-- operator webhook URL nothing is sent. Delivery and retries: tests/e2e/alerts_test.ts.
-- Every date derives from now().
begin;
select plan(35);

delete from vault.secrets where name = 'operator_webhook_url';
insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-000000000182', 'alert-owner-182@example.test');

create function pg_temp.trip(status text)
returns uuid
language plpgsql
as $$
declare
  t uuid;
  o uuid;
  d date := (now() + interval '60 days')::date;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('aaaaaaaa-0000-4000-8000-000000000182', 'LHR', 'JFK', d, 1, 'economy', 42000, 'GBP') returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_0000test182', 39900, 'GBP', 'economy', 0, 490, d + time '09:00', d + time '12:10', '{ZZ}',
    now() + interval '30 minutes')
  returning id into o;
  update public.trip_requests set status = 'watching', selected_offer_id = o, next_check_at = now() where id = t;
  if status = 'booking' then
    update public.trip_requests set status = 'booking' where id = t;
  end if;
  return t;
end
$$;

-- An attempt of `trip` in `phase` with `reason`, last updated `idle` ago.
create function pg_temp.attempt(trip uuid, phase text, reason text, idle interval default '0 seconds')
returns uuid
language plpgsql
as $$
declare
  a uuid := gen_random_uuid();
begin
  insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at, updated_at)
  values (a, trip, jsonb_build_object(
    'schema_version', 1, 'attempt_id', a, 'trip_id', trip, 'offer_id', 'off_0000test182',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', 3,
    'phase', jsonb_build_object('name', phase), 'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 39900, 'currency', 'GBP'),
    'passenger_ids', '["pas_1"]'::jsonb, 'payment_intent', 'pi_test182', 'order', null,
    'check_intent', false, 'key_generation', 0, 'lookup_misses', 0, 'reason', reason),
    3, phase <> 'closed', phase, now() - idle - interval '1 minute', now() - idle);
  return a;
end
$$;

create function pg_temp.eval() returns jsonb language sql as $$ select app.alerts_evaluate('{}') $$;
create function pg_temp.open(r text) returns int language sql as $$
  select count(*)::int from public.operator_alerts where rule = r and resolved_at is null and created_at = now() $$;
create function pg_temp.messages(r text, k text) returns int language sql as $$
  select count(*)::int from public.operator_alert_deliveries d join public.operator_alerts a on a.id = d.alert_id
  where a.rule = r and d.kind = k and a.created_at = now() $$;

-- A quiet system first: no rule holds (a fresh heartbeat, nothing stuck).
update public.pipeline_settings set heartbeat_at = now();
update public.alert_rules set threshold = 1000 where rule = 'payment_failures';
update public.notifications set status = 'sent', provider_message_id = coalesce(provider_message_id, 'msg_x')
where status = 'dead';
update public.operator_alerts set resolved_at = now() where resolved_at is null;
select pg_temp.eval();
select pg_temp.eval();

-- monitor_silent ------------------------------------------------------------------------------
update public.pipeline_settings set heartbeat_at = now() - interval '16 minutes';
select is((pg_temp.eval() ->> 'fired')::int, 1, 'monitor_silent fires when the heartbeat is 16 minutes old');
select is((pg_temp.eval() ->> 'fired')::int, 0, 'and not again while the incident lasts');
select is(pg_temp.open('monitor_silent'), 1, 'one open alert for the incident');
select is((select trip_id from public.operator_alerts where rule = 'monitor_silent' and resolved_at is null), null,
  'a system-wide alert has no trip');
select is(pg_temp.messages('monitor_silent', 'fire'), 1, 'one fire message queued');
update public.pipeline_settings set heartbeat_at = now();
select is((pg_temp.eval() ->> 'resolved')::int, 1, 'it resolves when the monitor runs again');
select is(pg_temp.open('monitor_silent'), 0, 'no open monitor_silent alert');
select is(pg_temp.messages('monitor_silent', 'resolve'), 1, 'one resolve message queued');
select is((pg_temp.eval() ->> 'queued')::int, 0, 'nothing more is queued afterwards');
update public.pipeline_settings set heartbeat_at = null;
select is((pg_temp.eval() ->> 'fired')::int, 1, 'a new incident (never ran) is a new alert');
update public.pipeline_settings set heartbeat_at = now();
select pg_temp.eval();

-- payment_failures ------------------------------------------------------------------------------
update public.alert_rules set threshold = 2 where rule = 'payment_failures';
select pg_temp.attempt(pg_temp.trip('watching'), 'closed', 'card_declined');
select pg_temp.attempt(pg_temp.trip('watching'), 'closed', 'authentication_required');
select is((pg_temp.eval() ->> 'fired')::int, 0, 'two payment failures are not more than 2');
select pg_temp.attempt(pg_temp.trip('watching'), 'closed', 'card_declined_insufficient_funds');
select is(pg_temp.open('payment_failures'), 0, 'not yet evaluated');
select pg_temp.eval();
select is(pg_temp.open('payment_failures'), 1, 'the third failure in a day fires payment_failures');
select is((select (detail ->> 'failures')::int from public.operator_alerts
  where rule = 'payment_failures' and resolved_at is null), 3, 'the alert says how many');
select pg_temp.attempt(pg_temp.trip('watching'), 'closed', 'capture_failed');
select is((pg_temp.eval() ->> 'fired')::int, 0, 'a fourth failure is the same incident');
update public.alert_rules set threshold = 10 where rule = 'payment_failures';
select pg_temp.eval();
select is(format('%s/%s', pg_temp.open('payment_failures'), pg_temp.messages('payment_failures', 'resolve')), '0/1',
  'below the threshold it resolves, with one resolve message');

-- attempt_stuck and order_outcome_unknown -----------------------------------------------------
create temp table ids (k text primary key, id uuid);
insert into ids values ('stuck_trip', pg_temp.trip('booking'));
insert into ids values ('stuck', pg_temp.attempt((select id from ids where k = 'stuck_trip'), 'order', 'authorized', '45 minutes'));
insert into ids values ('fresh', pg_temp.attempt(pg_temp.trip('booking'), 'capture', 'ordered', '1 minute'));
insert into ids values ('unknown_trip', pg_temp.trip('booking'));
insert into ids values ('unknown', pg_temp.attempt((select id from ids where k = 'unknown_trip'), 'reconcile', 'order_outcome_unknown', '2 minutes'));
select pg_temp.eval();
select is((select array_agg(attempt_id) from public.operator_alerts where rule = 'attempt_stuck' and resolved_at is null),
  array[(select id from ids where k = 'stuck')], 'only the attempt idle for 45 minutes is stuck');
select is((select trip_id from public.operator_alerts where rule = 'attempt_stuck' and resolved_at is null),
  (select id from ids where k = 'stuck_trip'), 'the stuck alert names its trip');
select is((select array_agg(attempt_id) from public.operator_alerts where rule = 'order_outcome_unknown' and resolved_at is null),
  array[(select id from ids where k = 'unknown')], 'order_outcome_unknown fires for the reconciling attempt');
select is((pg_temp.eval() ->> 'fired')::int, 0, 'neither fires twice');
select is(app.health_snapshot('{}') -> 'stuck_attempts', '1'::jsonb, 'health counts the stuck attempt');
update public.booking_attempts set state = jsonb_set(jsonb_set(state, '{version}', '4'), '{phase}', '{"name": "capture"}')
where id = (select id from ids where k = 'stuck');
update public.booking_attempts set state = jsonb_set(jsonb_set(jsonb_set(state, '{version}', '4'), '{phase}', '{"name": "capture"}'),
  '{reason}', '"ordered"')
where id = (select id from ids where k = 'unknown');
select is((pg_temp.eval() ->> 'resolved')::int, 2, 'both resolve when their attempts move on');
select is(format('%s/%s', pg_temp.messages('attempt_stuck', 'resolve'), pg_temp.messages('order_outcome_unknown', 'resolve')), '1/1',
  'one resolve message each');

-- outbox_dead_letters ---------------------------------------------------------------------------
insert into public.notifications (trip_id, owner_id, template, dedupe_key, status, dead_reason)
values ((select id from ids where k = 'stuck_trip'), 'aaaaaaaa-0000-4000-8000-000000000182', 'booking_confirmed',
  'pgtap-182-dead', 'dead', 'recipient_invalid');
select pg_temp.eval();
select is(pg_temp.open('outbox_dead_letters'), 1, 'a dead-lettered email fires outbox_dead_letters');
select is((pg_temp.eval() ->> 'fired')::int, 0, 'once');
update public.notifications set status = 'pending', dead_reason = null where dedupe_key = 'pgtap-182-dead';
select pg_temp.eval();
select is(pg_temp.open('outbox_dead_letters'), 0, 'requeued, it resolves');

-- Alerts raised elsewhere: delivered once, resolved by an operator -------------------------------
insert into public.operator_alerts (trip_id, attempt_id, reason, sqlstate, detail)
values ((select id from ids where k = 'unknown_trip'), (select id from ids where k = 'unknown'), 'ledger_unclosable', '23505',
  '{"phase": "capture"}');
select pg_temp.eval();
select is(pg_temp.messages('ledger_unclosable', 'fire'), 1, 'a ledger that cannot close is delivered');
select pg_temp.eval();
select is(pg_temp.messages('ledger_unclosable', 'fire'), 1, 'once');
update public.operator_alerts set resolved_at = now() where rule = 'ledger_unclosable' and resolved_at is null;
select pg_temp.eval();
select is(pg_temp.messages('ledger_unclosable', 'resolve'), 1, 'resolved by hand: one resolve message');

insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail)
values ((select id from ids where k = 'stuck_trip'), 'duffel_webhook', 'operator_alert', 'airline_cancelled',
  '{"event_id": "wev_0000test182", "order_id": "ord_0000test182", "type": "order.cancelled"}');
select is((select format('%s/%s/%s/%s', source, rule, incident_key, event_id) from public.operator_alerts
  where rule = 'airline_cancelled' and created_at = now()),
  'duffel_webhook/airline_cancelled/wev_0000test182/wev_0000test182',
  'a decision-log operator_alert lands in operator_alerts');

-- Messages: Slack-compatible, no personal data; nothing sent without a URL ----------------------
select pg_temp.eval();
select ok((select bool_and(payload ? 'text' and jsonb_typeof(payload -> 'attachments') = 'array')
  from public.operator_alert_deliveries where created_at = now()), 'every message has text and attachments');
select ok((select bool_and(payload::text not like '%example.test%' and payload::text not like '%alert-owner%')
  from public.operator_alert_deliveries where created_at = now()), 'no message contains the owner''s email');
select is((select count(*)::int from public.operator_alert_deliveries where status <> 'pending' and created_at = now()), 0,
  'without operator_webhook_url every message waits');
select ok(not has_function_privilege('authenticated', 'app.alerts_evaluate(jsonb)', 'execute')
  and has_function_privilege('service_role', 'app.alerts_evaluate(jsonb)', 'execute'), 'alerts_evaluate is service only');
select is((select schedule from cron.job where jobname = 'operator-alerts'), '* * * * *', 'evaluated every minute');

select * from finish();
rollback;
