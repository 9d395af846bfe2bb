-- Money captured while releasing (20261205000403_captured_not_released.sql): an attempt closed
-- `captured_not_released` keeps its `captured_not_released` alert open however long ago it
-- closed, until an operator resolves it; then it does not fire again. A `release_failed` one
-- still lapses with the hold (7 days). The rules' conditions are app.alert_conditions(), service
-- only. Dates derive from now().
begin;
select plan(10);

insert into auth.users (id, email) values ('c4c4c4c4-0000-4000-8000-0000000002c6', 'captured@example.test');

create function pg_temp.state(attempt uuid, trip uuid, reason text) returns jsonb language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000capt',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_capt', 'payment_method', 'pm_card_visa', 'seed', 7,
    'version', 1, 'phase', '{"name": "closed", "end": "fail"}'::jsonb, 'in_flight', false, 'tries', 0,
    'not_before', null, 'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'),
    'passenger_ids', '["pas_1"]'::jsonb, 'payment_intent', 'pi_capt_' || left(attempt::text, 8),
    'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0, 'reason', reason,
    'started_at', now(), 'updated_at', now())
$$;

-- app.alerts_evaluate as the service (the cron job's role), back to postgres after.
create function pg_temp.evaluate() returns void language plpgsql as $$
begin
  perform set_config('role', 'service_role', true);
  perform app.alerts_evaluate('{}');
  perform set_config('role', 'postgres', true);
end
$$;

create temp table k (name text primary key, attempt uuid);
create function pg_temp.closed(name text, reason text, age interval) returns void language plpgsql as $$
declare
  v_trip uuid;
  v_attempt uuid := gen_random_uuid();
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency)
  values ('c4c4c4c4-0000-4000-8000-0000000002c6', 'LHR', 'JFK', (now() + interval '40 days')::date, 1,
    'economy', 42000, 'GBP')
  returning id into v_trip;
  insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at)
  values (v_attempt, v_trip, pg_temp.state(v_attempt, v_trip, reason), 1, false, 'x', now() - age);
  insert into k values (name, v_attempt);
end
$$;

-- Closed long ago (the insert's updated_at is now(): age it as time would).
select pg_temp.closed('captured', 'captured_not_released', interval '30 days');
select pg_temp.closed('hold_old', 'release_failed', interval '8 days');
alter table public.booking_attempts disable trigger user;
update public.booking_attempts set updated_at = created_at where id in (select attempt from k);
alter table public.booking_attempts enable trigger user;

select pg_temp.evaluate();
select is((select count(*)::int from public.operator_alerts
           where rule = 'captured_not_released' and resolved_at is null
             and attempt_id = (select attempt from k where name = 'captured')), 1,
  'money captured 30 days ago without a ticket: the alert is open');
select ok((select (detail ->> 'amount_minor')::int = 41240 and detail ->> 'currency' = 'GBP'
           from public.operator_alerts where rule = 'captured_not_released'
             and attempt_id = (select attempt from k where name = 'captured')),
  'it names the amount to refund (no personal data)');
select is((select count(*)::int from public.operator_alerts
           where attempt_id = (select attempt from k where name = 'hold_old')), 0,
  'a hold not released 8 days ago has lapsed: no alert');
select is((select count(*)::int from public.operator_alerts
           where rule = 'hold_not_released' and attempt_id = (select attempt from k where name = 'captured')), 0,
  'the captured attempt is not reported as a lapsing hold');

select pg_temp.evaluate();
select is((select count(*)::int from public.operator_alerts
           where rule = 'captured_not_released' and attempt_id = (select attempt from k where name = 'captured')), 1,
  'evaluating again keeps the one alert open');

-- Muting the rule for a while neither closes the alert nor loses it.
update public.alert_rules set enabled = false where rule = 'captured_not_released';
select pg_temp.evaluate();
select is((select count(*)::int from public.operator_alerts
           where rule = 'captured_not_released' and resolved_at is null
             and attempt_id = (select attempt from k where name = 'captured')), 1,
  'disabling the rule does not resolve the open alert');
update public.alert_rules set enabled = true where rule = 'captured_not_released';

-- The operator refunds in Stripe and resolves the alert.
update public.operator_alerts set resolved_at = now()
where rule = 'captured_not_released' and attempt_id = (select attempt from k where name = 'captured');
select pg_temp.evaluate();
select is((select count(*)::int from public.operator_alerts
           where rule = 'captured_not_released' and attempt_id = (select attempt from k where name = 'captured')), 1,
  'once resolved by an operator it does not fire again');
select is((select count(*)::int from public.operator_alert_deliveries d join public.operator_alerts a on a.id = d.alert_id
           where a.rule = 'captured_not_released' and a.attempt_id = (select attempt from k where name = 'captured')), 2,
  'the fire and the resolve messages were queued');

select function_privs_are('app', 'alert_conditions', array[]::text[], 'authenticated', array[]::text[],
  'authenticated cannot read the alert conditions');
select function_privs_are('app', 'alert_conditions', array[]::text[], 'service_role', array['EXECUTE'],
  'the service can');

select * from finish();
rollback;
