-- Duffel webhooks (issue 7, item 7; 20261202000400_duffel_webhook.sql): duffel_webhook_events is
-- service-only (RLS on, no grant to anon/authenticated), app.duffel_webhook_record processes each
-- event id once, finds the booking by provider order id, enqueues one schedule_changed
-- notification per event, cancels a confirmed booking with an operator alert, tolerates any
-- order of arrival and acknowledges unknown orders. Dates derive from now().
begin;
select plan(36);

create function pg_temp.day(n int) returns date language sql stable as $$ select current_date + n $$;

insert into auth.users (id, email) values ('eeeeeeee-0000-4000-8000-00000000000e', 'user-e@example.test');

create temp table k (name text primary key, id uuid);
grant all on k to public;

-- A booked trip with a confirmed booking for order ord_0000pgtapbooked, and a second one for
-- ord_0000pgtapother.
do $$
declare
  v_trip uuid;
  v_attempt uuid;
  v_booking uuid;
  v_n int;
begin
  for v_n in 1..2 loop
    insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
    values ('eeeeeeee-0000-4000-8000-00000000000e', 'LHR', 'JFK', pg_temp.day(60), 1, 'economy', 42000, 'GBP')
    returning id into v_trip;
    v_attempt := gen_random_uuid();
    insert into public.booking_attempts (id, trip_id, state, version, open, phase)
    values (v_attempt, v_trip, jsonb_build_object(
      'schema_version', 1, 'attempt_id', v_attempt, 'trip_id', v_trip, 'offer_id', 'off_0000test',
      'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
      'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', 1,
      'phase', jsonb_build_object('name', 'closed', 'end', 'booked'),
      'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
      'payment_intent', null, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
      'reason', null, 'started_at', now(), 'updated_at', now()), 1, false, 'closed');
    insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency)
    values (v_trip, v_attempt, case v_n when 1 then 'ord_0000pgtapbooked' else 'ord_0000pgtapother' end, 'K9W6RR', 41240, 'GBP')
    returning id into v_booking;
    insert into k values ('trip' || v_n, v_trip), ('booking' || v_n, v_booking);
  end loop;
end
$$;

create function pg_temp.args(event_id text, kind text, order_id text) returns jsonb language sql as $$
  select jsonb_build_object(
    'event_id', event_id,
    'type', case kind when 'order_created' then 'order.created'
                      when 'schedule_changed' then 'order.airline_initiated_change_detected'
                      else 'order.cancelled' end,
    'kind', kind, 'order_id', order_id,
    'occurred_at', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'notification', case kind when 'schedule_changed'
      then jsonb_build_object('template', 'schedule_changed', 'dedupe_key', 'duffel:' || replace(event_id, '_', '.'))
      else null end,
    'alert', case kind when 'order_cancelled' then 'airline_cancelled' else null end)
$$;

create function pg_temp.record(a jsonb) returns jsonb language plpgsql as $$
declare
  r jsonb;
begin
  perform set_config('role', 'service_role', true);
  r := app.duffel_webhook_record(a);
  perform set_config('role', 'postgres', true);
  return r;
end
$$;

-- Table security ---------------------------------------------------------------------------------
select ok((select relrowsecurity from pg_class where oid = 'public.duffel_webhook_events'::regclass),
  'duffel_webhook_events has RLS on');
select ok(not has_table_privilege('anon', 'public.duffel_webhook_events', 'select'), 'anon cannot read events');
select ok(not has_table_privilege('authenticated', 'public.duffel_webhook_events', 'select'),
  'authenticated cannot read events');
select ok(not has_table_privilege('authenticated', 'public.duffel_webhook_events', 'insert'),
  'authenticated cannot write events');
select ok(has_table_privilege('service_role', 'public.duffel_webhook_events', 'insert'), 'service_role writes events');
select ok(not has_table_privilege('service_role', 'public.duffel_webhook_events', 'delete'),
  'service_role cannot delete events (they are the once-only record)');
select ok(not has_function_privilege('anon', 'app.duffel_webhook_record(jsonb)', 'execute'), 'anon cannot record');
select ok(not has_function_privilege('authenticated', 'app.duffel_webhook_record(jsonb)', 'execute'),
  'authenticated cannot record');
select ok(has_function_privilege('service_role', 'app.duffel_webhook_record(jsonb)', 'execute'), 'service_role records');

-- Out of order: the schedule change arrives before order.created ---------------------------------
select is(pg_temp.record(pg_temp.args('wev_0000pgtap01', 'schedule_changed', 'ord_0000pgtapbooked')),
  '{"duplicate": false, "outcome": "notified"}'::jsonb, 'a schedule change of a confirmed booking notifies');
select is((select count(*)::int from public.notifications
           where trip_id = (select id from k where name = 'trip1') and template = 'schedule_changed'),
  1, 'one schedule_changed notification is enqueued');
select is((select dedupe_key from public.notifications
           where trip_id = (select id from k where name = 'trip1') and template = 'schedule_changed'),
  'duffel:wev.0000pgtap01', 'its dedupe key comes from the event id');
select is(pg_temp.record(pg_temp.args('wev_0000pgtap01', 'schedule_changed', 'ord_0000pgtapbooked')),
  '{"duplicate": true, "outcome": "notified"}'::jsonb, 'the same event again is a duplicate with the first outcome');
select is((select count(*)::int from public.notifications
           where trip_id = (select id from k where name = 'trip1') and template = 'schedule_changed'),
  1, 'a redelivery enqueues nothing more');
select is(pg_temp.record(pg_temp.args('wev_0000pgtap02', 'order_created', 'ord_0000pgtapbooked')),
  '{"duplicate": false, "outcome": "recorded"}'::jsonb, 'order.created after the change is recorded');
select is((select (booking_id, trip_id, outcome)::text from public.duffel_webhook_events where id = 'wev_0000pgtap02'),
  (select ((select id from k where name = 'booking1'), (select id from k where name = 'trip1'), 'recorded')::text),
  'the event row names the booking and the trip');
select is((select count(*)::int from public.pipeline_events
           where trip_id = (select id from k where name = 'trip1') and stage = 'duffel_webhook'),
  2, 'each processed event leaves one decision-log row (none for the duplicate)');
select is((select status from public.bookings where id = (select id from k where name = 'booking1')),
  'confirmed', 'the booking is still confirmed');

-- A second, distinct schedule change is a second message ------------------------------------------
select is(pg_temp.record(pg_temp.args('wev_0000pgtap03', 'schedule_changed', 'ord_0000pgtapbooked')) ->> 'outcome',
  'notified', 'another change event notifies again');
select is((select count(*)::int from public.notifications
           where trip_id = (select id from k where name = 'trip1') and template = 'schedule_changed'),
  2, 'two distinct events, two notifications');

-- Airline cancellation ---------------------------------------------------------------------------
select is(pg_temp.record(pg_temp.args('wev_0000pgtap04', 'order_cancelled', 'ord_0000pgtapbooked')),
  '{"duplicate": false, "outcome": "booking_cancelled"}'::jsonb, 'order.cancelled cancels a confirmed booking');
select is((select status from public.bookings where id = (select id from k where name = 'booking1')),
  'cancelled', 'the booking status is cancelled');
select is((select count(*)::int from public.pipeline_events
           where trip_id = (select id from k where name = 'trip1') and stage = 'duffel_webhook'
             and decision = 'operator_alert' and reason_code = 'airline_cancelled'),
  1, 'an operator alert is raised');
select is(pg_temp.record(pg_temp.args('wev_0000pgtap05', 'order_cancelled', 'ord_0000pgtapbooked')) ->> 'outcome',
  'already_cancelled', 'a second cancellation event finds it cancelled');
select is((select count(*)::int from public.pipeline_events
           where trip_id = (select id from k where name = 'trip1') and decision = 'operator_alert'),
  1, 'no second alert');
select is(pg_temp.record(pg_temp.args('wev_0000pgtap06', 'schedule_changed', 'ord_0000pgtapbooked')) ->> 'outcome',
  'booking_cancelled', 'a schedule change arriving after the cancellation is recorded');
select is((select count(*)::int from public.notifications
           where trip_id = (select id from k where name = 'trip1') and template = 'schedule_changed'),
  2, 'and does not mail the traveller about a cancelled booking');
select is(pg_temp.record(pg_temp.args('wev_0000pgtap07', 'order_created', 'ord_0000pgtapbooked')) ->> 'outcome',
  'recorded', 'a late order.created is recorded');
select is((select status from public.bookings where id = (select id from k where name = 'booking1')),
  'cancelled', 'and does not revive the booking');
select is((select status from public.bookings where id = (select id from k where name = 'booking2')),
  'confirmed', 'the other booking is untouched');

-- Unknown orders ---------------------------------------------------------------------------------
select is(pg_temp.record(pg_temp.args('wev_0000pgtap08', 'order_cancelled', 'ord_0000notours')),
  '{"duplicate": false, "outcome": "unknown_order"}'::jsonb, 'an event for an unknown order is acknowledged');
select is((select (booking_id is null and trip_id is null and outcome = 'unknown_order')
           from public.duffel_webhook_events where id = 'wev_0000pgtap08'),
  true, 'and recorded without a booking');

-- Bad args ---------------------------------------------------------------------------------------
select throws_ok($$ select pg_temp.record(pg_temp.args('wev 1', 'order_created', 'ord_0000pgtapbooked')) $$,
  '22023', 'field event_id must be a Duffel event id', 'a malformed event id is refused');
select throws_ok($$ select pg_temp.record(pg_temp.args('wev_0000pgtap09', 'order_created', 'off_1')) $$,
  '22023', 'field order_id must be a Duffel order id', 'an order id must be ord_…');
select throws_ok($$ select pg_temp.record(pg_temp.args('wev_0000pgtap10', 'order_created', 'ord_0000pgtapbooked') || '{"extra": 1}') $$,
  '22023', 'unknown field: extra', 'unknown fields are refused');
select is((select count(*)::int from public.duffel_webhook_events where id in ('wev_0000pgtap09', 'wev_0000pgtap10')),
  0, 'refused calls store nothing');

select * from finish();
rollback;
