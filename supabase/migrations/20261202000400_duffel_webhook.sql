-- Duffel webhooks (issue 7, item 7): every verified event is recorded once, against its booking.
--
-- duffel_webhook_events: one row per Duffel event id (`wev_…`), written by
-- app.duffel_webhook_record only (the `duffel-webhook` function, as service_role). RLS on with no
-- policy and no grant to anon/authenticated: travellers see the effects (their booking's status,
-- the decision log, the outbox), never this table. No personal data: ids, codes and times only.
--
-- app.duffel_webhook_record(args jsonb) -> {"duplicate": bool, "outcome": text}
--   args: {"event_id","type","kind","order_id","occurred_at","notification","alert"} as the
--   core's DuffelWebhookDriver builds them (booking_core::duffel_webhook::record_args).
--   The event id is inserted first (ON CONFLICT DO NOTHING): a second delivery of the same event
--   changes nothing and answers the first outcome with duplicate = true. Otherwise the booking is
--   found by (provider 'duffel', provider_order_id) and locked, and the kind is applied in the
--   same transaction:
--     order_created     -> decision-log row `order_created`                          (recorded)
--     schedule_changed  -> booking confirmed: outbox row (template from args, e.g.
--                          `schedule_changed`, dedupe key from args) + log row       (notified)
--                          booking cancelled: log row only, no mail           (booking_cancelled)
--     order_cancelled   -> booking confirmed: status `cancelled` + operator alert (a log row
--                          stage `duffel_webhook`, decision `operator_alert`, reason from args,
--                          e.g. `airline_cancelled`)                          (booking_cancelled)
--                          already cancelled: log row only                    (already_cancelled)
--   An order without a booking (not ours, or its booking not written yet) is recorded with
--   outcome `unknown_order` and acknowledged; nothing else changes. Events are applied in
--   whatever order they arrive: a cancellation is final (a later schedule change or
--   order.created does not revive the booking or mail the traveller).
--   22023 for malformed args.

create table public.duffel_webhook_events (
  id text primary key,
  type text not null,
  kind text not null,
  order_id text not null,
  booking_id uuid references public.bookings (id) on delete set null,
  trip_id uuid references public.trip_requests (id) on delete set null,
  outcome text not null,
  occurred_at timestamptz,
  received_at timestamptz not null default now(),

  constraint duffel_webhook_events_id_format check (id ~ '^[A-Za-z0-9_]{1,100}$'),
  constraint duffel_webhook_events_type_format check (type ~ '^[a-z][a-z0-9_.]{0,99}$'),
  constraint duffel_webhook_events_kind_known check (
    kind in ('order_created', 'schedule_changed', 'order_cancelled')
  ),
  constraint duffel_webhook_events_order_id_format check (order_id ~ '^ord_[A-Za-z0-9_-]{1,251}$'),
  constraint duffel_webhook_events_outcome_known check (
    outcome in ('recorded', 'notified', 'booking_cancelled', 'already_cancelled', 'unknown_order')
  )
);

comment on table public.duffel_webhook_events is
  'Duffel webhook events processed (one row per event id; no personal data). Service only.';

create index duffel_webhook_events_order_idx on public.duffel_webhook_events (order_id);
create index duffel_webhook_events_booking_idx on public.duffel_webhook_events (booking_id);

alter table public.duffel_webhook_events enable row level security;
revoke all on table public.duffel_webhook_events from public, anon, authenticated, service_role;
grant select, insert, update on table public.duffel_webhook_events to service_role;

create function app.duffel_webhook_record(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_event_id text;
  v_type text;
  v_kind text;
  v_order_id text;
  v_occurred timestamptz;
  v_template text;
  v_dedupe text;
  v_alert text;
  v_inserted text;
  v_booking public.bookings;
  v_owner uuid;
  v_outcome text;
  v_decision text;
  v_reason text;
begin
  perform app.monitor_args(
    args, array['event_id', 'type', 'kind', 'order_id', 'occurred_at', 'notification', 'alert']
  );
  if jsonb_typeof(args -> 'event_id') is distinct from 'string'
    or (args ->> 'event_id') !~ '^[A-Za-z0-9_]{1,100}$' then
    raise exception using errcode = '22023', message = 'field event_id must be a Duffel event id';
  end if;
  if jsonb_typeof(args -> 'type') is distinct from 'string'
    or (args ->> 'type') !~ '^[a-z][a-z0-9_.]{0,99}$' then
    raise exception using errcode = '22023', message = 'field type must be a Duffel event type';
  end if;
  if jsonb_typeof(args -> 'order_id') is distinct from 'string'
    or (args ->> 'order_id') !~ '^ord_[A-Za-z0-9_-]{1,251}$' then
    raise exception using errcode = '22023', message = 'field order_id must be a Duffel order id';
  end if;
  v_event_id := args ->> 'event_id';
  v_type := args ->> 'type';
  v_order_id := args ->> 'order_id';
  v_kind := app.arg_code(args, 'kind');
  if v_kind not in ('order_created', 'schedule_changed', 'order_cancelled') then
    raise exception using errcode = '22023', message = 'field kind is not a known event kind';
  end if;
  if jsonb_typeof(args -> 'occurred_at') is null or jsonb_typeof(args -> 'occurred_at') = 'null' then
    v_occurred := null;
  else
    v_occurred := app.arg_timestamptz(args, 'occurred_at');
  end if;

  if v_kind = 'schedule_changed' then
    if jsonb_typeof(args -> 'notification') is distinct from 'object' then
      raise exception using errcode = '22023', message = 'field notification is required';
    end if;
    perform app.monitor_args(args -> 'notification', array['template', 'dedupe_key']);
    v_template := app.arg_code(args -> 'notification', 'template');
    v_dedupe := args -> 'notification' ->> 'dedupe_key';
    if v_dedupe is null or v_dedupe !~ '^[A-Za-z0-9._:-]{1,200}$' then
      raise exception using errcode = '22023', message = 'field notification.dedupe_key is invalid';
    end if;
  elsif jsonb_typeof(args -> 'notification') is distinct from 'null'
    and jsonb_typeof(args -> 'notification') is not null then
    raise exception using errcode = '22023', message = 'field notification is only for schedule_changed';
  end if;
  v_alert := app.arg_code(args, 'alert', v_kind = 'order_cancelled');

  -- Once per event id: a concurrent second delivery waits here for the first to commit, then
  -- finds the row and changes nothing.
  insert into public.duffel_webhook_events (id, type, kind, order_id, outcome, occurred_at)
  values (v_event_id, v_type, v_kind, v_order_id, 'unknown_order', v_occurred)
  on conflict (id) do nothing
  returning id into v_inserted;
  if v_inserted is null then
    select e.outcome into v_outcome from public.duffel_webhook_events e where e.id = v_event_id;
    return jsonb_build_object('duplicate', true, 'outcome', v_outcome);
  end if;

  select b.* into v_booking
  from public.bookings b
  where b.provider = 'duffel' and b.provider_order_id = v_order_id
  for update;
  if v_booking.id is null then
    return jsonb_build_object('duplicate', false, 'outcome', 'unknown_order');
  end if;
  select t.owner_id into v_owner from public.trip_requests t where t.id = v_booking.trip_id;

  v_decision := v_kind;
  v_reason := null;
  if v_kind = 'order_created' then
    v_outcome := 'recorded';
  elsif v_kind = 'schedule_changed' then
    if v_booking.status = 'cancelled' then
      v_outcome := 'booking_cancelled';
      v_reason := 'booking_cancelled';
    else
      insert into public.notifications (trip_id, owner_id, template, dedupe_key)
      values (v_booking.trip_id, v_owner, v_template, v_dedupe)
      on conflict (dedupe_key) do nothing;
      v_outcome := 'notified';
    end if;
  else
    if v_booking.status = 'cancelled' then
      v_outcome := 'already_cancelled';
    else
      update public.bookings b set status = 'cancelled' where b.id = v_booking.id;
      v_outcome := 'booking_cancelled';
      v_decision := 'operator_alert';
      v_reason := v_alert;
    end if;
  end if;

  update public.duffel_webhook_events e
  set booking_id = v_booking.id, trip_id = v_booking.trip_id, outcome = v_outcome
  where e.id = v_event_id;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    v_booking.trip_id,
    'duffel_webhook',
    v_decision,
    v_reason,
    jsonb_build_object(
      'event_id', v_event_id, 'type', v_type, 'order_id', v_order_id,
      'booking_id', v_booking.id, 'outcome', v_outcome
    ),
    nullif(current_setting('app.correlation_id', true), '')
  );

  return jsonb_build_object('duplicate', false, 'outcome', v_outcome);
end
$$;

revoke all on function app.duffel_webhook_record(jsonb) from public, anon, authenticated;
grant execute on function app.duffel_webhook_record(jsonb) to service_role;
