-- Demo data for local development. `supabase db reset` loads it after the migrations ([db.seed] in
-- config.toml); on the local stand-in stack: `bash scripts/stack.sh psql -f supabase/seed.sql`.
-- Never load it into a production project.
--
-- - Idempotent: fixed ids and `on conflict do nothing`, so it can run any number of times.
-- - No real personal data: example.test addresses, a made-up traveller, a UK drama-range phone
--   number (020 7946 0xxx), Stripe's test customer / card ids.
-- - Dates relative to the day it runs, so the seeded trip is always bookable.
--
-- What it holds is what the demo (scripts/demo.ts) works with: the local test user of
-- `scripts/stack.sh status` (id 00000000-0000-4000-8000-000000000001), their saved test card, one
-- watched trip LHR -> JFK in 110 days (economy, nonstop, booked automatically at GBP 420.00 or
-- less) due for the monitor now, and its passenger. The passenger is stored encrypted with the
-- Vault secret traveler_data_key (docs/operations.md); where that secret is not set yet the
-- passenger is left out with a notice, and the monitor will report travelers_missing for the trip.

-- The user. GoTrue reads the token columns as strings, so they are '' rather than NULL.
insert into auth.users (
  instance_id, id, aud, role, email, email_confirmed_at, confirmation_token, recovery_token,
  email_change_token_new, email_change, raw_app_meta_data, raw_user_meta_data, created_at, updated_at
) values (
  '00000000-0000-0000-0000-000000000000', '00000000-0000-4000-8000-000000000001', 'authenticated',
  'authenticated', 'traveller@example.test', now(), '', '', '', '',
  '{"provider": "email", "providers": ["email"]}', '{}', now(), now()
) on conflict (id) do nothing;

-- Their saved payment method (Stripe test ids: no card data is ever stored).
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('00000000-0000-4000-8000-000000000001', 'cus_demo_traveller', 'pm_card_visa')
on conflict (owner_id) do nothing;

-- Their consent to off-session charges on that card, up to GBP 500.00 per booking (auto-booking
-- needs a default card and a consent covering the trip: the trip below is refused without it).
insert into public.consents (id, owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values (
  '00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-000000000001', 'pm_card_visa',
  50000, 'GBP',
  'I authorise Parker Flight to charge my Visa card ending 4242 while I am not present, up to GBP 500.00 per booking, to pay for flights I asked it to book automatically. I can withdraw this at any time by removing the card or turning auto-booking off.',
  '2026-12-01'
) on conflict (id) do nothing;

-- The watched trip, due now: the next monitor run searches, selects and books it.
insert into public.trip_requests (
  id, owner_id, origin, destination, departure_date, adults, cabin, nonstop_only,
  max_total_minor, currency, auto_book, next_check_at
) values (
  '00000000-0000-4000-8000-0000000000d1', '00000000-0000-4000-8000-000000000001', 'LHR', 'JFK',
  current_date + 110, 1, 'economy', true, 42000, 'GBP', true, now()
) on conflict (id) do nothing;

-- Its passenger (encrypted at rest by app.create_traveler).
do $$
begin
  if exists (select 1 from public.trip_travelers where trip_id = '00000000-0000-4000-8000-0000000000d1') then
    return;
  end if;
  if not exists (select 1 from vault.secrets where name = 'traveler_data_key') then
    raise notice 'seed: Vault secret traveler_data_key is not set; the demo passenger is left out';
    return;
  end if;
  insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
  values (
    '00000000-0000-4000-8000-0000000000d1', '00000000-0000-4000-8000-000000000001',
    app.create_traveler('00000000-0000-4000-8000-000000000001', jsonb_build_object(
      'title', 'ms', 'gender', 'f', 'given_name', 'Alex', 'family_name', 'Example',
      'born_on', (current_date - interval '40 years')::date, 'email', 'traveller@example.test',
      'phone_number', '+442079460123')),
    1);
end
$$;
