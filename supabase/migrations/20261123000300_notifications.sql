-- notifications: the email outbox (issue 3 only enqueues; sending is a later issue).
--
-- A row says "send template T about trip X to its owner"; the sender renders the message from
-- the trip and booking rows at send time, so no personal data is copied here. `dedupe_key` is
-- unique: enqueuing twice (a retried saga write) is a no-op.

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  trip_id uuid not null references public.trip_requests (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  template text not null,
  dedupe_key text not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  provider_message_id text,
  last_error_code text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),

  constraint notifications_dedupe_key_key unique (dedupe_key),
  constraint notifications_template_format check (template ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint notifications_dedupe_key_format check (dedupe_key ~ '^[A-Za-z0-9._:-]{1,200}$'),
  constraint notifications_status_known check (status in ('pending', 'sent', 'failed')),
  constraint notifications_attempts_nonnegative check (attempts >= 0),
  constraint notifications_sent_has_message_id check (status <> 'sent' or provider_message_id is not null),
  constraint notifications_last_error_code_format check (
    last_error_code is null or last_error_code ~ '^[a-z][a-z0-9_]{0,63}$'
  )
);

comment on table public.notifications is
  'Email outbox (template + trip, no personal data; unique dedupe_key). Owners read their own.';

-- The sender's queue.
create index notifications_pending_idx on public.notifications (next_attempt_at) where status = 'pending';
create index notifications_trip_idx on public.notifications (trip_id);
create index notifications_owner_idx on public.notifications (owner_id, created_at desc);

create trigger notifications_touch_updated_at
before update on public.notifications
for each row execute function app.touch_updated_at();
