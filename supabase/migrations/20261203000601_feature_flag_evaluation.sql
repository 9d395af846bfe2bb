-- Feature flags, evaluation and gates (issue 9, item 1). The schema is 20261202000500.
--
-- app.flag_bucket(flag text, user_id uuid) -> integer in 0..9999
--   The first 4 bytes of SHA-256(flag || ':' || user_id::text) (UTF-8; uuid text is canonical
--   lower case) as a big-endian unsigned 32-bit integer, modulo 10000. Identical to
--   booking_core::flags::bucket; both pass tests/vectors/flag_buckets.json (Rust:
--   flags::tests, pgTAP: supabase/tests/database/180_feature_flags.sql). A user is in a rollout
--   when bucket < rollout_bp, so raising a rollout never moves a user out.
-- app.flag_allows(flag text, user_id uuid) -> boolean
--   false for a missing or disabled flag (the allow list included); deny list out; allow list in;
--   else the bucket rule. Like booking_core::flags::Flag::allows.
-- app.auto_booking_allowed(user_id uuid) -> boolean
--   not the kill switch (auto_booking_kill_switch enabled) and flag_allows('auto_booking', user).
--   Like FlagSnapshot::auto_booking.
-- Trigger trip_requests_limits_flag_gate (BEFORE INSERT OR UPDATE OF auto_book on trip_requests;
--   named to fire after trip_requests_limits, so the anonymous rule and the cap keep their
--   answers, and before trip_requests_payment_consent: "not available" before "save a card"):
--   creating a trip with auto_book = true,
--   or turning auto_book on, while auto_booking is off for the owner raises SQLSTATE PFF01
--   (trip-search and trips answer 403 `auto_booking_unavailable`). Turning it off, pausing,
--   resuming and changing other fields are never refused; trips that already auto-book keep
--   their setting (the monitor's gate decides whether a new attempt begins).
-- app.monitor_flags(args jsonb '{}') -> {"flags":[{name, enabled, rollout_bp, allow_users,
--   deny_users}]}: the snapshot one monitor run reads once and hands to every trip driver
--   (booking_core::flags::FlagSnapshot). Service only.

create function app.flag_bucket(flag text, user_id uuid)
returns integer
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  select (('x' || pg_catalog.lpad(pg_catalog.substr(pg_catalog.encode(
    pg_catalog.sha256(pg_catalog.convert_to(flag || ':' || user_id::text, 'UTF8')), 'hex'), 1, 8),
    16, '0'))::bit(64)::bigint % 10000)::integer
$$;

revoke all on function app.flag_bucket(text, uuid) from public;
grant execute on function app.flag_bucket(text, uuid) to authenticated, service_role;

create function app.flag_allows(flag text, user_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((
    select f.enabled
      and not (user_id = any (f.deny_users))
      and (user_id = any (f.allow_users) or app.flag_bucket(f.name, user_id) < f.rollout_bp)
    from public.feature_flags f
    where f.name = flag
  ), false)
$$;

revoke all on function app.flag_allows(text, uuid) from public;
grant execute on function app.flag_allows(text, uuid) to service_role;

create function app.auto_booking_allowed(user_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select not coalesce((select f.enabled from public.feature_flags f
                       where f.name = 'auto_booking_kill_switch'), false)
    and app.flag_allows('auto_booking', user_id)
$$;

revoke all on function app.auto_booking_allowed(uuid) from public;
grant execute on function app.auto_booking_allowed(uuid) to service_role;

create function app.trip_requests_flag_gate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.auto_book
    and (tg_op = 'INSERT' or not old.auto_book)
    and not app.auto_booking_allowed(new.owner_id) then
    raise exception using
      errcode = 'PFF01',
      message = 'auto-booking is not available',
      hint = 'watch the price without auto-book; auto-booking is being rolled out gradually';
  end if;
  return new;
end
$$;

revoke all on function app.trip_requests_flag_gate() from public;

create trigger trip_requests_limits_flag_gate
before insert or update of auto_book on public.trip_requests
for each row execute function app.trip_requests_flag_gate();

create function app.monitor_flags(args jsonb)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object('flags', coalesce(jsonb_agg(jsonb_build_object(
    'name', f.name, 'enabled', f.enabled, 'rollout_bp', f.rollout_bp,
    'allow_users', to_jsonb(f.allow_users), 'deny_users', to_jsonb(f.deny_users)
  ) order by f.name), '[]'::jsonb))
  from public.feature_flags f
$$;

revoke all on function app.monitor_flags(jsonb) from public, anon, authenticated;
grant execute on function app.monitor_flags(jsonb) to service_role;
