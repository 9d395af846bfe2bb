-- Issue 7, items 2 and 3: saved cards, consent to off-session charges, and Stripe's webhook
-- (docs/contracts.md "payment-methods", "stripe-webhook"; docs/operations.md "Operator alerts").
--
-- * payment_profiles: the row is written before the Stripe customer exists (the customer's
--   idempotency key is derived from it), so both Stripe ids may be null for a while; a profile
--   with no default card (`stripe_payment_method_id` null) cannot pay. One profile per customer.
-- * consents: who agreed (owner_id), when (created_at), to which card (payment_method_id), up to
--   which amount per booking (max_amount_minor, currency), with which text (text, text_version).
--   Rows are immutable except their revocation (a detached card, a superseding consent).
-- * Auto-booking needs both: a BEFORE INSERT / UPDATE OF auto_book, max_total_minor, currency
--   trigger on trip_requests refuses a trip that becomes auto-book (or raises its maximum, or
--   changes currency) unless the owner has a default card (SQLSTATE PF003, 403
--   `auto_book_needs_card`) and a current consent for that card in the trip's currency covering
--   its maximum (PF005, 403 `auto_book_needs_consent`). It applies to every caller, operators
--   included: there is no path to an auto-book trip without consent. It is named so that it
--   fires after trip_requests_limits (the anonymous rule keeps its own answer).
-- * The monitor's claim (app.monitor_claim_json) hands out the payment profile only while such a
--   consent covers the trip, so a card changed or detached after the trip was created is never
--   charged (the monitor keeps watching with `payment_profile_missing`).
-- * stripe_webhook_events (processed once: the primary key), operator_alerts (mismatches between
--   Stripe and the saga's ledger, for operators; never acted on automatically) and
--   stripe_disputes. Service only.

-- Payment profiles ---------------------------------------------------------------------------------
alter table public.payment_profiles
  alter column stripe_customer_id drop not null,
  alter column stripe_payment_method_id drop not null;

create unique index payment_profiles_customer_unique on public.payment_profiles (stripe_customer_id)
  where stripe_customer_id is not null;

comment on column public.payment_profiles.stripe_payment_method_id is
  'The default card (pm_…) auto-booking charges; null until a card is saved, and after it is detached.';

-- Consents -----------------------------------------------------------------------------------------
create table public.consents (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references auth.users (id) on delete cascade,
  payment_method_id text not null,
  max_amount_minor bigint not null,
  currency text not null,
  text text not null,
  text_version text not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  revoked_reason text,

  constraint consents_payment_method_format check (payment_method_id ~ '^pm_[A-Za-z0-9_]{1,250}$'),
  constraint consents_amount_positive check (max_amount_minor > 0 and max_amount_minor <= 1000000000000),
  constraint consents_currency_iso check (currency ~ '^[A-Z]{3}$'),
  constraint consents_text_bounded check (char_length(text) between 1 and 2000),
  constraint consents_text_version_format check (text_version ~ '^[A-Za-z0-9._-]{1,32}$'),
  constraint consents_revoked_reason_format check (
    revoked_reason is null or revoked_reason ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint consents_revocation_complete check ((revoked_at is null) = (revoked_reason is null))
);

comment on table public.consents is
  'Consent to off-session charges: who, when, which card, the maximum per booking and currency, the text shown.';

create index consents_owner_current_idx on public.consents (owner_id, payment_method_id)
  where revoked_at is null;

-- Only a revocation may change a consent, once.
create function app.consents_immutable()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.revoked_at is not null
    or (to_jsonb(new) - 'revoked_at' - 'revoked_reason') <> (to_jsonb(old) - 'revoked_at' - 'revoked_reason') then
    raise exception using errcode = '55000', message = 'a consent cannot change, only be revoked once';
  end if;
  return new;
end
$$;

revoke all on function app.consents_immutable() from public;

create trigger consents_immutable
before update on public.consents
for each row execute function app.consents_immutable();

-- Stripe webhook bookkeeping -----------------------------------------------------------------------
create table public.stripe_webhook_events (
  id text primary key,
  type text not null,
  object_id text,
  stripe_created timestamptz,
  api_version text,
  outcome text not null,
  received_at timestamptz not null default now(),

  constraint stripe_webhook_events_id_format check (id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
  constraint stripe_webhook_events_type_format check (type ~ '^[a-z][a-z0-9_.]{0,99}$'),
  constraint stripe_webhook_events_outcome_format check (outcome ~ '^[a-z][a-z0-9_]{0,63}$')
);

comment on table public.stripe_webhook_events is
  'Every Stripe event processed (once: the primary key), with what came of it. No personal data.';

create index stripe_webhook_events_object_idx on public.stripe_webhook_events (object_id, type);

-- operator_alerts already exists (20261201000600_ledger_unclosable.sql: the monitor's flags).
-- Stripe mismatches and disputes land in the same queue, with where they came from and the
-- event: one place for operators to look.
alter table public.operator_alerts
  add column source text not null default 'monitor',
  add column event_id text,
  alter column trip_id drop not null,
  add constraint operator_alerts_source_format check (source ~ '^[a-z][a-z0-9_]{0,31}$');

comment on table public.operator_alerts is
  'Things operators must look at: attempts the monitor flagged (ledger that cannot close, travellers unreadable) and Stripe events that disagree with the saga ledger (source stripe_webhook). Ids, codes and amounts only.';

create index operator_alerts_event_idx on public.operator_alerts (event_id) where event_id is not null;

create table public.stripe_disputes (
  id text primary key,
  charge_id text,
  payment_intent text,
  amount bigint,
  currency text,
  reason text,
  status text,
  attempt_id uuid,
  trip_id uuid,
  event_id text not null,
  created_at timestamptz not null default now(),

  constraint stripe_disputes_id_format check (id ~ '^(dp|du)_[A-Za-z0-9_]{1,250}$')
);

comment on table public.stripe_disputes is 'Disputes (chargebacks) Stripe reported, with the attempt they concern.';

-- RLS and grants -----------------------------------------------------------------------------------
alter table public.consents enable row level security;
alter table public.stripe_webhook_events enable row level security;
alter table public.operator_alerts enable row level security;
alter table public.stripe_disputes enable row level security;

revoke all on table public.consents from public, anon, authenticated, service_role;
revoke all on table public.stripe_webhook_events from public, anon, authenticated, service_role;
revoke all on table public.operator_alerts from public, anon, authenticated, service_role;
revoke all on table public.stripe_disputes from public, anon, authenticated, service_role;

-- Owners read their own consents; writes go through app.consent_record.
grant select on table public.consents to authenticated;
create policy consents_owner_select on public.consents
  for select to authenticated
  using (owner_id = (select auth.uid()));

grant select, insert on table public.consents to service_role;
grant update (revoked_at, revoked_reason) on table public.consents to service_role;
grant select, insert on table public.stripe_webhook_events to service_role;
grant select, insert on table public.operator_alerts to service_role;
grant update (resolved_at) on table public.operator_alerts to service_role;
grant select, insert on table public.stripe_disputes to service_role;
-- stripe_webhook_events, operator_alerts, stripe_disputes: RLS on and no policy (service only).

-- Consent check ------------------------------------------------------------------------------------
-- True when `owner` has a default card and a current consent for it in `currency` covering
-- `max_minor` per booking.
create function app.payment_consented(owner uuid, max_minor bigint, currency text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.payment_profiles p
    join public.consents c
      on c.owner_id = p.owner_id and c.payment_method_id = p.stripe_payment_method_id
    where p.owner_id = payment_consented.owner
      and p.stripe_customer_id is not null
      and c.revoked_at is null
      and c.currency = payment_consented.currency
      and c.max_amount_minor >= payment_consented.max_minor
  )
$$;

revoke all on function app.payment_consented(uuid, bigint, text) from public;
grant execute on function app.payment_consented(uuid, bigint, text) to authenticated, service_role;

create function app.trip_requests_payment_consent()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not new.auto_book then
    return new;
  end if;
  -- Values the table's constraints refuse are left to them (their codes stay the answer).
  if new.max_total_minor is null or new.max_total_minor <= 0 or new.max_total_minor > 1000000000000
    or new.currency is null or new.currency !~ '^[A-Z]{3}$'
    or not exists (select 1 from auth.users u where u.id = new.owner_id) then
    return new;
  end if;
  if tg_op = 'UPDATE' and old.auto_book and new.max_total_minor <= old.max_total_minor
    and new.currency = old.currency then
    return new;
  end if;
  if not exists (
    select 1 from public.payment_profiles p
    where p.owner_id = new.owner_id
      and p.stripe_customer_id is not null and p.stripe_payment_method_id is not null
  ) then
    raise exception using
      errcode = 'PF003',
      message = 'auto-booking needs a saved default card',
      hint = 'save a card with payment-methods (setup), then record a consent';
  end if;
  if not app.payment_consented(new.owner_id, new.max_total_minor, new.currency) then
    raise exception using
      errcode = 'PF005',
      message = 'auto-booking needs a consent covering this trip',
      hint = 'record a consent for the default card in the trip''s currency, at least its maximum';
  end if;
  return new;
end
$$;

revoke all on function app.trip_requests_payment_consent() from public;

create trigger trip_requests_payment_consent
before insert or update of auto_book, max_total_minor, currency on public.trip_requests
for each row execute function app.trip_requests_payment_consent();

-- The monitor's claim: as in 20261201000400_traveler_documents.sql, except that `payment` is
-- handed out only while a consent covers the trip.
create or replace function app.monitor_claim_json(t public.trip_requests)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'trip', app.trip_json(t),
    'selected_offer', (
      select jsonb_build_object(
        'provider_offer_id', o.provider_offer_id,
        'total_minor', o.total_minor,
        'currency', o.currency,
        'expires_at', app.rfc3339(o.expires_at),
        'departing_at', app.local_datetime(o.departing_at)
      ) || case when jsonb_typeof(o.raw) = 'object' then jsonb_build_object('raw', jsonb_build_object(
          'passengers', coalesce(
            (select jsonb_agg(jsonb_build_object('id', p -> 'id', 'type', p -> 'type', 'age', p -> 'age'))
             from jsonb_array_elements(case when jsonb_typeof(o.raw -> 'passengers') = 'array'
               then o.raw -> 'passengers' else '[]'::jsonb end) as p),
            '[]'::jsonb),
          'passenger_identity_documents_required', o.raw -> 'passenger_identity_documents_required',
          'supported_passenger_identity_document_types', o.raw -> 'supported_passenger_identity_document_types'
        )) else '{}'::jsonb end
      from public.flight_offers o
      where o.id = t.selected_offer_id
    ),
    'attempt', (
      select jsonb_build_object('state', a.state)
      from public.booking_attempts a
      where a.trip_id = t.id and a.open
    ),
    'payment', (
      select jsonb_build_object('customer', p.stripe_customer_id, 'payment_method', p.stripe_payment_method_id)
      from public.payment_profiles p
      where p.owner_id = t.owner_id
        and p.stripe_customer_id is not null and p.stripe_payment_method_id is not null
        and app.payment_consented(t.owner_id, t.max_total_minor, t.currency)
    )
  )
$$;

-- The payment-methods SQL API (user role) ---------------------------------------------------------
-- The caller's profile as the function reads it; the consent is the newest current one for the
-- default card.
create function app.payment_profile_json(owner uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'owner_id', payment_profile_json.owner,
    'customer', p.stripe_customer_id,
    'default_payment_method', p.stripe_payment_method_id,
    'consent', (
      select jsonb_build_object('id', c.id, 'payment_method', c.payment_method_id,
        'max_amount_minor', c.max_amount_minor, 'currency', c.currency,
        'text_version', c.text_version, 'created_at', app.rfc3339(c.created_at))
      from public.consents c
      where c.owner_id = payment_profile_json.owner and c.revoked_at is null
        and c.payment_method_id = p.stripe_payment_method_id
      order by c.created_at desc, c.id
      limit 1
    )
  )
  from (select 1) as one
  left join public.payment_profiles p on p.owner_id = payment_profile_json.owner
$$;

revoke all on function app.payment_profile_json(uuid) from public;

-- The signed-in caller, or 28000.
create function app.require_uid()
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v uuid := auth.uid();
begin
  if v is null then
    raise exception using errcode = '28000', message = 'a signed-in user is required';
  end if;
  return v;
end
$$;

revoke all on function app.require_uid() from public;
grant execute on function app.require_uid() to authenticated, service_role;

-- payment_profile_open {"create": bool} -> {"profile"}; `create` writes the caller's row first.
create function app.payment_profile_open(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_owner uuid := app.require_uid();
begin
  if jsonb_typeof(args -> 'create') is distinct from 'boolean' then
    raise exception 'payment_profile_open takes {"create": boolean}' using errcode = '22023';
  end if;
  if (args ->> 'create')::boolean then
    insert into public.payment_profiles (owner_id) values (v_owner) on conflict (owner_id) do nothing;
  end if;
  return jsonb_build_object('profile', app.payment_profile_json(v_owner));
end
$$;

-- payment_customer_record {"customer"} -> {"profile"}: the first stored customer wins.
create function app.payment_customer_record(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_owner uuid := app.require_uid();
begin
  if jsonb_typeof(args -> 'customer') is distinct from 'string' then
    raise exception 'payment_customer_record takes {"customer": "cus_…"}' using errcode = '22023';
  end if;
  insert into public.payment_profiles (owner_id, stripe_customer_id)
  values (v_owner, args ->> 'customer')
  on conflict (owner_id) do update set stripe_customer_id = excluded.stripe_customer_id
    where public.payment_profiles.stripe_customer_id is null;
  return jsonb_build_object('profile', app.payment_profile_json(v_owner));
end
$$;

-- payment_default_set {"payment_method"} -> {"profile"}; P0002 without a customer.
create function app.payment_default_set(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_owner uuid := app.require_uid();
begin
  if jsonb_typeof(args -> 'payment_method') is distinct from 'string' then
    raise exception 'payment_default_set takes {"payment_method": "pm_…"}' using errcode = '22023';
  end if;
  update public.payment_profiles set stripe_payment_method_id = args ->> 'payment_method'
  where owner_id = v_owner and stripe_customer_id is not null;
  if not found then
    raise exception using errcode = 'P0002', message = 'no payment profile';
  end if;
  return jsonb_build_object('profile', app.payment_profile_json(v_owner));
end
$$;

-- payment_method_forget {"payment_method"} -> {"profile"}: a detached card is no longer the
-- default, and its consents end.
create function app.payment_method_forget(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_owner uuid := app.require_uid();
  v_pm text := args ->> 'payment_method';
begin
  if jsonb_typeof(args -> 'payment_method') is distinct from 'string' then
    raise exception 'payment_method_forget takes {"payment_method": "pm_…"}' using errcode = '22023';
  end if;
  update public.payment_profiles set stripe_payment_method_id = null
  where owner_id = v_owner and stripe_payment_method_id = v_pm;
  update public.consents set revoked_at = now(), revoked_reason = 'card_detached'
  where owner_id = v_owner and payment_method_id = v_pm and revoked_at is null;
  return jsonb_build_object('profile', app.payment_profile_json(v_owner));
end
$$;

-- consent_record {"payment_method","max_amount_minor","currency","text","text_version"} ->
-- {"consent","profile"}. PF004 when the default card is no longer `payment_method`. A consent
-- for the same card and currency supersedes the previous one.
create function app.consent_record(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_owner uuid := app.require_uid();
  v_default text;
  v_id uuid;
begin
  if jsonb_typeof(args -> 'payment_method') is distinct from 'string'
    or jsonb_typeof(args -> 'max_amount_minor') is distinct from 'number'
    or jsonb_typeof(args -> 'currency') is distinct from 'string'
    or jsonb_typeof(args -> 'text') is distinct from 'string'
    or jsonb_typeof(args -> 'text_version') is distinct from 'string' then
    raise exception 'consent_record takes {payment_method, max_amount_minor, currency, text, text_version}'
      using errcode = '22023';
  end if;
  select p.stripe_payment_method_id into v_default
  from public.payment_profiles p where p.owner_id = v_owner
  for update;
  if v_default is distinct from args ->> 'payment_method' then
    raise exception using errcode = 'PF004', message = 'the default card changed';
  end if;
  update public.consents set revoked_at = now(), revoked_reason = 'superseded'
  where owner_id = v_owner and payment_method_id = v_default and currency = args ->> 'currency'
    and revoked_at is null;
  insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
  values (v_owner, v_default, (args ->> 'max_amount_minor')::bigint, args ->> 'currency',
    args ->> 'text', args ->> 'text_version')
  returning id into v_id;
  return jsonb_build_object(
    'consent', (
      select jsonb_build_object('id', c.id, 'payment_method', c.payment_method_id,
        'max_amount_minor', c.max_amount_minor, 'currency', c.currency,
        'text_version', c.text_version, 'created_at', app.rfc3339(c.created_at))
      from public.consents c where c.id = v_id),
    'profile', app.payment_profile_json(v_owner));
end
$$;

revoke all on function app.payment_profile_open(jsonb) from public, anon;
revoke all on function app.payment_customer_record(jsonb) from public, anon;
revoke all on function app.payment_default_set(jsonb) from public, anon;
revoke all on function app.payment_method_forget(jsonb) from public, anon;
revoke all on function app.consent_record(jsonb) from public, anon;
grant execute on function app.payment_profile_open(jsonb) to authenticated, service_role;
grant execute on function app.payment_customer_record(jsonb) to authenticated, service_role;
grant execute on function app.payment_default_set(jsonb) to authenticated, service_role;
grant execute on function app.payment_method_forget(jsonb) to authenticated, service_role;
grant execute on function app.consent_record(jsonb) to authenticated, service_role;

-- The stripe-webhook SQL API (service role) ------------------------------------------------------
-- stripe_event_context {event_id, customer?, payment_method?, payment_intent?, attempt_id?} ->
-- {seen, owner_id, detached, attempt}.
create function app.stripe_event_context(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_attempt_id uuid;
  v_attempt jsonb;
begin
  if jsonb_typeof(args -> 'event_id') is distinct from 'string' then
    raise exception 'stripe_event_context takes {"event_id", ...}' using errcode = '22023';
  end if;
  if (args ->> 'attempt_id') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    v_attempt_id := (args ->> 'attempt_id')::uuid;
  end if;
  select jsonb_build_object('attempt_id', a.id, 'trip_id', a.trip_id, 'open', a.open,
      'phase', a.phase, 'payment_intent', a.payment_intent, 'amount_minor', a.amount_minor,
      'currency', a.currency, 'reason', a.reason,
      'booked', exists (select 1 from public.bookings b where b.attempt_id = a.id))
  into v_attempt
  from public.booking_attempts a
  where a.id = v_attempt_id or (args ->> 'payment_intent' is not null and a.payment_intent = args ->> 'payment_intent')
  order by (a.id = v_attempt_id) desc nulls last, a.created_at desc
  limit 1;
  return jsonb_build_object(
    'seen', exists (select 1 from public.stripe_webhook_events e where e.id = args ->> 'event_id'),
    'owner_id', (select p.owner_id from public.payment_profiles p
                 where p.stripe_customer_id = args ->> 'customer'),
    'detached', exists (select 1 from public.stripe_webhook_events e
                        where e.type = 'payment_method.detached' and e.object_id = args ->> 'payment_method'),
    'attempt', v_attempt);
end
$$;

-- stripe_event_record {event: {id, type, created, api_version, object_id}, outcome, effects} ->
-- {recorded}: the event row and its effects in one transaction; recorded false when the event
-- was already there (nothing applied).
create function app.stripe_event_record(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  e jsonb := args -> 'event';
  fx jsonb;
begin
  if jsonb_typeof(e) is distinct from 'object' or jsonb_typeof(args -> 'effects') is distinct from 'array'
    or jsonb_typeof(args -> 'outcome') is distinct from 'string' then
    raise exception 'stripe_event_record takes {event, outcome, effects}' using errcode = '22023';
  end if;
  insert into public.stripe_webhook_events (id, type, object_id, stripe_created, api_version, outcome)
  values (e ->> 'id', e ->> 'type', e ->> 'object_id',
    case when jsonb_typeof(e -> 'created') = 'number' and (e ->> 'created')::bigint > 0
      then to_timestamp((e ->> 'created')::bigint) end,
    left(e ->> 'api_version', 64), args ->> 'outcome')
  on conflict (id) do nothing;
  if not found then
    return jsonb_build_object('recorded', false);
  end if;

  for fx in select * from jsonb_array_elements(args -> 'effects') loop
    case fx ->> 'kind'
      when 'card_saved' then
        update public.payment_profiles set stripe_payment_method_id = fx ->> 'payment_method'
        where stripe_customer_id = fx ->> 'customer' and stripe_payment_method_id is null
          and not exists (select 1 from public.stripe_webhook_events d
                          where d.type = 'payment_method.detached' and d.object_id = fx ->> 'payment_method');
      when 'card_detached' then
        update public.payment_profiles set stripe_payment_method_id = null
        where stripe_payment_method_id = fx ->> 'payment_method';
        update public.consents set revoked_at = now(), revoked_reason = 'card_detached'
        where payment_method_id = fx ->> 'payment_method' and revoked_at is null;
      when 'alert' then
        -- One open alert per attempt and reason (the monitor's unique index): a second
        -- event saying the same is already on the operators' queue.
        insert into public.operator_alerts (source, reason, trip_id, attempt_id, event_id, detail)
        values ('stripe_webhook', fx ->> 'code', (fx ->> 'trip_id')::uuid, (fx ->> 'attempt_id')::uuid,
          e ->> 'id', coalesce(fx -> 'detail', '{}'::jsonb))
        on conflict do nothing;
      when 'dispute' then
        insert into public.stripe_disputes (id, charge_id, payment_intent, amount, currency, reason,
          status, attempt_id, trip_id, event_id)
        values (fx ->> 'dispute_id', fx ->> 'charge', fx ->> 'payment_intent', (fx ->> 'amount')::bigint,
          upper(fx ->> 'currency'), fx ->> 'reason', fx ->> 'status', (fx ->> 'attempt_id')::uuid,
          (fx ->> 'trip_id')::uuid, e ->> 'id')
        on conflict (id) do nothing;
      else
        raise exception 'unknown effect %', fx ->> 'kind' using errcode = '22023';
    end case;
  end loop;
  return jsonb_build_object('recorded', true);
end
$$;

revoke all on function app.stripe_event_context(jsonb) from public, anon, authenticated;
revoke all on function app.stripe_event_record(jsonb) from public, anon, authenticated;
grant execute on function app.stripe_event_context(jsonb) to service_role;
grant execute on function app.stripe_event_record(jsonb) to service_role;
