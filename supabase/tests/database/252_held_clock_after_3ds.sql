-- The held-money clock starts when the traveller finishes 3-D Secure
-- (20261205000402_held_clock_after_3ds.sql): an attempt that leaves await_traveller hours after it
-- began is not stuck at once; 3 hours after leaving it is; the trigger owns left_traveller_at; an
-- attempt that never waited keeps counting from its start. Dates derive from now().
begin;
select plan(9);

insert into auth.users (id, email) values ('c4c4c4c4-0000-4000-8000-0000000002c5', 'held-3ds@example.test');
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('c4c4c4c4-0000-4000-8000-0000000002c5', 'cus_held0c4c4c4c40000400080000002c5', 'pm_card_visa');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('c4c4c4c4-0000-4000-8000-0000000002c5', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');

create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, pi text)
returns jsonb language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000held',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_held', 'payment_method', 'pm_card_visa', 'seed', 7,
    'version', version, 'phase', phase, 'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'), 'passenger_ids', '["pas_1"]'::jsonb,
    'payment_intent', pi, 'order', null, 'check_intent', false, 'key_generation', 0,
    'lookup_misses', 0, 'reason', null, 'started_at', now(), 'updated_at', now())
$$;

create temp table k (name text primary key, trip uuid, attempt uuid);
create function pg_temp.attempt(name text, phase jsonb, age interval) returns void
language plpgsql as $$
declare
  v_trip uuid;
  v_attempt uuid := gen_random_uuid();
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
    max_total_minor, currency, auto_book)
  values ('c4c4c4c4-0000-4000-8000-0000000002c5', 'LHR', 'JFK', (now() + interval '40 days')::date, 1,
    'economy', 42000, 'GBP', true)
  returning id into v_trip;
  insert into public.booking_attempts (id, trip_id, state, version, open, phase, created_at, left_traveller_at)
  values (v_attempt, v_trip, pg_temp.state(v_attempt, v_trip, 1, phase, 'pi_3ds_' || name), 1, true, 'x',
    now() - age, now() - interval '1 year');
  insert into k values (name, v_trip, v_attempt);
end
$$;

select pg_temp.attempt('late_3ds', jsonb_build_object('name', 'await_traveller',
  'deadline', app.rfc3339(now() + interval '19 hours'), 'told', true), interval '5 hours');
select pg_temp.attempt('no_3ds', '{"name": "capture"}', interval '4 hours');

select is((select left_traveller_at from public.booking_attempts where id = (select attempt from k where name = 'late_3ds')),
  null, 'a caller cannot set left_traveller_at on insert');
select ok(not exists (select 1 from app.stuck_attempts() where attempt_id = (select attempt from k where name = 'late_3ds')),
  'waiting for the traveller before the deadline: not stuck');

-- The traveller authenticates 5 hours after the attempt began; the saga orders.
update public.booking_attempts a set state = pg_temp.state(a.id, a.trip_id, 2, '{"name": "order"}', 'pi_3ds_late_3ds')
where a.id = (select attempt from k where name = 'late_3ds');
select ok((select left_traveller_at between now() - interval '1 second' and now() + interval '1 second'
           from public.booking_attempts where id = (select attempt from k where name = 'late_3ds')),
  'leaving await_traveller sets left_traveller_at');
select ok(not exists (select 1 from app.stuck_attempts() where attempt_id = (select attempt from k where name = 'late_3ds')),
  'just out of 3-D Secure 5 hours after the start: not stuck (money held for seconds)');
-- The snapshot's oldest GBP hold is now the 4-hour capture (before: this attempt's 5-hour start).
select ok((select (e ->> 'oldest_age_s')::bigint between 4 * 3600 - 60 and 4 * 3600 + 60
           from jsonb_array_elements(app.health_snapshot('{}') -> 'money_held') e
           where e ->> 'currency' = 'GBP'),
  'health money_held: the oldest hold is the 4-hour one, not the attempt that began 5 hours ago');

update public.booking_attempts a set state = pg_temp.state(a.id, a.trip_id, 3, '{"name": "capture"}', 'pi_3ds_late_3ds')
where a.id = (select attempt from k where name = 'late_3ds');
select ok((select left_traveller_at between now() - interval '1 second' and now() + interval '1 second'
           from public.booking_attempts where id = (select attempt from k where name = 'late_3ds')),
  'later saves keep it');
update public.booking_attempts set left_traveller_at = now() - interval '9 hours',
  state = pg_temp.state(id, trip_id, 4, '{"name": "capture"}', 'pi_3ds_late_3ds')
where id = (select attempt from k where name = 'late_3ds');
select ok((select left_traveller_at between now() - interval '1 second' and now() + interval '1 second'
           from public.booking_attempts where id = (select attempt from k where name = 'late_3ds')),
  'a caller cannot move the clock back');

-- Three hours after the traveller finished: stuck, held since then.
alter table public.booking_attempts disable trigger user;
update public.booking_attempts set left_traveller_at = now() - interval '3 hours 5 minutes'
where id = (select attempt from k where name = 'late_3ds');
alter table public.booking_attempts enable trigger user;
select ok((select held_seconds between 3 * 3600 + 295 and 3 * 3600 + 305 from app.stuck_attempts()
           where attempt_id = (select attempt from k where name = 'late_3ds')),
  'held for over 3 hours since 3-D Secure: stuck, held_seconds counted from then');
select ok((select held_seconds >= 4 * 3600 - 5 from app.stuck_attempts()
           where attempt_id = (select attempt from k where name = 'no_3ds')),
  'an attempt that never waited for the traveller counts from its start');

select * from finish();
rollback;
