-- supabase/seed.sql (the demo data `supabase db reset` loads): it applies cleanly on the migrated
-- database, twice without error or duplicates, and gives the demo what it needs. Local only: the
-- file is read from the checkout (\ir), which `supabase test db` does not mount.
begin;
select plan(8);

\ir ../../../supabase/seed.sql
create temp table first_run as
  select (select count(*) from auth.users) as users, (select count(*) from public.trip_requests) as trips,
         (select count(*) from public.travelers) as travelers, (select count(*) from public.payment_profiles) as profiles;
\ir ../../../supabase/seed.sql

select is((select count(*) from auth.users), (select users from first_run), 'a second run adds no user');
select is((select count(*) from public.trip_requests), (select trips from first_run), 'nor a trip');
select is((select count(*) from public.travelers), (select travelers from first_run), 'nor a traveller');
select is((select count(*) from public.payment_profiles), (select profiles from first_run), 'nor a payment profile');

select is(
  (select jsonb_build_object('owner', owner_id, 'status', status, 'route', origin || '-' || destination,
     'days_ahead', departure_date - current_date, 'auto_book', auto_book, 'due', next_check_at <= now())
   from public.trip_requests where id = '00000000-0000-4000-8000-0000000000d1'),
  '{"owner": "00000000-0000-4000-8000-000000000001", "status": "searching", "route": "LHR-JFK",
    "days_ahead": 110, "auto_book": true, "due": true}'::jsonb,
  'the demo trip belongs to the local test user, departs in 110 days and is due for the monitor');
select is(
  (select stripe_customer_id || ' ' || stripe_payment_method_id from public.payment_profiles
   where owner_id = '00000000-0000-4000-8000-000000000001'),
  'cus_demo_traveller pm_card_visa', 'the user has a saved Stripe test card');
select set_config('role', 'service_role', true);
select is(
  jsonb_array_length(app.monitor_passengers('{"trip_id": "00000000-0000-4000-8000-0000000000d1"}') -> 'passengers'), 1,
  'the trip has its one passenger, readable by the monitor');
select set_config('role', 'postgres', true);
select matches(
  (select string_agg(email, ',') from auth.users where id = '00000000-0000-4000-8000-000000000001'),
  '@example\.test$', 'only example.test addresses');

select * from finish();
rollback;
