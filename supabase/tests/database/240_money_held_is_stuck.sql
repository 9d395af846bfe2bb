-- Money held for hours is stuck (20261205000200_money_held_is_stuck.sql): app.stuck_attempts()
-- returns an open attempt that holds money for more than 3 hours even while it keeps moving (a
-- release retried through a Stripe outage), so the health check and the `attempt_stuck` alert
-- see it; waiting for the traveller before their 3-D Secure deadline, reconciling an unknown
-- order outcome (its own alert) and attempts holding no money are not. Dates derive from now().
begin;
select plan(11);

insert into auth.users (id, email) values ('c4c4c4c4-0000-4000-8000-0000000002c4', 'held@example.test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('c4c4c4c4-0000-4000-8000-0000000002c4', 'cus_held0c4c4c4c40000400080000002c4', 'pm_card_visa');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('c4c4c4c4-0000-4000-8000-0000000002c4', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');

create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, reason text, pi text)
returns jsonb language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000held',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_held', 'payment_method', 'pm_card_visa', 'seed', 7,
    'version', version, 'phase', phase, 'in_flight', false, 'tries', 3, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'), 'passenger_ids', '["pas_1"]'::jsonb,
    'payment_intent', pi, 'order', null, 'check_intent', false, 'key_generation', 0,
    'lookup_misses', 0, 'reason', reason, 'started_at', now(), 'updated_at', now())
$$;

-- One trip per case (at most one open attempt per trip); `age` is how long ago the attempt began.
create temp table k (name text primary key, trip uuid, attempt uuid);
create function pg_temp.attempt(name text, phase jsonb, reason text, pi text, age interval) returns void
language plpgsql as $$
declare
  v_trip uuid;
  v_attempt uuid := gen_random_uuid();
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, auto_book)
  values ('c4c4c4c4-0000-4000-8000-0000000002c4', 'LHR', 'JFK', (now() + interval '40 days')::date, 1,
    'economy', 42000, 'GBP', true)
  returning id into v_trip;
  insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at)
  values (v_attempt, v_trip, pg_temp.state(v_attempt, v_trip, 1, phase, reason, pi), 1, true, 'x',
    now() - age);
  insert into k values (name, v_trip, v_attempt);
end
$$;

select pg_temp.attempt('releasing', '{"name": "release", "end": "search_again"}', 'provider_unavailable',
  'pi_held1', interval '4 hours');
select pg_temp.attempt('recent', '{"name": "release", "end": "search_again"}', 'provider_unavailable',
  'pi_held2', interval '1 hour');
select pg_temp.attempt('traveller', jsonb_build_object('name', 'await_traveller',
  'deadline', app.rfc3339(now() + interval '1 day'), 'told', true), 'authentication_required',
  'pi_held3', interval '5 hours');
select pg_temp.attempt('reconciling', '{"name": "reconcile"}', 'order_outcome_unknown',
  'pi_held4', interval '5 hours');
select pg_temp.attempt('no_money', '{"name": "reprice"}', null, null, interval '5 hours');
select pg_temp.attempt('finding', '{"name": "find_intent"}', 'provider_unavailable',
  null, interval '4 hours');
select pg_temp.attempt('capturing', '{"name": "capture"}', 'provider_unavailable',
  'pi_held6', interval '3 hours 1 minute');

select is((select count(*)::int from public.booking_attempts where id in (select attempt from k) and open),
  7, 'seven open attempts, every one updated just now (none idle)');

select set_eq(
  $$ select attempt_id from app.stuck_attempts() where trip_id in (select trip from k) $$,
  $$ select attempt from k where name in ('releasing', 'capturing', 'finding') $$,
  'held over 3 hours while moving: the release, the capture and the intent search are stuck; the rest are not');
select ok((select held_seconds between 4 * 3600 - 5 and 4 * 3600 + 5 and idle_seconds between 0 and 5
           from app.stuck_attempts() where attempt_id = (select attempt from k where name = 'releasing')),
  'held_seconds is the time since the attempt began, idle_seconds the idle time');
select is((select count(*)::int from app.stuck_attempts() where trip_id in (select trip from k) and held_seconds is null),
  0, 'no attempt without money is listed for its hold');
-- Reconciling for 5 hours with its reason changed (an outage during the look-ups) is not stuck yet.
update public.booking_attempts a set state = pg_temp.state(a.id, a.trip_id, 2, '{"name": "reconcile"}',
  'provider_unavailable', 'pi_held4')
where a.id = (select attempt from k where name = 'reconciling');
select ok(not exists (select 1 from app.stuck_attempts() where attempt_id = (select attempt from k where name = 'reconciling')),
  'reconciling for 5 hours is not, whatever its reason says');

-- The traveller's 3-D Secure deadline passed 4 hours ago: held since then, stuck.
update public.booking_attempts a set state = pg_temp.state(a.id, a.trip_id, 2, jsonb_build_object(
    'name', 'await_traveller', 'deadline', app.rfc3339(now() - interval '4 hours'), 'told', true),
    'authentication_required', 'pi_held3')
where a.id = (select attempt from k where name = 'traveller');
select ok((select held_seconds >= 4 * 3600 - 5 from app.stuck_attempts()
           where attempt_id = (select attempt from k where name = 'traveller')),
  'waiting for the traveller past the deadline by hours: stuck, held since the deadline');

select ok((app.health_snapshot('{}') ->> 'stuck_attempts')::int >= 3,
  'the health snapshot counts them');

-- The alert rule: one attempt_stuck alert per attempt, resolved when the attempt closes.
select app.alerts_evaluate('{}');
select is((select count(*)::int from public.operator_alerts
  where rule = 'attempt_stuck' and resolved_at is null and attempt_id = (select attempt from k where name = 'releasing')),
  1, 'one open attempt_stuck alert for the release held for hours');
select is((select count(*)::int from public.operator_alerts
  where rule = 'attempt_stuck' and attempt_id in (select attempt from k where name in ('recent', 'reconciling', 'no_money'))),
  0, 'none for the others');

update public.booking_attempts a set state = pg_temp.state(a.id, a.trip_id, 2, '{"name": "closed", "end": "search_again"}',
  'provider_unavailable', 'pi_held1')
where a.id = (select attempt from k where name = 'releasing');
select app.alerts_evaluate('{}');
select isnt((select resolved_at from public.operator_alerts
  where rule = 'attempt_stuck' and attempt_id = (select attempt from k where name = 'releasing')),
  null, 'the release completed: the alert resolves');
select is((select count(*)::int from public.operator_alerts
  where rule = 'attempt_stuck' and resolved_at is null and attempt_id = (select attempt from k where name = 'capturing')),
  1, 'the capture still held: its alert stays open');

select * from finish();
rollback;
