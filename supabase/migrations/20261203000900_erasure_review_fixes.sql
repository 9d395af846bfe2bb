-- Review of the GDPR erasure (findings 1, 4, 5; docs/privacy.md).
--
-- 1. No Stripe customer left behind. REPLACED app.erasure_scrub (from
--    20261203000530_gdpr_followups.sql): before it deletes the payment profile it reads the
--    profile's stripe_customer_id again (FOR UPDATE) into the erasure row, so a customer created
--    while the erasure waited is deleted by the stripe step. And while an erasure is running
--    (step <> 'done') the user gets no new payment data: trigger payment_profiles_erasure_guard
--    refuses (PF010) creating a profile (payment_profile_open, and payment_customer_record once
--    the scrub has deleted the row: scenario B, a still-valid JWT setting up a card again) and
--    the user's own changes of the default card; it lets through recording a customer on a
--    profile that still exists (that customer already exists at Stripe: refusing the record
--    would orphan it; the scrub reads it), a cleared default card, and the Stripe webhook's
--    writes (no caller; the scrub deletes the row). Trigger travelers_erasure_guard refuses new
--    traveller profiles (PF010); consents already are (app.owner_must_exist). PF010 answers
--    409 `erasure_in_progress` in trip-search, travelers and payment-methods.
-- 4. Stalled erasures resume and are alerted. pg_cron job `erasure-resume` (every 10 minutes)
--    posts {"action":"erase","user_id"} to privacy-operator with the service key (Vault secrets
--    project_url and monitor_key, like the monitor's job) for each erasure not done and idle
--    for 5 minutes (app.erasure_resume_due; one refused by Stripe: hourly). A Stripe refusal
--    (4xx other than 404) is recorded on the row (erasure_stripe_refused, called by the
--    core's ErasureDriver before it answers 502). Alert rules (REPLACED app.alerts_evaluate,
--    from 20261203000603_operator_alerts_rules.sql, plus two conditions): `erasure_stalled`
--    (not done 24 h after the request) and `erasure_stripe_refused` (at step stripe with a
--    refusal recorded), one incident per erasure id, resolved when the condition clears.
-- 5. The scrub's feature-flag list edits write feature_flag_audit rows (actor `erasure`,
--    reason `gdpr erasure`; the before image names the tombstone, not the user).

-- ------------------------------------------------------------------------------------------------
-- The Stripe refusal on the row
-- ------------------------------------------------------------------------------------------------
alter table public.erasure_requests
  add column stripe_refused_status integer,
  add column stripe_refused_at timestamptz,
  add constraint erasure_requests_refused_status check (
    stripe_refused_status is null or stripe_refused_status between 400 and 499);

-- erasure_stripe_refused {"erasure_id", "status"} (service): Stripe refused to delete the
-- customer (4xx other than 404). Recorded only while the row is at step stripe; the step does
-- not change (the next request tries again). {"erasure": state}; P0002 for an unknown id.
create function app.erasure_stripe_refused(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  r public.erasure_requests;
begin
  if jsonb_typeof(args) is distinct from 'object'
    or exists (select 1 from jsonb_object_keys(args) k where k not in ('erasure_id', 'status')) then
    raise exception using errcode = '22023', message = 'erasure_stripe_refused takes {"erasure_id", "status"}';
  end if;
  if jsonb_typeof(args -> 'erasure_id') is distinct from 'string'
    or (args ->> 'erasure_id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    raise exception using errcode = '22023', message = 'field erasure_id must be a UUID';
  end if;
  if jsonb_typeof(args -> 'status') is distinct from 'number' or (args ->> 'status') !~ '^4[0-9]{2}$'
    or (args ->> 'status') = '404' then
    raise exception using errcode = '22023', message = 'field status must be a 4xx status other than 404';
  end if;
  select * into r from public.erasure_requests e where e.id = (args ->> 'erasure_id')::uuid for update;
  if not found then
    raise exception using errcode = 'P0002', message = 'no such erasure';
  end if;
  if r.step = 'stripe' then
    update public.erasure_requests e
    set stripe_refused_status = (args ->> 'status')::integer, stripe_refused_at = now()
    where e.id = r.id
    returning * into r;
  end if;
  return jsonb_build_object('erasure', app.erasure_state(r));
end
$$;

revoke all on function app.erasure_stripe_refused(jsonb) from public, anon, authenticated;
grant execute on function app.erasure_stripe_refused(jsonb) to service_role;

-- ------------------------------------------------------------------------------------------------
-- No new payment data or profiles while an erasure runs (PF010)
-- ------------------------------------------------------------------------------------------------
create function app.erasure_running(p_user uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.erasure_requests r where r.user_id = p_user and r.step <> 'done')
$$;

revoke all on function app.erasure_running(uuid) from public, anon, authenticated, service_role;

create function app.erasure_refuse()
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception using
    errcode = 'PF010',
    message = 'this account is being erased',
    hint = 'an erasure request is running for this account';
end
$$;

revoke all on function app.erasure_refuse() from public, anon, authenticated, service_role;

create function app.payment_profiles_erasure_guard()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not app.erasure_running(new.owner_id) then
    return new;
  end if;
  if tg_op = 'INSERT' then
    -- payment_customer_record's upsert on a profile that still exists goes on to its ON
    -- CONFLICT update (judged below); every other insert creates a profile. The row is locked
    -- here: a scrub deleting it meanwhile is waited for, and then the row is gone (refused),
    -- so the upsert cannot fall back to inserting a fresh profile behind the scrub.
    if new.stripe_customer_id is not null then
      perform 1 from public.payment_profiles p where p.owner_id = new.owner_id for update;
      if found then
        return new;
      end if;
    end if;
    perform app.erasure_refuse();
  end if;
  -- UPDATE: the Stripe webhook (no caller) and a cleared card pass; recording the customer
  -- Stripe already created passes (the scrub reads it again); anything else the user asks is
  -- refused.
  if auth.uid() is null
    or (new.stripe_payment_method_id is null
      and new.stripe_customer_id is not distinct from old.stripe_customer_id)
    or (old.stripe_customer_id is null and new.stripe_customer_id is not null
      and new.stripe_payment_method_id is not distinct from old.stripe_payment_method_id) then
    return new;
  end if;
  perform app.erasure_refuse();
  return new;
end
$$;

revoke all on function app.payment_profiles_erasure_guard() from public, anon, authenticated, service_role;

create trigger payment_profiles_erasure_guard
before insert or update on public.payment_profiles
for each row execute function app.payment_profiles_erasure_guard();

create function app.travelers_erasure_guard()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if app.erasure_running(new.owner_id) then
    perform app.erasure_refuse();
  end if;
  return new;
end
$$;

revoke all on function app.travelers_erasure_guard() from public, anon, authenticated, service_role;

create trigger travelers_erasure_guard
before insert on public.travelers
for each row execute function app.travelers_erasure_guard();

-- ------------------------------------------------------------------------------------------------
-- The scrub (findings 1 and 5)
-- ------------------------------------------------------------------------------------------------
-- REPLACED (from 20261203000530_gdpr_followups.sql): the customer read again before the
-- profile goes; the flag list edits audited.
create or replace function app.erasure_scrub(p_id uuid)
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
  n_flags integer := 0;
  v_customer text;
  v_flag public.feature_flags;
  v_after public.feature_flags;
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
  -- Finding 1: the customer as it is NOW (a card saved while the erasure waited created one
  -- after the start copied none), locked so nothing records another meanwhile; kept in the row
  -- before the profile goes, so the stripe step deletes it.
  select p.stripe_customer_id into v_customer
  from public.payment_profiles p where p.owner_id = r.user_id for update;
  if v_customer is not null then
    update public.erasure_requests e set stripe_customer_id = v_customer
    where e.id = r.id and e.stripe_customer_id is distinct from v_customer;
  end if;
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

  update public.feature_flag_audit a
  set before = replace(a.before::text, r.user_id::text, r.tombstone_id::text)::jsonb,
      after = replace(a.after::text, r.user_id::text, r.tombstone_id::text)::jsonb
  where a.before::text like '%' || r.user_id::text || '%' or a.after::text like '%' || r.user_id::text || '%';
  -- Finding 5: every list edit is audited like an operator's (actor `erasure`); the before
  -- image names the tombstone, never the user.
  for v_flag in
    select f.* from public.feature_flags f
    where r.user_id = any (f.allow_users) or r.user_id = any (f.deny_users)
    order by f.name
    for update
  loop
    update public.feature_flags f
    set allow_users = array_remove(f.allow_users, r.user_id),
        deny_users = array_remove(f.deny_users, r.user_id),
        updated_by = 'erasure', updated_at = now()
    where f.name = v_flag.name
    returning f.* into v_after;
    insert into public.feature_flag_audit (flag, changed_by, reason, before, after)
    values (v_flag.name, 'erasure', 'gdpr erasure',
      replace(to_jsonb(v_flag)::text, r.user_id::text, r.tombstone_id::text)::jsonb, to_jsonb(v_after));
    n_flags := n_flags + 1;
  end loop;

  update public.erasure_requests e
  set step = case when e.stripe_customer_id is null then 'redis' else 'stripe' end,
      retry_after_seconds = null,
      counts = e.counts || jsonb_build_object(
        'travelers_deleted', n_travelers, 'notifications_deleted', n_notifications,
        'consents_erased', n_consents, 'trips_kept', n_kept, 'trips_deleted', n_deleted,
        'feature_flags_updated', n_flags)
  where e.id = r.id
  returning * into r;
  return r;
end
$$;

revoke all on function app.erasure_scrub(uuid) from public, anon, authenticated, service_role;

-- ------------------------------------------------------------------------------------------------
-- Resuming stalled erasures (finding 4)
-- ------------------------------------------------------------------------------------------------
-- The user ids of erasures to resume now: not done, untouched for 5 minutes (a refused
-- Stripe delete: for an hour), oldest first, at most p_limit.
create function app.erasure_resume_due(p_limit integer)
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select e.user_id
  from public.erasure_requests e
  where e.step <> 'done' and e.user_id is not null
    and e.updated_at < now() - interval '5 minutes'
    and (e.stripe_refused_at is null or e.stripe_refused_at < now() - interval '1 hour')
  order by e.updated_at, e.id
  limit greatest(p_limit, 0)
$$;

revoke all on function app.erasure_resume_due(integer) from public, anon, authenticated, service_role;

-- The job: one privacy-operator request per due erasure (it resumes where the row stopped).
select cron.schedule('erasure-resume', '*/10 * * * *', $cmd$select net.http_post(
  url := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url')
    || '/functions/v1/privacy-operator',
  body := jsonb_build_object('action', 'erase', 'user_id', d.user_id),
  headers := jsonb_build_object(
    'Content-Type', 'application/json',
    'apikey', (select decrypted_secret from vault.decrypted_secrets where name = 'monitor_key')
  ),
  timeout_milliseconds := 55000
) as request_id
from app.erasure_resume_due(20) as d(user_id)$cmd$);

insert into public.alert_rules (rule, threshold, window_minutes, title) values
  ('erasure_stalled', 0, 1440, 'An erasure request is not done 24 hours after it was made'),
  ('erasure_stripe_refused', 0, 1440, 'Stripe refused to delete an erased user''s customer');

-- REPLACED (from 20261203000603_operator_alerts_rules.sql): plus erasure_stalled and
-- erasure_stripe_refused.
create or replace function app.alerts_evaluate(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_fired integer := 0;
  v_resolved integer := 0;
  v_queued integer := 0;
  v_sent integer := 0;
  v_retried integer := 0;
  v_dead integer := 0;
  v_dispatched integer := 0;
  v_n integer;
  v_url text;
  v_row record;
  v_alert public.operator_alerts;
  v_resp record;
  v_ok boolean;
begin
  if args is null or jsonb_typeof(args) <> 'object' or args <> '{}'::jsonb then
    raise exception using errcode = '22023', message = 'arguments must be {}';
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('app.alerts_evaluate'));

  -- What holds now: (rule, incident_key, trip, attempt, detail).
  if pg_catalog.to_regclass('pg_temp.alert_conditions') is null then
    create temporary table alert_conditions (
      rule text, incident_key text, trip_id uuid, attempt_id uuid, detail jsonb
    ) on commit drop;
  end if;
  truncate pg_temp.alert_conditions;

  insert into pg_temp.alert_conditions
  select 'monitor_silent', 'monitor', null, null,
         jsonb_build_object('heartbeat_age_s', extract(epoch from now() - s.heartbeat_at)::bigint)
  from public.pipeline_settings s, public.alert_rules r
  where s.id and r.rule = 'monitor_silent' and r.enabled
    and coalesce(s.heartbeat_at, '-infinity') < now() - make_interval(mins => r.window_minutes);

  insert into pg_temp.alert_conditions
  select 'payment_failures', 'window', null, null,
         jsonb_build_object('failures', f.n, 'threshold', r.threshold, 'window_minutes', r.window_minutes)
  from public.alert_rules r,
       lateral (select count(*) as n from public.booking_attempts a
                where a.updated_at > now() - make_interval(mins => r.window_minutes)
                  and (a.reason in ('authentication_required', 'capture_failed')
                       or a.reason like 'card\_declined%')) f
  where r.rule = 'payment_failures' and r.enabled and f.n > r.threshold;

  insert into pg_temp.alert_conditions
  select 'attempt_stuck', s.attempt_id::text, s.trip_id, s.attempt_id,
         jsonb_build_object('phase', s.phase, 'idle_seconds', s.idle_seconds)
  from app.stuck_attempts() s, public.alert_rules r
  where r.rule = 'attempt_stuck' and r.enabled;

  insert into pg_temp.alert_conditions
  select 'order_outcome_unknown', a.id::text, a.trip_id, a.id,
         jsonb_build_object('phase', a.phase, 'order_known', a.order_id is not null)
  from public.booking_attempts a, public.alert_rules r
  where r.rule = 'order_outcome_unknown' and r.enabled
    and a.open and a.reason = 'order_outcome_unknown';

  insert into pg_temp.alert_conditions
  select 'outbox_dead_letters', 'notifications', null, null,
         jsonb_build_object('dead', d.n, 'window_minutes', r.window_minutes)
  from public.alert_rules r,
       lateral (select count(*) as n from public.notifications n
                where n.status = 'dead'
                  and n.updated_at > now() - make_interval(mins => r.window_minutes)) d
  where r.rule = 'outbox_dead_letters' and r.enabled and d.n > r.threshold;

  -- Finding 4: an erasure still running a day after it was asked for (waiting on an attempt
  -- an operator must resolve, a provider down for long), and one whose customer Stripe refused
  -- to delete (an operator deletes it by hand). Keyed by the erasure id; no personal data.
  insert into pg_temp.alert_conditions
  select 'erasure_stalled', e.id::text, null, null,
         jsonb_build_object('erasure_id', e.id, 'step', e.step,
           'age_hours', (extract(epoch from now() - e.created_at) / 3600)::bigint)
  from public.erasure_requests e, public.alert_rules r
  where r.rule = 'erasure_stalled' and r.enabled and e.step <> 'done'
    and e.created_at < now() - make_interval(mins => r.window_minutes);

  insert into pg_temp.alert_conditions
  select 'erasure_stripe_refused', e.id::text, null, null,
         jsonb_build_object('erasure_id', e.id, 'status', e.stripe_refused_status)
  from public.erasure_requests e, public.alert_rules r
  where r.rule = 'erasure_stripe_refused' and r.enabled and e.step = 'stripe'
    and e.stripe_refused_at is not null;

  -- New incidents: one open alert per (rule, incident_key).
  insert into public.operator_alerts (source, rule, reason, incident_key, trip_id, attempt_id, detail)
  select 'alert_rules', c.rule, c.rule, c.incident_key, c.trip_id, c.attempt_id, c.detail
  from pg_temp.alert_conditions c
  where not exists (
    select 1 from public.operator_alerts a
    where a.source = 'alert_rules' and a.resolved_at is null
      and a.rule = c.rule and a.incident_key = c.incident_key)
  on conflict do nothing;
  get diagnostics v_fired = row_count;

  -- Cleared incidents resolve.
  update public.operator_alerts a set resolved_at = now()
  where a.source = 'alert_rules' and a.resolved_at is null
    and not exists (select 1 from pg_temp.alert_conditions c
                    where c.rule = a.rule and c.incident_key = a.incident_key);
  get diagnostics v_resolved = row_count;

  -- Queue the messages (every source): fire once per alert, resolve once when it is resolved.
  for v_alert in
    select a.* from public.operator_alerts a
    where a.notified_at is null or (a.resolved_at is not null and a.resolve_notified_at is null)
    order by a.id
    for update of a
  loop
    if v_alert.notified_at is null then
      insert into public.operator_alert_deliveries (alert_id, kind, payload)
      values (v_alert.id, 'fire', app.operator_alert_message(v_alert, 'fire'))
      on conflict (alert_id, kind) do nothing;
      get diagnostics v_n = row_count;
      v_queued := v_queued + v_n;
    end if;
    if v_alert.resolved_at is not null then
      insert into public.operator_alert_deliveries (alert_id, kind, payload)
      values (v_alert.id, 'resolve', app.operator_alert_message(v_alert, 'resolve'))
      on conflict (alert_id, kind) do nothing;
      get diagnostics v_n = row_count;
      v_queued := v_queued + v_n;
    end if;
    update public.operator_alerts a set
      notified_at = coalesce(a.notified_at, now()),
      resolve_notified_at = case when a.resolved_at is not null then coalesce(a.resolve_notified_at, now()) end
    where a.id = v_alert.id;
  end loop;

  -- Answers pg_net has for messages sent earlier.
  for v_row in
    select d.* from public.operator_alert_deliveries d
    where d.status = 'sending' order by d.id for update of d
  loop
    select r.status_code into v_resp from net._http_response r where r.id = v_row.request_id;
    if not found and v_row.updated_at > now() - interval '10 minutes' then
      continue;
    end if;
    v_ok := found and v_resp.status_code between 200 and 299;
    if v_ok then
      update public.operator_alert_deliveries d set status = 'sent', last_status = v_resp.status_code,
        updated_at = now() where d.id = v_row.id;
      v_sent := v_sent + 1;
    elsif v_row.attempts >= 8 then
      update public.operator_alert_deliveries d set status = 'dead', request_id = null,
        last_status = case when found then v_resp.status_code end, updated_at = now()
      where d.id = v_row.id;
      v_dead := v_dead + 1;
    else
      update public.operator_alert_deliveries d set status = 'pending', request_id = null,
        last_status = case when found then v_resp.status_code end,
        next_attempt_at = now() + make_interval(mins => least(60, (2 ^ (v_row.attempts - 1))::integer)),
        updated_at = now()
      where d.id = v_row.id;
      v_retried := v_retried + 1;
    end if;
  end loop;

  -- Send what is due (pg_net sends after this transaction commits). A failing pg_net (not
  -- installed, its queue refusing) leaves the messages pending and keeps the rules' work.
  begin
    select s.decrypted_secret into v_url from vault.decrypted_secrets s where s.name = 'operator_webhook_url';
    if v_url is not null and v_url ~ '^https?://' then
      for v_row in
        select d.* from public.operator_alert_deliveries d
        where d.status = 'pending' and d.next_attempt_at <= now()
        order by d.next_attempt_at, d.id limit 20
        for update of d skip locked
      loop
        update public.operator_alert_deliveries d set
          status = 'sending',
          attempts = d.attempts + 1,
          request_id = net.http_post(
            url := v_url,
            body := v_row.payload,
            headers := jsonb_build_object('Content-Type', 'application/json'),
            timeout_milliseconds := 10000
          ),
          updated_at = now()
        where d.id = v_row.id;
        v_dispatched := v_dispatched + 1;
      end loop;
    end if;
  exception
    when others then
      raise warning 'operator alert delivery failed: %', sqlstate;
      v_dispatched := 0;
  end;

  return jsonb_build_object('fired', v_fired, 'resolved', v_resolved, 'queued', v_queued,
    'sent', v_sent, 'retried', v_retried, 'dead', v_dead, 'dispatched', v_dispatched);
end
$$;

revoke all on function app.alerts_evaluate(jsonb) from public, anon, authenticated;
grant execute on function app.alerts_evaluate(jsonb) to service_role;
