-- A user deleted outside the erasure (the dashboard's "Delete user", GoTrue's admin API, a
-- script) no longer takes the accounting record with them, nor leaves their card at Stripe.
--
-- Before: the AFTER DELETE trigger on auth.users (app.auth_user_deleted, 20261203000500)
-- cascaded to every trip and consent of the user, so a deleted user's bookings, closed attempts,
-- disputes and decision log vanished, and with the payment profile gone nothing would ever delete
-- their Stripe customer (and the card attached to it).
--
-- Now a BEFORE DELETE trigger (it must run before the foreign keys' own cascades, which delete
-- the payment profile) runs the database part of the erasure for such a user, exactly as
-- `privacy_erase` would: an `erasure_requests` row (via `operator`, counts
-- `deleted_outside_erasure: 1`) is opened, watches cancelled (app.erasure_wait) and the scrub done
-- (app.erasure_scrub: profiles and notifications deleted, consents kept under a tombstone with
-- their text erased, trips that ever had an attempt kept under the tombstone, every other trip
-- deleted). The row is left at step `stripe` (or `redis` without a customer); the
-- `erasure-resume` job (app.erasure_resume_due: untouched for 5 minutes) resumes it through
-- privacy-operator, which deletes the Stripe customer and the Redis keys and closes the row (its
-- last step finds auth.users already gone: `auth_users_deleted: 0`).
--
-- Unchanged: a user with nothing to keep or clean (no trip that had an attempt, no consent, no
-- Stripe customer, no feature flag list or flag audit naming them) is deleted by the cascade as
-- before, with no erasure row; an OPEN attempt still
-- refuses the delete (55006 from trip_requests_keep_open_attempt, through the cascade); the
-- erasure's own last step (app.erasure_finish) deletes an already scrubbed user and this trigger
-- leaves it alone.

create function app.auth_user_deleting()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.erasure_requests;
  v_hash text := app.erasure_subject_hash(old.id);
begin
  -- The same lock as app.erasure_start: one erasure per subject at a time.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('app.erasure'), pg_catalog.hashtext(v_hash));
  select * into r from public.erasure_requests e where e.subject_hash = v_hash for update;
  if found and r.step not in ('waiting', 'scrub') then
    -- Scrubbed already (the erasure's last step is deleting this row): nothing to keep.
    return old;
  end if;
  -- An open attempt may hold money: the cascade refuses the delete (55006), as before.
  if exists (
    select 1 from public.booking_attempts a join public.trip_requests t on t.id = a.trip_id
    where t.owner_id = old.id and a.open
  ) then
    return old;
  end if;
  if not found then
    if not exists (
      select 1 from public.trip_requests t
      where t.owner_id = old.id and exists (select 1 from public.booking_attempts a where a.trip_id = t.id)
    ) and not exists (select 1 from public.consents c where c.owner_id = old.id)
      and not exists (
        select 1 from public.payment_profiles p where p.owner_id = old.id and p.stripe_customer_id is not null
      )
      -- a flag's allow or deny list naming the user (the scrub removes it, audited)
      and not exists (
        select 1 from public.feature_flags f where old.id = any (f.allow_users) or old.id = any (f.deny_users)
      )
      and not exists (
        select 1 from public.feature_flag_audit a
        where a.before::text like '%' || old.id::text || '%' or a.after::text like '%' || old.id::text || '%'
      ) then
      -- Nothing to keep and nothing outside to delete: the cascade removes it all.
      return old;
    end if;
    insert into public.erasure_requests (subject_hash, requested_via, user_id, tombstone_id, stripe_customer_id, counts)
    values (
      v_hash, 'operator', old.id, gen_random_uuid(),
      (select p.stripe_customer_id from public.payment_profiles p where p.owner_id = old.id),
      jsonb_build_object('deleted_outside_erasure', 1)
    )
    returning * into r;
  else
    update public.erasure_requests e set counts = e.counts || jsonb_build_object('deleted_outside_erasure', 1)
    where e.id = r.id
    returning * into r;
  end if;
  if r.step = 'waiting' then
    r := app.erasure_wait(r.id);
  end if;
  if r.step = 'scrub' then
    r := app.erasure_scrub(r.id);
  end if;
  if r.step not in ('stripe', 'redis') then
    -- Cannot happen after the open-attempt check above (both run under the trip locks the scrub
    -- takes); refuse rather than let the cascade delete the accounting record.
    raise exception using
      errcode = '55006',
      message = format('user %s cannot be deleted now: their erasure is at step %s', old.id, r.step),
      hint = 'retry once their booking attempts have closed';
  end if;
  return old;
end
$$;

revoke all on function app.auth_user_deleting() from public, anon, authenticated, service_role;

create trigger pipeline_owner_erase
before delete on auth.users
for each row execute function app.auth_user_deleting();

comment on function app.auth_user_deleting() is
  'BEFORE DELETE on auth.users: a user deleted outside the erasure is erased (accounting kept under a tombstone, Stripe customer queued for deletion) instead of cascaded away.';
