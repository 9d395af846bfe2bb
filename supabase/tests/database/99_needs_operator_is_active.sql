-- Review fix (migration 20261201000700): a trip flagged `needs_operator` counts as active for
-- the per-user cap, so the owner cannot fill the cap while it is flagged and the operator's
-- resume (needs_operator -> booking) is never refused with PF001. Dates derive from now().
begin;
select plan(4);

insert into auth.users (id, email) values ('dddddddd-0000-4000-8000-0000000000d9', 'flagged@example.test');
update public.pipeline_settings set max_active_trips_per_user = 1;

select ok(app.trip_status_is_active('needs_operator'), 'needs_operator is an active status');
select ok(not app.trip_status_is_active('booked'), 'booked is not');

-- The owner's one active trip is flagged for an operator (set directly, as the flag does).
insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
  max_total_minor, currency)
values ('dddddddd-0000-4000-8000-0000000000d9', 'LHR', 'JFK', (now() + interval '60 days')::date, 1,
  'economy', 42000, 'GBP');
alter table public.trip_requests disable trigger user;
update public.trip_requests set status = 'needs_operator'
  where owner_id = 'dddddddd-0000-4000-8000-0000000000d9';
alter table public.trip_requests enable trigger user;

select throws_ok(
  $$ insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin,
       max_total_minor, currency)
     values ('dddddddd-0000-4000-8000-0000000000d9', 'LHR', 'CDG', (now() + interval '60 days')::date, 1,
       'economy', 42000, 'GBP') $$,
  'PF001', null, 'a flagged trip holds its place under the cap: no new trip');
select is(
  (select count(*)::int from public.trip_requests
    where owner_id = 'dddddddd-0000-4000-8000-0000000000d9'
      and status in ('searching', 'watching', 'booking', 'needs_traveller', 'needs_operator')),
  1, 'still one active trip');

select * from finish();
rollback;
