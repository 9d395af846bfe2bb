-- A booking ledger that cannot close must end where an operator is told about it (issue 6,
-- defects 1 and 13; docs/contracts.md "The monitor", docs/operations.md "Operator alerts").
--
-- Seen: after the capture, the closing save's `record_booking` hit 23505 on
-- bookings_provider_order_key, so every run ended `sql_error_23505` with the money captured, no
-- booking row, no event, no alert, no email. The driver now calls app.monitor_flag_attempt when a
-- save of the attempt is refused with a SQLSTATE that retrying cannot fix (classes 22, 23, 42 and
-- 55000: reason `ledger_unclosable`), and when the travellers of an attempt that may hold money
-- stayed unreadable for hours (reason `travelers_unreadable`). The flag, in one transaction:
--   * moves the trip `booking -> needs_operator` (a new status the monitor never claims; next
--     check cleared, last_error_code = the reason);
--   * bumps the attempt's version (inside its state, as every save does), so a run still holding
--     the old version loses its compare-and-set and stops instead of going on behind the operator;
--   * raises an operator alert (public.operator_alerts: one unresolved alert per attempt and
--     reason), logs a `book` event (decision `needs_operator`), and, when the attempt knows an
--     airline order (a ticket exists), enqueues the traveller's `booking_under_review` email.
-- It is idempotent (an attempt already flagged with an unresolved alert for the reason answers
-- flagged=true and writes nothing new) and crash-safe (all or nothing; a run that dies before
-- it commits meets the same error next run and flags again).
--
-- The attempt stays OPEN (money may be held or captured, and an open attempt pins its trip and
-- owner against deletes). The operator fixes the cause and then either resumes the attempt with
-- app.operator_resume_attempt (the trip goes back to `booking`, due now; the saga continues from
-- its stored state) or finishes it by hand (docs/operations.md).

-- ---------------------------------------------------------------------------------------------
-- The trip status `needs_operator` and its edges.
-- ---------------------------------------------------------------------------------------------
alter table public.trip_requests drop constraint trip_requests_status_known;
alter table public.trip_requests add constraint trip_requests_status_known check (
  status in (
    'searching', 'watching', 'booking', 'booked', 'needs_traveller', 'needs_operator', 'expired',
    'cancelled', 'failed'
  )
);

-- The graph of 20261122000200_trip_requests.sql plus:
--   booking        -> needs_operator          (app.monitor_flag_attempt)
--   needs_operator -> booking                 (app.operator_resume_attempt: the same open
--                                              attempt resumes; no new attempt can begin)
--   needs_operator -> booked | failed         (an operator finished the attempt by hand)
create or replace function app.trip_status_transition_allowed(from_status text, to_status text)
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
    ('booking', 'expired'), ('booking', 'needs_operator'),
    ('needs_traveller', 'watching'), ('needs_traveller', 'cancelled'), ('needs_traveller', 'expired'),
    ('needs_traveller', 'failed'),
    ('needs_operator', 'booking'), ('needs_operator', 'booked'), ('needs_operator', 'failed'),
    ('failed', 'searching')
  )
$$;

revoke all on function app.trip_status_transition_allowed(text, text) from public;
grant execute on function app.trip_status_transition_allowed(text, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- operator_alerts: what a person must look at. No personal data: codes, ids and amounts only.
-- ---------------------------------------------------------------------------------------------
create table public.operator_alerts (
  id bigint generated always as identity primary key,
  trip_id uuid not null references public.trip_requests (id) on delete cascade,
  attempt_id uuid references public.booking_attempts (id) on delete cascade,
  reason text not null,
  sqlstate text,
  detail jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,

  constraint operator_alerts_reason_format check (reason ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint operator_alerts_sqlstate_format check (sqlstate is null or sqlstate ~ '^[0-9A-Z]{5}$'),
  constraint operator_alerts_detail_object check (jsonb_typeof(detail) = 'object'),
  constraint operator_alerts_detail_bounded check (octet_length(detail::text) <= 8192),
  constraint operator_alerts_resolved_after_created check (resolved_at is null or resolved_at >= created_at)
);

comment on table public.operator_alerts is
  'Attempts and trips a person must look at (reason code, SQLSTATE, PII-free detail). Operators only (service_role).';

-- One unresolved alert per attempt and reason: flagging twice is a no-op.
create unique index operator_alerts_one_open_per_attempt_reason
  on public.operator_alerts (attempt_id, reason) where resolved_at is null;
-- The operators' queue.
create index operator_alerts_open_idx on public.operator_alerts (created_at) where resolved_at is null;
create index operator_alerts_trip_idx on public.operator_alerts (trip_id);

-- RLS on, no policy: only RLS-bypassing roles (service_role, the table owner) see rows.
alter table public.operator_alerts enable row level security;
revoke all on table public.operator_alerts from public, anon, authenticated, service_role;
grant select, update (resolved_at) on table public.operator_alerts to service_role;

-- ---------------------------------------------------------------------------------------------
-- monitor_flag_attempt {"attempt_id", "expected_version", "reason", "sqlstate"|null}
--   -> {"flagged": true} | {"flagged": false}
-- ---------------------------------------------------------------------------------------------
-- flagged=false (nothing written): the attempt is missing, closed, or not at expected_version
-- (another run moved it: its error may not be ours). flagged=true: the attempt is flagged now or
-- already was (an unresolved alert for it and this reason exists; then only a trip still in
-- `booking` is moved again). 22023: bad arguments.
create function app.monitor_flag_attempt(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_attempt_id uuid;
  v_expected bigint;
  v_reason text;
  v_sqlstate text;
  v_attempt public.booking_attempts;
  v_trip public.trip_requests;
  v_detail jsonb;
  v_already boolean;
begin
  perform app.monitor_args(args, array['attempt_id', 'expected_version', 'reason', 'sqlstate']);
  v_attempt_id := app.arg_uuid(args, 'attempt_id');
  v_expected := app.arg_int(args, 'expected_version', 1, 9223372036854775807);
  v_reason := app.arg_code(args, 'reason');
  if args -> 'sqlstate' is null or args -> 'sqlstate' = 'null'::jsonb then
    v_sqlstate := null;
  elsif jsonb_typeof(args -> 'sqlstate') = 'string' and (args ->> 'sqlstate') ~ '^[0-9A-Z]{5}$' then
    v_sqlstate := args ->> 'sqlstate';
  else
    raise exception using errcode = '22023', message = 'field sqlstate must be five upper-case letters or digits, or null';
  end if;

  select a.* into v_attempt from public.booking_attempts a where a.id = v_attempt_id for update;
  if v_attempt.id is null then
    return jsonb_build_object('flagged', false);
  end if;
  select t.* into v_trip from public.trip_requests t where t.id = v_attempt.trip_id for update;

  v_already := exists (
    select 1 from public.operator_alerts o
    where o.attempt_id = v_attempt_id and o.reason = v_reason and o.resolved_at is null
  );

  if not v_already then
    if not v_attempt.open or v_attempt.version <> v_expected then
      return jsonb_build_object('flagged', false);
    end if;

    -- A run still holding the old version now loses its compare-and-set.
    update public.booking_attempts a
    set state = jsonb_set(a.state, '{version}', to_jsonb(a.version + 1))
    where a.id = v_attempt_id
    returning a.* into v_attempt;

    v_detail := jsonb_strip_nulls(jsonb_build_object(
      'attempt_id', v_attempt_id,
      'phase', v_attempt.phase,
      'payment_intent', v_attempt.payment_intent,
      'order_id', v_attempt.order_id,
      'amount_minor', v_attempt.amount_minor,
      'currency', v_attempt.currency,
      'sqlstate', v_sqlstate,
      'from_status', v_trip.status
    ));

    insert into public.operator_alerts (trip_id, attempt_id, reason, sqlstate, detail)
    values (v_attempt.trip_id, v_attempt_id, v_reason, v_sqlstate, v_detail);

    insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
    values (
      v_attempt.trip_id, 'book', 'needs_operator', v_reason, v_detail,
      nullif(current_setting('app.correlation_id', true), '')
    );

    -- A ticket exists: the traveller hears that it is being looked at (no "could not book").
    if v_attempt.order_id is not null then
      insert into public.notifications (trip_id, owner_id, template, dedupe_key)
      values (
        v_attempt.trip_id, v_trip.owner_id, 'booking_under_review',
        v_attempt_id::text || '-booking_under_review'
      )
      on conflict on constraint notifications_dedupe_key_key do nothing;
    end if;
  end if;

  if v_trip.status = 'booking' then
    update public.trip_requests t
    set status = 'needs_operator', next_check_at = null, last_error_code = v_reason
    where t.id = v_attempt.trip_id;
  end if;

  return jsonb_build_object('flagged', true);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- operator_resume_attempt(attempt_id uuid) -> {"resumed": bool}
-- ---------------------------------------------------------------------------------------------
-- For an operator who fixed the cause of a flag: resolves the attempt's open alerts and moves its
-- trip `needs_operator -> booking`, due now, so the next monitor run resumes the same open
-- attempt from its stored state (the saga's guards release a hold that has become too old to
-- order on, see docs/saga.md). resumed=false: the attempt is missing or closed, or its trip is
-- not `needs_operator`. service_role only.
create function app.operator_resume_attempt(attempt_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_attempt public.booking_attempts;
  v_trip public.trip_requests;
begin
  select a.* into v_attempt from public.booking_attempts a where a.id = operator_resume_attempt.attempt_id for update;
  if v_attempt.id is null or not v_attempt.open then
    return jsonb_build_object('resumed', false);
  end if;
  select t.* into v_trip from public.trip_requests t where t.id = v_attempt.trip_id for update;
  if v_trip.status <> 'needs_operator' then
    return jsonb_build_object('resumed', false);
  end if;

  update public.operator_alerts o
  set resolved_at = now()
  where o.attempt_id = v_attempt.id and o.resolved_at is null;

  update public.trip_requests t
  set status = 'booking', next_check_at = now(), last_error_code = null
  where t.id = v_trip.id;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    v_trip.id, 'book', 'operator_resumed', null,
    jsonb_build_object('attempt_id', v_attempt.id, 'phase', v_attempt.phase),
    nullif(current_setting('app.correlation_id', true), '')
  );
  return jsonb_build_object('resumed', true);
end
$$;

revoke all on function app.monitor_flag_attempt(jsonb) from public, anon, authenticated;
revoke all on function app.operator_resume_attempt(uuid) from public, anon, authenticated;
grant execute on function app.monitor_flag_attempt(jsonb) to service_role;
grant execute on function app.operator_resume_attempt(uuid) to service_role;
