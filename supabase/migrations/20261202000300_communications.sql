-- Communications (issue 7 items 5 and 6): the outbox is sent through Resend, Resend's webhook
-- records delivery and suppresses bounced or complaining addresses, and price alerts.
--
-- * notifications gain the dispatcher's states: `pending` (due at next_attempt_at), `sending`
--   (the exact Resend request is persisted, encrypted, BEFORE the call; a crash after the call
--   resends the same bytes with the same Idempotency-Key = the notification id, which Resend
--   deduplicates for 24 h), `sent`, `dead` (dead_reason says why, for operators) and
--   `suppressed` (the address bounced or complained). A claim is a lease: next_attempt_at moves
--   out by notify_lease_seconds and attempts grows, so a dispatcher that dies mid-run leaves the
--   row due again after the lease.
-- * email_suppressions: keyed by an HMAC-SHA256 of the lower-cased address under the Vault key
--   traveler_data_key, so the list holds no address in clear (and cannot be reversed by hashing a
--   dictionary without the key).
-- * resend_events: one row per Svix message id (`svix-id`), so each webhook delivery is
--   processed once; events that arrive before the send is marked sent are applied when it is.
-- * price_alerts: per trip, the last price the traveller was told about. A price alert is
--   enqueued when the selected offer (which always meets the trip's maximum) is first seen, and
--   again only when the price has dropped by at least pipeline_settings.price_alert_min_drop_bps
--   below the last alerted price; the dedupe key names the price, so one price is never alerted
--   twice. trip_requests.price_alerts: null (default) alerts a watch without auto-book; true
--   alerts with auto-book too (both); false never.
-- * watch_expired: enqueued when a trip becomes `expired`.
-- * The dispatcher is scheduled like the monitor (job `notify-dispatch`, pg_net, Vault secrets
--   project_url and monitor_key).

-- ------------------------------------------------------------------------------------------------
-- Settings
-- ------------------------------------------------------------------------------------------------
alter table public.pipeline_settings
  add column notify_enabled boolean not null default true,
  add column notify_batch_size integer not null default 20,
  add column notify_lease_seconds integer not null default 120,
  add column notify_max_attempts integer not null default 8,
  -- The From header of every email (a verified Resend domain on a real project).
  add column mail_from text not null default 'Parker Flight <bookings@parkerflight.example>',
  -- The frontend's base URL; links in emails are <app_base_url>/trips/<trip id>[/payment].
  add column app_base_url text not null default 'http://127.0.0.1:3000',
  -- A further price alert needs a drop of at least this many basis points (500 = 5 %) below the
  -- last alerted price.
  add column price_alert_min_drop_bps integer not null default 500,
  add constraint pipeline_settings_notify_batch_size_range check (notify_batch_size between 1 and 500),
  add constraint pipeline_settings_notify_lease_seconds_range check (notify_lease_seconds between 10 and 3600),
  add constraint pipeline_settings_notify_max_attempts_range check (notify_max_attempts between 1 and 50),
  add constraint pipeline_settings_mail_from_length check (length(mail_from) between 3 and 200),
  add constraint pipeline_settings_app_base_url_format check (app_base_url ~ '^https?://[^\s"''<>]{1,200}$'),
  add constraint pipeline_settings_price_alert_min_drop_bps_range check (price_alert_min_drop_bps between 1 and 10000);

-- null (the default): alerts for a watch without auto-book only; true: alerts with auto-book too
-- (both); false: never.
alter table public.trip_requests
  add column price_alerts boolean;

comment on column public.trip_requests.price_alerts is
  'Price alerts (first price meeting the maximum, then each further drop of price_alert_min_drop_bps): null = when not auto-booking, true = always, false = never.';

-- ------------------------------------------------------------------------------------------------
-- The outbox's new states and columns
-- ------------------------------------------------------------------------------------------------
alter table public.notifications
  drop constraint notifications_status_known,
  add constraint notifications_status_known
    check (status in ('pending', 'sending', 'sent', 'dead', 'suppressed', 'failed')),
  -- Template data that is not in other rows (the price of a price alert). No personal data.
  add column payload jsonb,
  -- pgp_sym_encrypt(the Resend request body, traveler_data_key) while `sending`; cleared once
  -- the row is sent, dead or suppressed.
  add column request_enc bytea,
  -- app.email_hash of the recipient the request was built for.
  add column recipient_hash text,
  add column sending_at timestamptz,
  add column sent_at timestamptz,
  add column dead_reason text,
  add column delivered_at timestamptz,
  add column bounced_at timestamptz,
  add column complained_at timestamptz,
  add column delivery text,
  add constraint notifications_payload_object check (payload is null or jsonb_typeof(payload) = 'object'),
  add constraint notifications_request_enc_encrypted check (
    request_enc is null
    or (octet_length(request_enc) between 16 and 1048576 and get_byte(request_enc, 0) in (140, 141, 195))
  ),
  add constraint notifications_sending_has_request check (status <> 'sending' or request_enc is not null),
  add constraint notifications_recipient_hash_format check (recipient_hash is null or recipient_hash ~ '^[0-9a-f]{64}$'),
  add constraint notifications_dead_has_reason check (status not in ('dead', 'suppressed') or dead_reason is not null),
  add constraint notifications_dead_reason_format check (
    dead_reason is null or dead_reason ~ '^[a-z][a-z0-9_]{0,63}$'
  ),
  add constraint notifications_delivery_known check (
    delivery is null or delivery in ('delivered', 'bounced', 'complained')
  );

create index notifications_due_idx on public.notifications (next_attempt_at, id)
  where status in ('pending', 'sending');
create index notifications_provider_message_idx on public.notifications (provider_message_id)
  where provider_message_id is not null;

-- ------------------------------------------------------------------------------------------------
-- Suppressions, webhook events, price alert state
-- ------------------------------------------------------------------------------------------------
create table public.email_suppressions (
  address_hash text primary key,
  reason text not null,
  notification_id uuid references public.notifications (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  constraint email_suppressions_address_hash_format check (address_hash ~ '^[0-9a-f]{64}$'),
  constraint email_suppressions_reason_known check (reason in ('bounced', 'complained'))
);

comment on table public.email_suppressions is
  'Addresses no mail goes to (bounced, complained), keyed by app.email_hash: no address in clear. Service only.';

create trigger email_suppressions_touch_updated_at
before update on public.email_suppressions
for each row execute function app.touch_updated_at();

create table public.resend_events (
  svix_id text primary key,
  type text not null,
  email_id text,
  occurred_at timestamptz,
  received_at timestamptz not null default now(),
  applied_at timestamptz,

  constraint resend_events_svix_id_format check (svix_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  constraint resend_events_type_format check (type ~ '^[a-z][a-z0-9_.]{0,63}$'),
  constraint resend_events_email_id_format check (email_id is null or email_id ~ '^[A-Za-z0-9_-]{1,128}$')
);

comment on table public.resend_events is
  'Resend webhook deliveries, once per svix-id (no personal data: type and email id only). Service only.';

create index resend_events_email_idx on public.resend_events (email_id) where applied_at is null;

create table public.price_alerts (
  trip_id uuid primary key references public.trip_requests (id) on delete cascade,
  last_alert_minor bigint not null,
  currency text not null,
  alerts integer not null default 1,
  alerted_at timestamptz not null default now(),

  constraint price_alerts_last_alert_positive check (last_alert_minor > 0),
  constraint price_alerts_currency_iso check (currency ~ '^[A-Z]{3}$')
);

comment on table public.price_alerts is
  'Per trip, the last price a price alert told the traveller about. Service only.';

alter table public.email_suppressions enable row level security;
alter table public.resend_events enable row level security;
alter table public.price_alerts enable row level security;
revoke all on table public.email_suppressions from public, anon, authenticated, service_role;
revoke all on table public.resend_events from public, anon, authenticated, service_role;
revoke all on table public.price_alerts from public, anon, authenticated, service_role;
grant select, insert, update, delete on table public.email_suppressions to service_role;
grant select, insert, update, delete on table public.resend_events to service_role;
grant select, insert, update, delete on table public.price_alerts to service_role;

-- ------------------------------------------------------------------------------------------------
-- Helpers
-- ------------------------------------------------------------------------------------------------

-- HMAC-SHA256 (hex) of the trimmed, lower-cased address under traveler_data_key. Internal.
create function app.email_hash(address text)
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select encode(
    extensions.hmac(lower(btrim(address)), app.traveler_data_key(), 'sha256'), 'hex'
  )
$$;

revoke all on function app.email_hash(text) from public, anon, authenticated, service_role;

-- The data a template needs, decrypted (service role only, through notify_claim).
create function app.notify_claim_json(n public.notifications, key text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_trip public.trip_requests;
  v_offer jsonb;
  v_booking jsonb;
  v_passengers jsonb;
  v_recipient text;
  v_hash text;
  v_request text;
begin
  select t.* into v_trip from public.trip_requests t where t.id = n.trip_id;

  select jsonb_build_object(
    'departing_at', app.local_datetime(o.departing_at), 'arriving_at', app.local_datetime(o.arriving_at),
    'carriers', to_jsonb(o.carriers), 'stops', o.stops, 'duration_minutes', o.duration_minutes,
    'total_minor', o.total_minor, 'currency', o.currency
  ) into v_offer
  from public.flight_offers o where o.id = v_trip.selected_offer_id;

  select jsonb_build_object(
    'booking_reference', b.booking_reference, 'amount_minor', b.amount_minor, 'currency', b.currency
  ) into v_booking
  from public.bookings b where b.trip_id = n.trip_id
  order by b.created_at desc limit 1;

  select coalesce(jsonb_agg(jsonb_build_object(
      'given_name', p.pii ->> 'given_name', 'family_name', p.pii ->> 'family_name'
    ) order by p.position), '[]'::jsonb),
    (array_agg(p.pii ->> 'email' order by p.position))[1]
  into v_passengers, v_recipient
  from (
    select tt.position, extensions.pgp_sym_decrypt(tr.pii, key)::jsonb as pii
    from public.trip_travelers tt
    join public.travelers tr on tr.id = tt.traveler_id
    where tt.trip_id = n.trip_id
  ) p;

  -- No traveller on the trip (a plain watch): the account's own address.
  if v_recipient is null then
    select u.email into v_recipient from auth.users u where u.id = n.owner_id;
  end if;

  if n.request_enc is not null then
    v_request := extensions.pgp_sym_decrypt(n.request_enc, key);
  end if;
  v_hash := coalesce(
    n.recipient_hash,
    case when v_recipient is not null then app.email_hash(v_recipient) end
  );

  return jsonb_build_object(
    'id', n.id,
    'template', n.template,
    'attempts', n.attempts,
    'status', n.status,
    'sending_at', app.rfc3339(n.sending_at),
    'stored_request', v_request,
    'recipient', case when n.request_enc is null then v_recipient end,
    'suppressed', v_hash is not null
      and exists (select 1 from public.email_suppressions s where s.address_hash = v_hash),
    'payload', n.payload,
    'trip', jsonb_build_object(
      'id', v_trip.id, 'origin', v_trip.origin, 'destination', v_trip.destination,
      'departure_date', v_trip.departure_date, 'return_date', v_trip.return_date,
      'adults', v_trip.adults, 'children', cardinality(v_trip.child_ages),
      'cabin', v_trip.cabin, 'max_total_minor', v_trip.max_total_minor,
      'currency', v_trip.currency, 'auto_book', v_trip.auto_book, 'status', v_trip.status,
      'last_error_code', v_trip.last_error_code
    ),
    'offer', v_offer,
    'booking', v_booking,
    'passengers', v_passengers
  );
end
$$;

revoke all on function app.notify_claim_json(public.notifications, text) from public, anon, authenticated, service_role;

-- Applies a recorded webhook event to its notification (delivery state, suppression).
create function app.resend_apply(n public.notifications, event_type text)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_reason text;
begin
  if event_type = 'email.delivered' then
    update public.notifications x set delivered_at = coalesce(x.delivered_at, now()) where x.id = n.id;
  elsif event_type = 'email.bounced' then
    update public.notifications x set bounced_at = coalesce(x.bounced_at, now()) where x.id = n.id;
    v_reason := 'bounced';
  elsif event_type = 'email.complained' then
    update public.notifications x set complained_at = coalesce(x.complained_at, now()) where x.id = n.id;
    v_reason := 'complained';
  end if;
  -- Delivery is the worst news so far, whatever order the events came in.
  update public.notifications x
  set delivery = case
    when x.complained_at is not null then 'complained'
    when x.bounced_at is not null then 'bounced'
    when x.delivered_at is not null then 'delivered'
  end
  where x.id = n.id;
  if v_reason is not null and n.recipient_hash is not null then
    insert into public.email_suppressions (address_hash, reason, notification_id)
    values (n.recipient_hash, v_reason, n.id)
    on conflict (address_hash) do update
      set reason = case when excluded.reason = 'complained' then 'complained'
        else public.email_suppressions.reason end;
  end if;
end
$$;

revoke all on function app.resend_apply(public.notifications, text) from public, anon, authenticated, service_role;

-- ------------------------------------------------------------------------------------------------
-- notify_claim {"limit"?, "notification_id"?} -> {"enabled", "settings", "notifications": [...]}
-- ------------------------------------------------------------------------------------------------
-- Leases up to min(limit, notify_batch_size) due notifications (pending or sending,
-- next_attempt_at <= now()) with FOR UPDATE SKIP LOCKED: next_attempt_at moves out by the lease
-- and attempts grows by one. Each element carries what the core renders from (trip, offer,
-- booking, passengers' names, the recipient, decrypted) or, for a row already `sending`, the
-- stored request to send again byte for byte; `suppressed` when the address is on the list.
-- limit 0 reads the settings only. Paused (notify_enabled false): nothing is claimed.
create function app.notify_claim(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  s public.pipeline_settings;
  v_limit integer;
  v_only uuid;
  v_key text;
  v_out jsonb;
  v_settings jsonb;
begin
  perform app.monitor_args(args, array['limit', 'notification_id']);
  v_only := app.arg_uuid(args, 'notification_id', false);
  select * into s from public.pipeline_settings where id;
  v_limit := least(app.arg_int(args, 'limit', 0, 500, s.notify_batch_size), s.notify_batch_size);
  v_settings := jsonb_build_object(
    'max_attempts', s.notify_max_attempts, 'lease_seconds', s.notify_lease_seconds,
    'from', s.mail_from, 'app_base_url', s.app_base_url
  );
  if not s.notify_enabled or v_limit = 0 then
    return jsonb_build_object('enabled', s.notify_enabled, 'settings', v_settings, 'notifications', '[]'::jsonb);
  end if;
  v_key := app.traveler_data_key();

  with due as (
    select n.id
    from public.notifications n
    where n.status in ('pending', 'sending') and n.next_attempt_at <= now()
      and (v_only is null or n.id = v_only)
    order by n.next_attempt_at, n.id
    limit v_limit
    for update skip locked
  ), claimed as (
    update public.notifications n
    set next_attempt_at = now() + make_interval(secs => s.notify_lease_seconds),
      attempts = n.attempts + 1
    from due
    where n.id = due.id
    returning n.*
  )
  select coalesce(jsonb_agg(app.notify_claim_json(c, v_key) order by c.created_at, c.id), '[]'::jsonb)
  into v_out
  from claimed c;

  return jsonb_build_object('enabled', true, 'settings', v_settings, 'notifications', v_out);
end
$$;

-- ------------------------------------------------------------------------------------------------
-- notify_sending {"id", "body"} -> {"ok"}
-- ------------------------------------------------------------------------------------------------
-- Persists the exact Resend request body (JSON text, encrypted) and the recipient's hash, and
-- moves the row to `sending`, before the call. ok=false when the row is no longer pending or
-- sending (another run finished it).
create function app.notify_sending(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_id uuid;
  v_body jsonb;
  v_to text;
begin
  perform app.monitor_args(args, array['id', 'body']);
  v_id := app.arg_uuid(args, 'id');
  if jsonb_typeof(args -> 'body') is distinct from 'string' or length(args ->> 'body') > 500000 then
    raise exception using errcode = '22023', message = 'body must be the request text';
  end if;
  v_body := (args ->> 'body')::jsonb;
  v_to := v_body #>> '{to,0}';
  if v_to is null then
    raise exception using errcode = '22023', message = 'body names no recipient';
  end if;
  update public.notifications n
  set status = 'sending',
    request_enc = extensions.pgp_sym_encrypt(args ->> 'body', app.traveler_data_key(), 'cipher-algo=aes256'),
    recipient_hash = app.email_hash(v_to),
    sending_at = coalesce(n.sending_at, now())
  where n.id = v_id and n.status in ('pending', 'sending');
  return jsonb_build_object('ok', found);
end
$$;

-- ------------------------------------------------------------------------------------------------
-- notify_finish {"id", "outcome", "message_id"?, "next_attempt_at"?, "error_code"?, "reason"?}
--   -> {"ok"}
-- ------------------------------------------------------------------------------------------------
-- outcome sent (message_id): `sent`, the stored request cleared, and webhook events that came
-- first applied. retry (next_attempt_at, error_code): stays pending/sending, due then. dead
-- (reason, error_code?) and suppressed (reason): final, request cleared. ok=false when the row
-- was already final (nothing changed), except a repeated `sent` with the same message id.
create function app.notify_finish(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_id uuid;
  v_outcome text;
  v_n public.notifications;
  e record;
begin
  perform app.monitor_args(args, array['id', 'outcome', 'message_id', 'next_attempt_at', 'error_code', 'reason']);
  v_id := app.arg_uuid(args, 'id');
  v_outcome := app.arg_code(args, 'outcome');
  select n.* into v_n from public.notifications n where n.id = v_id for update;
  if v_n.id is null then
    raise exception using errcode = 'P0002', message = 'notification not found';
  end if;
  if v_n.status not in ('pending', 'sending') then
    return jsonb_build_object('ok', v_n.status = 'sent' and v_outcome = 'sent'
      and v_n.provider_message_id = args ->> 'message_id');
  end if;

  if v_outcome = 'sent' then
    if coalesce(args ->> 'message_id', '') !~ '^[A-Za-z0-9_-]{1,128}$' then
      raise exception using errcode = '22023', message = 'sent needs a message_id';
    end if;
    update public.notifications n
    set status = 'sent', provider_message_id = args ->> 'message_id', sent_at = now(),
      request_enc = null, last_error_code = null
    where n.id = v_id
    returning n.* into v_n;
    for e in
      select r.svix_id, r.type from public.resend_events r
      where r.email_id = v_n.provider_message_id and r.applied_at is null
      order by r.received_at
    loop
      perform app.resend_apply(v_n, e.type);
      update public.resend_events r set applied_at = now() where r.svix_id = e.svix_id;
    end loop;
  elsif v_outcome = 'retry' then
    update public.notifications n
    set next_attempt_at = app.arg_timestamptz(args, 'next_attempt_at'),
      last_error_code = app.arg_code(args, 'error_code')
    where n.id = v_id;
  elsif v_outcome in ('dead', 'suppressed') then
    update public.notifications n
    set status = v_outcome, dead_reason = app.arg_code(args, 'reason'),
      last_error_code = coalesce(app.arg_code(args, 'error_code', false), n.last_error_code),
      request_enc = null
    where n.id = v_id;
  else
    raise exception using errcode = '22023', message = 'outcome must be sent, retry, dead or suppressed';
  end if;
  return jsonb_build_object('ok', true);
end
$$;

-- ------------------------------------------------------------------------------------------------
-- resend_event {"svix_id", "type", "email_id"?, "occurred_at"?} -> {"duplicate", "matched"}
-- ------------------------------------------------------------------------------------------------
-- Records a verified Resend webhook once per svix_id (a redelivery is `duplicate`, nothing
-- changes). Applied at once when a sent notification has that email id; otherwise kept and
-- applied when the send is marked sent (events may come first, and in any order).
create function app.resend_event(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_n public.notifications;
  v_email text;
begin
  perform app.monitor_args(args, array['svix_id', 'type', 'email_id', 'occurred_at']);
  v_email := nullif(args ->> 'email_id', '');
  insert into public.resend_events (svix_id, type, email_id, occurred_at)
  values (
    args ->> 'svix_id', args ->> 'type', v_email,
    case when args ? 'occurred_at' and args -> 'occurred_at' <> 'null'::jsonb
      then app.arg_timestamptz(args, 'occurred_at') end
  )
  on conflict (svix_id) do nothing;
  if not found then
    return jsonb_build_object('duplicate', true, 'matched', false);
  end if;
  if v_email is null then
    return jsonb_build_object('duplicate', false, 'matched', false);
  end if;
  select n.* into v_n from public.notifications n
  where n.provider_message_id = v_email and n.status = 'sent'
  for update;
  if v_n.id is null then
    return jsonb_build_object('duplicate', false, 'matched', false);
  end if;
  perform app.resend_apply(v_n, args ->> 'type');
  update public.resend_events r set applied_at = now() where r.svix_id = args ->> 'svix_id';
  return jsonb_build_object('duplicate', false, 'matched', true);
end
$$;

revoke all on function app.notify_claim(jsonb) from public, anon, authenticated;
revoke all on function app.notify_sending(jsonb) from public, anon, authenticated;
revoke all on function app.notify_finish(jsonb) from public, anon, authenticated;
revoke all on function app.resend_event(jsonb) from public, anon, authenticated;
grant execute on function app.notify_claim(jsonb) to service_role;
grant execute on function app.notify_sending(jsonb) to service_role;
grant execute on function app.notify_finish(jsonb) to service_role;
grant execute on function app.resend_event(jsonb) to service_role;

-- ------------------------------------------------------------------------------------------------
-- Triggers: price alerts and watch_expired
-- ------------------------------------------------------------------------------------------------
create function app.trip_requests_price_alert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_price bigint;
  v_currency text;
  v_bps integer;
  v_state public.price_alerts;
  v_alert boolean := false;
begin
  select o.total_minor, o.currency into v_price, v_currency
  from public.flight_offers o where o.id = new.selected_offer_id;
  if v_price is null or v_currency <> new.currency or v_price > new.max_total_minor then
    return null;
  end if;
  select s.price_alert_min_drop_bps into v_bps from public.pipeline_settings s where s.id;
  select p.* into v_state from public.price_alerts p where p.trip_id = new.id for update;
  if v_state.trip_id is null then
    insert into public.price_alerts (trip_id, last_alert_minor, currency)
    values (new.id, v_price, v_currency);
    v_alert := true;
  elsif v_state.currency = v_currency
    -- At least bps below the last alerted price (integer ceiling, never floats).
    and v_price <= v_state.last_alert_minor
      - greatest(1, (v_state.last_alert_minor * coalesce(v_bps, 500) + 9999) / 10000) then
    update public.price_alerts p
    set last_alert_minor = v_price, alerts = p.alerts + 1, alerted_at = now()
    where p.trip_id = new.id;
    v_alert := true;
  end if;
  if v_alert then
    insert into public.notifications (trip_id, owner_id, template, dedupe_key, payload)
    values (
      new.id, new.owner_id, 'price_alert', new.id::text || '-price_alert-' || v_price::text,
      jsonb_build_object('amount_minor', v_price, 'currency', v_currency,
        'target_minor', new.max_total_minor)
    )
    on conflict on constraint notifications_dedupe_key_key do nothing;
  end if;
  return null;
end
$$;

revoke all on function app.trip_requests_price_alert() from public, anon, authenticated, service_role;

create trigger trip_requests_price_alert
after update on public.trip_requests
for each row
when (coalesce(new.price_alerts, not new.auto_book) and new.status = 'watching'
  and new.selected_offer_id is not null
  and (old.selected_offer_id is distinct from new.selected_offer_id or old.version <> new.version))
execute function app.trip_requests_price_alert();

create function app.trip_requests_watch_expired()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notifications (trip_id, owner_id, template, dedupe_key, payload)
  values (
    new.id, new.owner_id, 'watch_expired', new.id::text || '-watch_expired',
    jsonb_strip_nulls(jsonb_build_object('reason', new.last_error_code))
  )
  on conflict on constraint notifications_dedupe_key_key do nothing;
  return null;
end
$$;

revoke all on function app.trip_requests_watch_expired() from public, anon, authenticated, service_role;

create trigger trip_requests_watch_expired
after update of status on public.trip_requests
for each row
when (new.status = 'expired' and old.status is distinct from 'expired')
execute function app.trip_requests_watch_expired();

-- ------------------------------------------------------------------------------------------------
-- The schedule: job `notify-dispatch`, like `auto-book-monitor` (20261123000700).
-- ------------------------------------------------------------------------------------------------
do $migration$
declare
  cmd constant text := $cmd$select net.http_post(
  url := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url')
    || '/functions/v1/notify-dispatch',
  body := '{}'::jsonb,
  headers := jsonb_build_object(
    'Content-Type', 'application/json',
    'apikey', (select decrypted_secret from vault.decrypted_secrets where name = 'monitor_key')
  ),
  timeout_milliseconds := 55000
) as request_id$cmd$;
begin
  begin
    perform cron.schedule('notify-dispatch', '30 seconds', cmd);
  exception
    when others then
      perform cron.schedule('notify-dispatch', '* * * * *', cmd);
  end;
end
$migration$;
