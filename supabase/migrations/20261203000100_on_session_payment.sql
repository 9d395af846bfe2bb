-- On-session payment (issue 7, item 4, last sentence): a booking attempt whose off-session
-- authorize needed 3-D Secure keeps its PaymentIntent and waits for the traveller in the saga
-- phase `await_traveller` (crates/booking-core/src/saga, docs/saga.md "On-session payment").
-- The trip stays `booking` (the attempt is open; the status graph is unchanged) and the
-- traveller, through the `trips` function:
--   * reads what Stripe.js `confirmCardPayment` needs (`payment`: the intent id here, the
--     client_secret is fetched from Stripe by the function and never stored or logged);
--   * says "done" (`payment_done`): the trip is due at once, the monitor reads the intent;
--   * picks another card (`use_another_card`): recorded here for this attempt; the saga cancels
--     the old intent first and only the next attempt authorizes the new default card;
--   * cancels (the existing `cancel`, a pending cancel): the saga releases the intent.
-- The saga reads the traveller's request from the claim (`attempt.traveller_request`).
--
-- Replaces app.monitor_claim_json (adds attempt.traveller_request) and app.stripe_event_record
-- (adds the effect `wake_attempt`: a verified payment_intent event about an attempt waiting for
-- the traveller makes its trip due now); otherwise both as in
-- 20261202000200_payment_methods_and_stripe_webhook.sql.

-- The new phase ------------------------------------------------------------------------------
alter table public.booking_attempts drop constraint booking_attempts_phase_known;
alter table public.booking_attempts add constraint booking_attempts_phase_known check (
  phase in ('reprice', 'authorize', 'await_traveller', 'find_intent', 'order', 'reconcile', 'capture',
    'release', 'finish', 'closed')
);

-- The traveller's request for the attempt that waits for them ---------------------------------
-- Bound to the attempt it was made for: a request never reaches a later attempt.
alter table public.trip_requests
  add column payment_request text,
  add column payment_request_attempt_id uuid,
  add constraint trip_requests_payment_request_known check (
    payment_request is null or payment_request in ('another_card')),
  add constraint trip_requests_payment_request_names_attempt check (
    (payment_request is null) = (payment_request_attempt_id is null));

comment on column public.trip_requests.payment_request is
  'The traveller''s request for the attempt payment_request_attempt_id while it awaits them (another_card).';

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
      -- A pending cancel outranks another card (both release; the cancel then ends the trip).
      -- Without a request the key is absent; the state is handed out unchanged.
      select jsonb_build_object('state', a.state) || case
          when t.cancel_requested_at is not null then '{"traveller_request": "cancel"}'::jsonb
          when t.payment_request_attempt_id = a.id
            then jsonb_build_object('traveller_request', t.payment_request)
          else '{}'::jsonb
        end
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

-- ---------------------------------------------------------------------------------------------
-- trips_payment {trip_id, action: details | done | another_card} (user JWT, own trips only)
--   -> {outcome, ...}
-- ---------------------------------------------------------------------------------------------
-- not_found: no such trip of the caller's (another user's trip reads the same).
-- no_payment_pending: the trip has no attempt waiting for the traveller (with the trip).
-- details -> pending {payment_intent, deadline, amount_minor, currency, attempt_id}.
-- done -> checking: the trip is due now (the monitor reads the intent at its next run).
-- another_card -> switching_card, or needs_card (no default card with consent for the trip's
--   maximum) or same_card (the default is the card this attempt tried).
-- Logged as stage `traveller` events (payment_confirmed, card_changed), PII-free.
create function app.trips_payment(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_uid uuid := app.caller_uid();
  v_action text;
  v_trip public.trip_requests;
  v_attempt public.booking_attempts;
  v_card text;
  v_outcome text;
begin
  perform app.monitor_args(args, array['trip_id', 'action']);
  v_action := app.arg_code(args, 'action');
  if v_action not in ('details', 'done', 'another_card') then
    raise exception using errcode = '22023', message = 'field action must be details, done or another_card';
  end if;
  select t.* into v_trip from public.trip_requests t
  where t.id = app.arg_uuid(args, 'trip_id') and t.owner_id = v_uid
  for update;
  if v_trip.id is null then
    return jsonb_build_object('outcome', 'not_found');
  end if;
  select a.* into v_attempt from public.booking_attempts a
  where a.trip_id = v_trip.id and a.open and a.phase = 'await_traveller';
  if v_attempt.id is null or v_trip.cancel_requested_at is not null then
    return jsonb_build_object('outcome', 'no_payment_pending', 'trip', app.trip_watch_json(v_trip, false));
  end if;

  if v_action = 'details' then
    return jsonb_build_object(
      'outcome', 'pending',
      'attempt_id', v_attempt.id,
      'payment_intent', v_attempt.payment_intent,
      'amount_minor', v_attempt.amount_minor,
      'currency', v_attempt.currency,
      'deadline', v_attempt.state #>> '{phase,deadline}');
  end if;

  if v_action = 'another_card' then
    select p.stripe_payment_method_id into v_card
    from public.payment_profiles p
    where p.owner_id = v_uid and p.stripe_customer_id is not null and p.stripe_payment_method_id is not null
      and app.payment_consented(v_uid, v_trip.max_total_minor, v_trip.currency);
    if v_card is null then
      return jsonb_build_object('outcome', 'needs_card', 'trip', app.trip_watch_json(v_trip, false));
    end if;
    if v_card = v_attempt.state ->> 'payment_method' then
      return jsonb_build_object('outcome', 'same_card', 'trip', app.trip_watch_json(v_trip, false));
    end if;
    update public.trip_requests t
    set payment_request = 'another_card', payment_request_attempt_id = v_attempt.id, next_check_at = now()
    where t.id = v_trip.id;
    v_outcome := 'switching_card';
  else
    -- Only the schedule moves (not a change of the trip: its version stays).
    update public.trip_requests t set next_check_at = now() where t.id = v_trip.id;
    v_outcome := 'checking';
  end if;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (v_trip.id, 'traveller',
    case v_outcome when 'checking' then 'payment_confirmed' else 'card_changed' end,
    null, jsonb_build_object('attempt_id', v_attempt.id, 'attempt_phase', v_attempt.phase),
    nullif(current_setting('app.correlation_id', true), ''));
  select t.* into v_trip from public.trip_requests t where t.id = v_trip.id;
  return jsonb_build_object('outcome', v_outcome, 'trip', app.trip_watch_json(v_trip, false));
end
$$;

revoke all on function app.trips_payment(jsonb) from public, anon;
grant execute on function app.trips_payment(jsonb) to authenticated, service_role;

-- stripe-webhook: wake an attempt that waits for the traveller ---------------------------------
create or replace function app.stripe_event_record(args jsonb)
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
      when 'wake_attempt' then
        -- Stripe says the intent of an attempt that waits for the traveller changed (3-D Secure
        -- done, failed or cancelled): make its trip due now; the saga reads the intent itself.
        update public.trip_requests t set next_check_at = now()
        where t.id = (select a.trip_id from public.booking_attempts a
                      where a.id = (fx ->> 'attempt_id')::uuid and a.open and a.phase = 'await_traveller')
          and t.next_check_at > now();
      else
        raise exception 'unknown effect %', fx ->> 'kind' using errcode = '22023';
    end case;
  end loop;
  return jsonb_build_object('recorded', true);
end
$$;
