-- GDPR Art. 17: erase my data (issue 8 item 3).
--
-- An erasure is a resumable process with one row in `erasure_requests` (the audit row, no
-- personal data). The core's `ErasureDriver` (booking_core::privacy) walks it through the SQL API
-- below, persisting every step before the next side effect:
--
--   waiting  the caller's watches are cancelled (a trip in `booking` gets its cancel recorded and
--            its attempt runs to its end); while any attempt of theirs is OPEN (it may hold
--            money: authorized, ordered, capturing, releasing, or flagged for an operator) the
--            erasure stays here and answers `retry_after_seconds`. The erasure never touches an
--            attempt: the saga captures or releases it, then the erasure goes on.
--   scrub    one transaction: traveller profiles deleted, notifications deleted, the payment
--            profile deleted, consents kept as evidence with their text erased, trips that ever
--            had an attempt kept (bookings, attempts, disputes, the decision log: the accounting
--            and chargeback record) with owner_id replaced by a random tombstone id, every other
--            trip deleted with its offers and events.
--   stripe   the Stripe customer (copied into the row at the start) is deleted through the API
--            (DELETE /v1/customers/{id}, which detaches every card); a 404 counts as done.
--   redis    the caller's Redis keys are deleted (trip locks, rate-limit windows).
--   done     auth.users row deleted LAST, in the same transaction that marks the row done and
--            drops every link to the person (user_id, tombstone id, customer, trip ids): what
--            remains is the subject's SHA-256 hash, so a second request answers "done".
--
-- A crash at any point leaves the row at the last persisted step; the next request (the user's
-- retry, or the operator's `erasure_open`) resumes there. Every step is idempotent.
--
-- Foreign keys: trip_requests.owner_id and consents.owner_id may now name a tombstone
-- (`erased_subjects`), so their foreign keys to auth.users are replaced by a trigger that checks
-- the owner exists in either (with the same KEY SHARE lock a foreign key takes) and by an
-- AFTER DELETE trigger on auth.users that cascades exactly as before for a user deleted outside
-- the erasure. REPLACED functions (create or replace): app.trip_requests_guard (owner_id may
-- change once, from a user to a tombstone) and app.consents_immutable (the erasure may replace the
-- owner and the text of a consent).

-- ------------------------------------------------------------------------------------------------
-- Tables
-- ------------------------------------------------------------------------------------------------
create table public.erased_subjects (
  id uuid primary key,
  erased_at timestamptz not null default now()
);

comment on table public.erased_subjects is
  'Tombstone ids that replaced an erased user''s id on the rows kept for accounting. Nothing links a tombstone to a person.';

create table public.erasure_requests (
  id uuid primary key default gen_random_uuid(),
  -- SHA-256 (hex) of the user id: finds the request again after the user is gone.
  subject_hash text not null,
  requested_via text not null,
  step text not null default 'waiting',
  -- Links to the person, only while the erasure runs (cleared when done).
  user_id uuid,
  tombstone_id uuid,
  stripe_customer_id text,
  trip_ids uuid[],
  retry_after_seconds integer,
  -- What was removed or kept (numbers only).
  counts jsonb not null default '{}'::jsonb,
  attempts integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,

  constraint erasure_requests_subject_key unique (subject_hash),
  constraint erasure_requests_subject_hash_format check (subject_hash ~ '^[0-9a-f]{64}$'),
  constraint erasure_requests_via_known check (requested_via in ('user', 'operator')),
  constraint erasure_requests_step_known check (step in ('waiting', 'scrub', 'stripe', 'redis', 'done')),
  constraint erasure_requests_customer_format check (
    stripe_customer_id is null or stripe_customer_id ~ '^cus_[A-Za-z0-9_]{1,250}$'),
  constraint erasure_requests_counts_object check (jsonb_typeof(counts) = 'object'),
  constraint erasure_requests_done_unlinked check (
    step <> 'done' or (user_id is null and tombstone_id is null and stripe_customer_id is null
      and trip_ids is null and completed_at is not null)),
  constraint erasure_requests_running_linked check (step = 'done' or (user_id is not null and tombstone_id is not null))
);

comment on table public.erasure_requests is
  'GDPR erasure requests and their audit trail: step, counts, dates. While running it holds the user id; once done only the subject''s hash. No personal data.';

create unique index erasure_requests_running_user_idx on public.erasure_requests (user_id) where user_id is not null;

create trigger erasure_requests_touch_updated_at
before update on public.erasure_requests
for each row execute function app.touch_updated_at();

alter table public.erased_subjects enable row level security;
alter table public.erasure_requests enable row level security;
revoke all on table public.erased_subjects from public, anon, authenticated, service_role;
revoke all on table public.erasure_requests from public, anon, authenticated, service_role;
grant select on table public.erased_subjects to service_role;
grant select on table public.erasure_requests to service_role;

-- ------------------------------------------------------------------------------------------------
-- Owners that may be tombstones
-- ------------------------------------------------------------------------------------------------
alter table public.trip_requests drop constraint trip_requests_owner_id_fkey;
alter table public.consents drop constraint consents_owner_id_fkey;

-- BEFORE INSERT OR UPDATE OF owner_id on trip_requests and consents: the owner is a user (locked
-- FOR KEY SHARE, as a foreign key would) or a tombstone (23503 otherwise, like a foreign key); a
-- user whose erasure is running gets no new rows (PF010).
create function app.owner_must_exist()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new.owner_id is not distinct from old.owner_id then
    return new;
  end if;
  if exists (select 1 from public.erased_subjects e where e.id = new.owner_id) then
    return new;
  end if;
  perform 1 from auth.users u where u.id = new.owner_id for key share;
  if not found then
    raise exception using
      errcode = '23503',
      message = format('insert or update on table "%s" violates foreign key constraint "%s_owner_id_fkey"',
        tg_table_name, tg_table_name),
      detail = 'the owner is not a user';
  end if;
  if tg_op = 'INSERT' and exists (
    select 1 from public.erasure_requests r where r.user_id = new.owner_id and r.step <> 'done'
  ) then
    raise exception using
      errcode = 'PF010',
      message = 'this account is being erased',
      hint = 'an erasure request is running for this account';
  end if;
  return new;
end
$$;

revoke all on function app.owner_must_exist() from public, anon, authenticated, service_role;

create trigger trip_requests_owner_exists
before insert or update of owner_id on public.trip_requests
for each row execute function app.owner_must_exist();

create trigger consents_owner_exists
before insert or update of owner_id on public.consents
for each row execute function app.owner_must_exist();

-- AFTER DELETE on auth.users: the cascade the foreign keys did. A user deleted outside the
-- erasure loses their trips and consents as before (and an open attempt still refuses it, 55006,
-- from trip_requests_keep_open_attempt). After an erasure nothing is left to cascade.
create function app.auth_user_deleted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.trip_requests t where t.owner_id = old.id;
  delete from public.consents c where c.owner_id = old.id;
  return old;
end
$$;

revoke all on function app.auth_user_deleted() from public, anon, authenticated, service_role;

create trigger pipeline_owner_cascade
after delete on auth.users
for each row execute function app.auth_user_deleted();

-- REPLACED (from 20261201000200_attempt_limit_dead_offers.sql): the same guard, except that
-- owner_id may change once, from a user to a tombstone (the erasure).
create or replace function app.trip_requests_guard()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_probe public.trip_requests;
begin
  if new.id is distinct from old.id
    or (new.owner_id is distinct from old.owner_id
      and not (
        exists (select 1 from public.erased_subjects e where e.id = new.owner_id)
        and not exists (select 1 from public.erased_subjects e where e.id = old.owner_id)))
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

  -- Issue 6 defect 14: moving only next_check_at (a claim's lease) is not a change of the trip,
  -- so it does not invalidate the compare-and-set of the run that holds the trip. Every other
  -- update (a no-op one too) bumps the version.
  v_probe := new;
  v_probe.next_check_at := old.next_check_at;
  v_probe.updated_at := old.updated_at;
  v_probe.version := old.version;
  if new.next_check_at is distinct from old.next_check_at and v_probe is not distinct from old then
    new.version := old.version;
    new.updated_at := old.updated_at;
    return new;
  end if;

  new.version := old.version + 1;
  new.updated_at := now();
  return new;
end
$$;

revoke all on function app.trip_requests_guard() from public;

-- REPLACED (from 20261202000200_payment_methods_and_stripe_webhook.sql): only a revocation may
-- change a consent, once; or the erasure, which moves it to a tombstone, erases its text and
-- revokes it (`erased`) in one update.
create or replace function app.consents_immutable()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.owner_id is distinct from old.owner_id then
    if exists (select 1 from public.erased_subjects e where e.id = new.owner_id)
      and not exists (select 1 from public.erased_subjects e where e.id = old.owner_id)
      and new.text = '[erased]'
      and new.revoked_at is not null
      and (to_jsonb(new) - 'owner_id' - 'text' - 'revoked_at' - 'revoked_reason')
        = (to_jsonb(old) - 'owner_id' - 'text' - 'revoked_at' - 'revoked_reason') then
      return new;
    end if;
    raise exception using errcode = '55000', message = 'a consent cannot change, only be revoked once';
  end if;
  if old.revoked_at is not null
    or (to_jsonb(new) - 'revoked_at' - 'revoked_reason') <> (to_jsonb(old) - 'revoked_at' - 'revoked_reason') then
    raise exception using errcode = '55000', message = 'a consent cannot change, only be revoked once';
  end if;
  return new;
end
$$;

revoke all on function app.consents_immutable() from public;

-- ------------------------------------------------------------------------------------------------
-- The process
-- ------------------------------------------------------------------------------------------------
create function app.erasure_subject_hash(p_user uuid)
returns text
language sql
immutable
set search_path = ''
as $$
  select encode(extensions.digest(p_user::text, 'sha256'), 'hex')
$$;

revoke all on function app.erasure_subject_hash(uuid) from public, anon, authenticated, service_role;

-- What the driver needs: id, step, and while running the user id (Redis key patterns), the
-- customer to delete and the trips whose locks to drop.
create function app.erasure_state(r public.erasure_requests)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'erasure_id', r.id,
    'step', r.step,
    'requested_via', r.requested_via,
    'user_id', r.user_id,
    'stripe_customer', r.stripe_customer_id,
    'trip_ids', coalesce(to_jsonb(r.trip_ids), '[]'::jsonb),
    'retry_after_seconds', r.retry_after_seconds,
    'counts', r.counts,
    'created_at', to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'completed_at', to_char(r.completed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  )
$$;

revoke all on function app.erasure_state(public.erasure_requests) from public, anon, authenticated, service_role;

-- While waiting: cancel what can be cancelled, and see whether any attempt may hold money.
create function app.erasure_wait(p_id uuid)
returns public.erasure_requests
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  r public.erasure_requests;
  v_open integer;
begin
  select * into r from public.erasure_requests where id = p_id for update;
  if r.step <> 'waiting' then
    return r;
  end if;

  with cancelled as (
    update public.trip_requests t
    set status = 'cancelled', next_check_at = null, auto_book = false,
        cancel_requested_at = coalesce(t.cancel_requested_at, now())
    where t.owner_id = r.user_id and t.status in ('searching', 'watching', 'needs_traveller')
    returning t.id
  )
  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  select c.id, 'traveller', 'cancelled', 'erasure_requested', '{}'::jsonb,
         nullif(current_setting('app.correlation_id', true), '')
  from cancelled c;

  update public.trip_requests t
  set cancel_requested_at = coalesce(t.cancel_requested_at, now()), auto_book = false
  where t.owner_id = r.user_id and t.status in ('booking', 'needs_operator')
    and (t.cancel_requested_at is null or t.auto_book);

  select count(*) into v_open
  from public.booking_attempts a
  join public.trip_requests t on t.id = a.trip_id
  where t.owner_id = r.user_id and a.open;

  update public.erasure_requests e
  set step = case when v_open = 0 then 'scrub' else 'waiting' end,
      retry_after_seconds = case when v_open = 0 then null else 60 end,
      attempts = e.attempts + 1,
      trip_ids = (select coalesce(array_agg(t.id order by t.id), '{}') from public.trip_requests t where t.owner_id = r.user_id),
      counts = e.counts || jsonb_build_object('open_attempts', v_open)
  where e.id = r.id
  returning * into r;
  return r;
end
$$;

revoke all on function app.erasure_wait(uuid) from public, anon, authenticated, service_role;

-- Starts (or finds) the erasure of p_user and brings a waiting one forward. Null when the user
-- neither exists nor was erased.
create function app.erasure_start(p_user uuid, p_via text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  r public.erasure_requests;
  v_hash text := app.erasure_subject_hash(p_user);
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('app.erasure'), pg_catalog.hashtext(v_hash));
  select * into r from public.erasure_requests e where e.subject_hash = v_hash;
  if not found then
    if not exists (select 1 from auth.users u where u.id = p_user) then
      return null;
    end if;
    insert into public.erasure_requests (subject_hash, requested_via, user_id, tombstone_id, stripe_customer_id)
    values (
      v_hash, p_via, p_user, gen_random_uuid(),
      (select p.stripe_customer_id from public.payment_profiles p where p.owner_id = p_user)
    )
    returning * into r;
  end if;
  if r.step = 'waiting' then
    r := app.erasure_wait(r.id);
  end if;
  return app.erasure_state(r);
end
$$;

revoke all on function app.erasure_start(uuid, text) from public, anon, authenticated, service_role;

-- privacy_erase {} (user): erase the caller. {"erasure": state}; 28000 without a caller.
create function app.privacy_erase(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_state jsonb;
begin
  if v_user is null then
    raise exception using errcode = '28000', message = 'a signed-in user is required';
  end if;
  v_state := app.erasure_start(v_user, 'user');
  if v_state is null then
    raise exception using errcode = '28000', message = 'a signed-in user is required';
  end if;
  return jsonb_build_object('erasure', v_state);
end
$$;

revoke all on function app.privacy_erase(jsonb) from public, anon, authenticated;
grant execute on function app.privacy_erase(jsonb) to authenticated, service_role;

-- erasure_open {"user_id"} (service; the operator path for requests received by email):
-- {"erasure": state}; P0002 when no such user was ever seen.
create function app.erasure_open(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_state jsonb;
begin
  if jsonb_typeof(args -> 'user_id') is distinct from 'string'
    or (args ->> 'user_id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    raise exception using errcode = '22023', message = 'field user_id must be a UUID';
  end if;
  v_user := (args ->> 'user_id')::uuid;
  v_state := app.erasure_start(v_user, 'operator');
  if v_state is null then
    raise exception using errcode = 'P0002', message = 'no such user';
  end if;
  return jsonb_build_object('erasure', v_state);
end
$$;

revoke all on function app.erasure_open(jsonb) from public, anon, authenticated;
grant execute on function app.erasure_open(jsonb) to service_role;

-- The database part of the erasure (step scrub), in one transaction.
create function app.erasure_scrub(p_id uuid)
returns public.erasure_requests
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  r public.erasure_requests;
  v_open integer;
  n_travelers integer;
  n_notifications integer;
  n_consents integer;
  n_kept integer;
  n_deleted integer;
begin
  select * into r from public.erasure_requests where id = p_id for update;
  -- Lock the trips, then look again: nothing may have begun an attempt meanwhile.
  perform 1 from public.trip_requests t where t.owner_id = r.user_id for update;
  select count(*) into v_open
  from public.booking_attempts a join public.trip_requests t on t.id = a.trip_id
  where t.owner_id = r.user_id and a.open;
  if v_open > 0 then
    update public.erasure_requests e set step = 'waiting', retry_after_seconds = 60
    where e.id = r.id returning * into r;
    return r;
  end if;

  insert into public.erased_subjects (id) values (r.tombstone_id) on conflict do nothing;

  delete from public.travelers t where t.owner_id = r.user_id;
  get diagnostics n_travelers = row_count;
  delete from public.notifications n where n.owner_id = r.user_id;
  get diagnostics n_notifications = row_count;
  delete from public.payment_profiles p where p.owner_id = r.user_id;

  update public.consents c
  set owner_id = r.tombstone_id, text = '[erased]',
      revoked_at = coalesce(c.revoked_at, now()), revoked_reason = coalesce(c.revoked_reason, 'erased')
  where c.owner_id = r.user_id;
  get diagnostics n_consents = row_count;

  -- Trips with any attempt are the accounting record: kept, unlinked.
  update public.trip_requests t
  set owner_id = r.tombstone_id, auto_book = false
  where t.owner_id = r.user_id
    and exists (select 1 from public.booking_attempts a where a.trip_id = t.id);
  get diagnostics n_kept = row_count;
  delete from public.trip_requests t where t.owner_id = r.user_id;
  get diagnostics n_deleted = row_count;

  update public.erasure_requests e
  set step = case when e.stripe_customer_id is null then 'redis' else 'stripe' end,
      retry_after_seconds = null,
      counts = e.counts || jsonb_build_object(
        'travelers_deleted', n_travelers, 'notifications_deleted', n_notifications,
        'consents_erased', n_consents, 'trips_kept', n_kept, 'trips_deleted', n_deleted)
  where e.id = r.id
  returning * into r;
  return r;
end
$$;

revoke all on function app.erasure_scrub(uuid) from public, anon, authenticated, service_role;

-- The last step: auth.users goes, and with it every link to the person.
create function app.erasure_finish(p_id uuid)
returns public.erasure_requests
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  r public.erasure_requests;
  n_users integer;
begin
  select * into r from public.erasure_requests where id = p_id for update;
  delete from auth.users u where u.id = r.user_id;
  get diagnostics n_users = row_count;
  update public.erasure_requests e
  set step = 'done', completed_at = now(), user_id = null, tombstone_id = null,
      stripe_customer_id = null, trip_ids = null, retry_after_seconds = null,
      counts = e.counts || jsonb_build_object('auth_users_deleted', n_users)
  where e.id = r.id
  returning * into r;
  return r;
end
$$;

revoke all on function app.erasure_finish(uuid) from public, anon, authenticated, service_role;

-- erasure_advance {"erasure_id", "step"} (service): the driver has done `step` (scrub: nothing
-- outside; stripe: the customer is deleted; redis: the keys are deleted); records it and does
-- the next database work. A step that is not the current one changes nothing (another request
-- got there first) and answers the current state. {"erasure": state}; P0002 for an unknown id.
create function app.erasure_advance(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  r public.erasure_requests;
  v_step text := args ->> 'step';
begin
  if jsonb_typeof(args -> 'erasure_id') is distinct from 'string'
    or (args ->> 'erasure_id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    raise exception using errcode = '22023', message = 'field erasure_id must be a UUID';
  end if;
  if v_step is null or v_step not in ('waiting', 'scrub', 'stripe', 'redis') then
    raise exception using errcode = '22023', message = 'field step must be waiting, scrub, stripe or redis';
  end if;
  select * into r from public.erasure_requests e where e.id = (args ->> 'erasure_id')::uuid for update;
  if not found then
    raise exception using errcode = 'P0002', message = 'no such erasure';
  end if;
  if r.step = v_step then
    case v_step
      when 'waiting' then r := app.erasure_wait(r.id);
      when 'scrub' then r := app.erasure_scrub(r.id);
      when 'stripe' then
        update public.erasure_requests e set step = 'redis' where e.id = r.id returning * into r;
      when 'redis' then r := app.erasure_finish(r.id);
    end case;
  end if;
  return jsonb_build_object('erasure', app.erasure_state(r));
end
$$;

revoke all on function app.erasure_advance(jsonb) from public, anon, authenticated;
grant execute on function app.erasure_advance(jsonb) to service_role;

-- A trip kept after its owner was erased may still see events (a Duffel schedule change on the
-- booked trip): nobody is left to write to, so its notifications are dropped instead of failing
-- the caller on notifications.owner_id's foreign key.
create function app.notifications_skip_erased()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.erased_subjects e where e.id = new.owner_id) then
    return null;
  end if;
  return new;
end
$$;

revoke all on function app.notifications_skip_erased() from public, anon, authenticated, service_role;

create trigger notifications_skip_erased
before insert on public.notifications
for each row execute function app.notifications_skip_erased();
