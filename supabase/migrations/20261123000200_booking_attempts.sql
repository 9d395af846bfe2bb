-- booking_attempts (the saga ledger) and bookings (confirmed bookings), issue 3.
--
-- booking_attempts: one row per attempt; `id` is the saga's attempt_id (the root of every
-- idempotency key) and `state` is the JSON of booking_core::saga::AttemptState. The trigger
-- below derives the operator columns (version, open, phase, payment_intent, order_id,
-- amount_minor, currency, reason) from `state`, so they can never disagree with it. At most one
-- OPEN attempt per trip: a partial unique index. Rows are written only by app.monitor_* (begin:
-- insert; save: compare-and-set on version).
--
-- The state holds no personal data (booking_core keeps travellers out of it).

create table public.booking_attempts (
  id uuid primary key,
  trip_id uuid not null references public.trip_requests (id) on delete cascade,
  state jsonb not null,
  version bigint not null,
  open boolean not null,
  phase text not null,
  payment_intent text,
  order_id text,
  amount_minor bigint,
  currency text,
  reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  constraint booking_attempts_state_object check (jsonb_typeof(state) = 'object'),
  constraint booking_attempts_state_bounded check (octet_length(state::text) <= 16384),
  constraint booking_attempts_version_positive check (version >= 1),
  constraint booking_attempts_phase_known check (
    phase in ('reprice', 'authorize', 'find_intent', 'order', 'reconcile', 'capture', 'release', 'finish', 'closed')
  ),
  constraint booking_attempts_open_iff_not_closed check (open = (phase <> 'closed')),
  constraint booking_attempts_amount_positive check (amount_minor is null or amount_minor > 0),
  constraint booking_attempts_currency_iso check (currency is null or currency ~ '^[A-Z]{3}$'),
  constraint booking_attempts_reason_format check (reason is null or reason ~ '^[a-z][a-z0-9_]{0,63}$')
);

comment on table public.booking_attempts is
  'The booking saga ledger: one row per attempt, state = booking_core AttemptState JSON. At most one open attempt per trip.';

-- Money safety: two monitors can never both hold an open attempt for a trip.
create unique index booking_attempts_one_open_per_trip on public.booking_attempts (trip_id) where open;
create index booking_attempts_trip_created_idx on public.booking_attempts (trip_id, created_at desc);

-- BEFORE INSERT OR UPDATE: check that the state names this row (attempt_id, trip_id), derive the
-- operator columns from it, keep id / trip_id / created_at immutable, refuse any change to a
-- closed attempt and any version that does not go up. Errors: 22023 for a state that does not
-- describe this attempt, 55000 for an illegal change.
create function app.booking_attempts_derive()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  s jsonb := new.state;
begin
  if jsonb_typeof(s) is distinct from 'object'
    or jsonb_typeof(s -> 'attempt_id') is distinct from 'string'
    or jsonb_typeof(s -> 'trip_id') is distinct from 'string'
    or jsonb_typeof(s -> 'version') is distinct from 'number'
    or jsonb_typeof(s -> 'phase') is distinct from 'object'
    or jsonb_typeof(s #> '{phase,name}') is distinct from 'string' then
    raise exception using
      errcode = '22023',
      message = 'state must be an AttemptState object (attempt_id, trip_id, version, phase.name)';
  end if;
  if (s ->> 'attempt_id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    or (s ->> 'attempt_id')::uuid <> new.id then
    raise exception using errcode = '22023', message = 'state.attempt_id must be this attempt''s id';
  end if;
  if (s ->> 'trip_id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    or (s ->> 'trip_id')::uuid <> new.trip_id then
    raise exception using errcode = '22023', message = 'state.trip_id must be this attempt''s trip';
  end if;

  new.version := (s ->> 'version')::bigint;
  new.phase := s #>> '{phase,name}';
  new.open := new.phase <> 'closed';
  new.payment_intent := nullif(s ->> 'payment_intent', '');
  new.order_id := s #>> '{order,id}';
  new.amount_minor := (s #>> '{amount,amount_minor}')::bigint;
  new.currency := s #>> '{amount,currency}';
  new.reason := s ->> 'reason';

  if tg_op = 'UPDATE' then
    if new.id is distinct from old.id or new.trip_id is distinct from old.trip_id
      or new.created_at is distinct from old.created_at then
      raise exception using errcode = '55000', message = 'attempt id, trip_id and created_at cannot change';
    end if;
    if not old.open then
      raise exception using errcode = '55000', message = 'a closed attempt cannot change';
    end if;
    if new.version <= old.version then
      raise exception using
        errcode = '55000',
        message = format('attempt version must go up (stored %s, new %s)', old.version, new.version);
    end if;
    new.updated_at := now();
  end if;
  return new;
end
$$;

revoke all on function app.booking_attempts_derive() from public;

create trigger booking_attempts_derive
before insert or update on public.booking_attempts
for each row execute function app.booking_attempts_derive();

create table public.bookings (
  id uuid primary key default gen_random_uuid(),
  trip_id uuid not null references public.trip_requests (id) on delete cascade,
  attempt_id uuid not null references public.booking_attempts (id) on delete cascade,
  provider text not null default 'duffel',
  provider_order_id text not null,
  booking_reference text not null,
  amount_minor bigint not null,
  currency text not null,
  status text not null default 'confirmed',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  -- One booking per attempt: record_booking is idempotent on it.
  constraint bookings_attempt_key unique (attempt_id),
  constraint bookings_provider_order_key unique (provider, provider_order_id),
  constraint bookings_provider_format check (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
  constraint bookings_provider_order_id_length check (length(provider_order_id) between 1 and 255),
  constraint bookings_booking_reference_format check (booking_reference ~ '^[A-Za-z0-9]{1,32}$'),
  constraint bookings_amount_positive check (amount_minor > 0),
  constraint bookings_currency_iso check (currency ~ '^[A-Z]{3}$'),
  constraint bookings_status_known check (status in ('confirmed', 'cancelled'))
);

comment on table public.bookings is
  'Confirmed bookings (provider order id, booking reference, amount in minor units). Owners read their own.';

create index bookings_trip_idx on public.bookings (trip_id);

create trigger bookings_touch_updated_at
before update on public.bookings
for each row execute function app.touch_updated_at();
