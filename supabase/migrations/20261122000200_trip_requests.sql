-- trip_requests: one traveller's standing request ("LHR to JFK on 12 March, book it if <= GBP 420").
--
-- Invariants are CHECK constraints named <table>_<rule> so that a 23514 error names the rule.
-- Time-dependent rules (departure not in the past, at most 365 days ahead) live in the core,
-- which receives `now` as an input; a constraint cannot use the clock without breaking old rows.

create function app.infant_count(ages smallint[])
returns integer
language sql
immutable
strict
set search_path = ''
as $$
  select count(*)::integer from unnest(ages) as a where a < 2
$$;

revoke all on function app.infant_count(smallint[]) from public;

create table public.trip_requests (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references auth.users (id) on delete cascade,
  origin text not null,
  destination text not null,
  departure_date date not null,
  return_date date,
  adults smallint not null,
  child_ages smallint[] not null default '{}',
  cabin text not null,
  nonstop_only boolean not null default false,
  max_total_minor bigint not null,
  currency text not null,
  auto_book boolean not null default false,
  status text not null default 'searching',
  selected_offer_id uuid,
  next_check_at timestamptz,
  check_count integer not null default 0,
  last_error_code text,
  version bigint not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  constraint trip_requests_origin_iata check (origin ~ '^[A-Z]{3}$'),
  constraint trip_requests_destination_iata check (destination ~ '^[A-Z]{3}$'),
  constraint trip_requests_origin_ne_destination check (origin <> destination),
  constraint trip_requests_return_after_departure check (return_date is null or return_date >= departure_date),
  constraint trip_requests_adults_range check (adults between 1 and 9),
  constraint trip_requests_child_ages_range check (
    array_ndims(child_ages) is null
    or (
      array_ndims(child_ages) = 1
      and array_position(child_ages, null) is null
      and 0 <= all (child_ages)
      and 17 >= all (child_ages)
    )
  ),
  constraint trip_requests_passengers_max check (adults + cardinality(child_ages) <= 9),
  constraint trip_requests_infants_le_adults check (app.infant_count(child_ages) <= adults),
  constraint trip_requests_cabin_known check (cabin in ('economy', 'premium_economy', 'business', 'first')),
  constraint trip_requests_max_total_positive check (max_total_minor > 0 and max_total_minor <= 1000000000000),
  constraint trip_requests_currency_iso check (currency ~ '^[A-Z]{3}$'),
  constraint trip_requests_status_known check (
    status in ('searching', 'watching', 'booking', 'booked', 'needs_traveller', 'expired', 'cancelled', 'failed')
  ),
  constraint trip_requests_booking_has_offer check (status <> 'booking' or selected_offer_id is not null),
  constraint trip_requests_check_count_nonnegative check (check_count >= 0),
  -- Error codes are stable snake_case identifiers, which also keeps free text (and PII) out.
  constraint trip_requests_last_error_code_format check (
    last_error_code is null or last_error_code ~ '^[a-z][a-z0-9_]{0,63}$'
  ),
  constraint trip_requests_version_positive check (version >= 1)
);

comment on table public.trip_requests is
  'A traveller''s trip request and its pipeline state. Owners read their own rows; all writes go through app.* functions.';

-- The owner's trips, newest first.
create index trip_requests_owner_created_idx on public.trip_requests (owner_id, created_at desc);
-- The monitor's work queue: trips that are due, in a status the monitor re-checks.
create index trip_requests_due_idx on public.trip_requests (next_check_at)
  where status in ('searching', 'watching');

-- Status graph (enforced by app.trip_requests_guard on every UPDATE; same-status updates are
-- always allowed):
--
--   searching       -> watching | expired | cancelled | failed
--   watching        -> booking | expired | cancelled | failed
--   booking         -> booked | watching | needs_traveller | failed | expired
--   needs_traveller -> watching | cancelled | expired | failed
--   failed          -> searching        (documented exception: an operator retry starts over)
--   booked, expired, cancelled          -> nothing (terminal; a booked trip never goes back)
--
-- `booking` is entered only from `watching` (the compare-and-set on status + version that
-- guards money, see docs) and leaves only through the outcome of the booking attempt;
-- in particular a trip in `booking` cannot be cancelled until that attempt has an outcome.
create function app.trip_status_transition_allowed(from_status text, to_status text)
returns boolean
language sql
immutable
strict
set search_path = ''
as $$
  select from_status = to_status or (from_status, to_status) in (
    ('searching', 'watching'), ('searching', 'expired'), ('searching', 'cancelled'), ('searching', 'failed'),
    ('watching', 'booking'), ('watching', 'expired'), ('watching', 'cancelled'), ('watching', 'failed'),
    ('booking', 'booked'), ('booking', 'watching'), ('booking', 'needs_traveller'), ('booking', 'failed'),
    ('booking', 'expired'),
    ('needs_traveller', 'watching'), ('needs_traveller', 'cancelled'), ('needs_traveller', 'expired'),
    ('needs_traveller', 'failed'),
    ('failed', 'searching')
  )
$$;

revoke all on function app.trip_status_transition_allowed(text, text) from public;

-- BEFORE UPDATE: identity columns are immutable, the status follows the graph above, `version`
-- goes up by exactly one on every update (callers use it for compare-and-set:
-- `update ... where id = $1 and version = $2`), and updated_at is maintained.
create function app.trip_requests_guard()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.id is distinct from old.id
    or new.owner_id is distinct from old.owner_id
    or new.created_at is distinct from old.created_at then
    raise exception using
      errcode = '55000',
      message = 'trip id, owner_id and created_at cannot change';
  end if;

  if not app.trip_status_transition_allowed(old.status, new.status) then
    raise exception using
      errcode = '55000',
      message = format('trip status cannot change from %s to %s', old.status, new.status),
      hint = 'see the status graph in migration 20261122000200_trip_requests.sql';
  end if;

  new.version := old.version + 1;
  new.updated_at := now();
  return new;
end
$$;

revoke all on function app.trip_requests_guard() from public;

create trigger trip_requests_guard
before update on public.trip_requests
for each row execute function app.trip_requests_guard();

-- BEFORE INSERT: every trip starts at version 1.
create function app.trip_requests_init()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.version := 1;
  return new;
end
$$;

revoke all on function app.trip_requests_init() from public;

create trigger trip_requests_init
before insert on public.trip_requests
for each row execute function app.trip_requests_init();
