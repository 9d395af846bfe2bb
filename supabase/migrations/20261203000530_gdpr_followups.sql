-- Erasure and export follow-ups (issue 8 items 3, 4).
--
-- * notifications.subject: the subject line of the email as sent, kept after the encrypted
--   request is cleared, for the export ("notifications: subjects, dates, delivery status").
--   Subjects carry no personal data (templates put names in the body only: booking reference,
--   route, dates, amounts). Set by a trigger when the request is stored, so notify_sending is not
--   replaced.
-- * The erasure also removes the user from feature-flag allow and deny lists and replaces their
--   id by the tombstone in the flags' audit history (REPLACED: app.erasure_scrub, the same as in
--   20261203000500 plus these two statements).

alter table public.notifications
  add column subject text,
  add constraint notifications_subject_bounded check (subject is null or char_length(subject) <= 998);

comment on column public.notifications.subject is
  'The subject line sent (no personal data), kept for the traveller''s export.';

create function app.notifications_keep_subject()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.request_enc is not null and new.request_key is not null
    and (tg_op = 'INSERT' or new.request_enc is distinct from old.request_enc) and new.subject is null then
    begin
      new.subject := left(app.data_decrypt(new.request_enc, new.request_key)::jsonb ->> 'subject', 998);
    exception when others then
      new.subject := null;
    end;
  end if;
  return new;
end
$$;

revoke all on function app.notifications_keep_subject() from public, anon, authenticated, service_role;

-- Named to run after notifications_record_key (triggers fire in name order), which sets
-- request_key.
create trigger notifications_record_subject
before insert or update of request_enc on public.notifications
for each row execute function app.notifications_keep_subject();

-- REPLACED (from 20261203000500_gdpr_erasure.sql): plus the feature-flag lists and audit.
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
  n_flags integer;
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

  update public.feature_flags f
  set allow_users = array_remove(f.allow_users, r.user_id),
      deny_users = array_remove(f.deny_users, r.user_id)
  where r.user_id = any (f.allow_users) or r.user_id = any (f.deny_users);
  get diagnostics n_flags = row_count;
  update public.feature_flag_audit a
  set before = replace(a.before::text, r.user_id::text, r.tombstone_id::text)::jsonb,
      after = replace(a.after::text, r.user_id::text, r.tombstone_id::text)::jsonb
  where a.before::text like '%' || r.user_id::text || '%' or a.after::text like '%' || r.user_id::text || '%';

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
