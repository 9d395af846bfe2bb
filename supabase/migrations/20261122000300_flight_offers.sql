-- flight_offers: offers returned by a provider for a trip, upserted by app.record_search.
--
-- Notes on what is deliberately NOT a constraint:
-- * arriving_at >= departing_at: both are airport-local times without offset, so a westbound
--   flight across the date line (e.g. 21:00 NRT -> 09:00 HNL the same day) arrives "earlier".
-- * expires_at in the future: expiry is time-dependent; the core and the cleanup job handle it.

create table public.flight_offers (
  id uuid primary key default gen_random_uuid(),
  trip_id uuid not null references public.trip_requests (id) on delete cascade,
  provider text not null,
  provider_offer_id text not null,
  total_minor bigint not null,
  currency text not null,
  cabin text not null,
  stops smallint not null,
  duration_minutes integer not null,
  departing_at timestamp not null,
  arriving_at timestamp not null,
  carriers text[] not null,
  expires_at timestamptz,
  raw jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  constraint flight_offers_provider_format check (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
  constraint flight_offers_provider_offer_id_length check (length(provider_offer_id) between 1 and 255),
  constraint flight_offers_total_positive check (total_minor > 0),
  constraint flight_offers_currency_iso check (currency ~ '^[A-Z]{3}$'),
  constraint flight_offers_cabin_known check (cabin in ('economy', 'premium_economy', 'business', 'first')),
  constraint flight_offers_stops_range check (stops between 0 and 9),
  constraint flight_offers_duration_positive check (duration_minutes > 0),
  -- IATA airline designators: two upper-case letters or digits; at least one carrier.
  constraint flight_offers_carriers_format check (
    cardinality(carriers) between 1 and 32
    and array_ndims(carriers) = 1
    and array_to_string(carriers, ',', '*') ~ '^[A-Z0-9]{2}(,[A-Z0-9]{2})*$'
  ),
  -- The core keeps `raw` only when it serialises to <= 16 KiB compact JSON; jsonb's text form adds
  -- a space after every ':' and ',', so the bound here is twice that.
  constraint flight_offers_raw_bounded check (raw is null or octet_length(raw::text) <= 32768),
  constraint flight_offers_trip_provider_offer_key unique (trip_id, provider, provider_offer_id),
  -- Target of trip_requests.selected_offer_id's composite key (an offer of the SAME trip).
  constraint flight_offers_id_trip_key unique (id, trip_id)
);

comment on table public.flight_offers is
  'Provider offers per trip (unique per trip + provider + provider offer id). Owners read offers of their trips.';

-- Offers by trip are served by the (trip_id, provider, provider_offer_id) unique index.
-- Purging expired offers.
create index flight_offers_expires_at_idx on public.flight_offers (expires_at);

create trigger flight_offers_touch_updated_at
before update on public.flight_offers
for each row execute function app.touch_updated_at();

-- A trip's selected offer must be one of that trip's offers. Deleting the offer clears the
-- selection (only that column), which the trip_requests_booking_has_offer check refuses while
-- the trip is `booking`.
alter table public.trip_requests
  add constraint trip_requests_selected_offer_fkey
  foreign key (selected_offer_id, id) references public.flight_offers (id, trip_id)
  on delete set null (selected_offer_id);
