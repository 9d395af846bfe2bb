-- Feature flags (issue 9, item 1): the schema and the audited operator write. Evaluation (the
-- deterministic bucketing shared by Rust and SQL) and the gates come with the flags migration
-- that follows; this one fixes the shape both the monitor and the ops dashboard build on.
--
-- feature_flags: one row per flag.
--   enabled      false = off for everybody (the allow list included).
--   rollout_bp   share of users in, in basis points (0..10000), by the shared bucketing hash.
--   allow_users  always in while enabled (internal users first); deny_users always out.
--   lifetime     'temporary' (a rollout to remove when done) or 'permanent' (a kill switch, an
--                operational switch).
--   updated_by   who changed it last (an operator's user id, or 'migration'); updated_at when.
-- Seeded: `auto_booking` (on at 100 %, as the pipeline behaved before flags existed) and
-- `auto_booking_kill_switch` (permanent; enabled = every rollout of auto-booking is overridden
-- off at once, attempts already holding money still finish).
--
-- feature_flag_audit: every change, before and after, who, when and why. Written only by
-- app.set_feature_flag, in the same transaction as the change.
--
-- app.set_feature_flag(args jsonb) -> the flag row as JSON
--   args: {"name", "actor", "reason", and any of "enabled", "rollout_bp", "allow_users",
--   "deny_users", "description", "lifetime"}. Unknown flag: P0002. Bad arguments: 22023.
--   Service role only (the ops function checks the operator first and passes their id as actor).
-- No personal data in either table: flag names, user ids, codes and times.

create table public.feature_flags (
  name text primary key,
  description text not null default '',
  enabled boolean not null default false,
  rollout_bp integer not null default 0,
  allow_users uuid[] not null default '{}',
  deny_users uuid[] not null default '{}',
  lifetime text not null default 'temporary',
  updated_by text not null default 'migration',
  updated_at timestamptz not null default now(),

  constraint feature_flags_name_format check (name ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint feature_flags_rollout_range check (rollout_bp between 0 and 10000),
  constraint feature_flags_lifetime_known check (lifetime in ('temporary', 'permanent')),
  constraint feature_flags_description_bounded check (char_length(description) <= 500),
  constraint feature_flags_lists_bounded check (
    cardinality(allow_users) <= 1000 and cardinality(deny_users) <= 1000
  ),
  constraint feature_flags_actor_format check (updated_by ~ '^[A-Za-z0-9_:.-]{1,100}$')
);

comment on table public.feature_flags is
  'Feature flags with progressive rollout (basis points), allow and deny lists. Service only; changes through app.set_feature_flag.';

create table public.feature_flag_audit (
  id bigint generated always as identity primary key,
  flag text not null references public.feature_flags (name) on delete cascade,
  changed_by text not null,
  changed_at timestamptz not null default now(),
  reason text not null,
  before jsonb not null,
  after jsonb not null,

  constraint feature_flag_audit_reason_bounded check (char_length(reason) between 1 and 500),
  constraint feature_flag_audit_actor_format check (changed_by ~ '^[A-Za-z0-9_:.-]{1,100}$')
);

comment on table public.feature_flag_audit is
  'Every change to a feature flag: who, when, why, before and after. Written by app.set_feature_flag only.';

create index feature_flag_audit_flag_idx on public.feature_flag_audit (flag, changed_at desc);

alter table public.feature_flags enable row level security;
alter table public.feature_flag_audit enable row level security;
revoke all on table public.feature_flags from public, anon, authenticated, service_role;
revoke all on table public.feature_flag_audit from public, anon, authenticated, service_role;
grant select on table public.feature_flags to service_role;
grant select on table public.feature_flag_audit to service_role;

insert into public.feature_flags (name, description, enabled, rollout_bp, lifetime)
values
  ('auto_booking', 'Creating or enabling auto-book, and beginning a booking attempt.', true, 10000, 'temporary'),
  ('auto_booking_kill_switch', 'On: no new auto-book and no new attempt for anybody; held money still settles.', false, 0, 'permanent');

create function app.set_feature_flag(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_name text;
  v_actor text;
  v_reason text;
  v_before public.feature_flags;
  v_after public.feature_flags;
  v_key text;
begin
  if args is null or jsonb_typeof(args) <> 'object' then
    raise exception using errcode = '22023', message = 'arguments must be a JSON object';
  end if;
  for v_key in select jsonb_object_keys(args) loop
    if v_key not in ('name', 'actor', 'reason', 'enabled', 'rollout_bp', 'allow_users', 'deny_users',
                     'description', 'lifetime') then
      raise exception using errcode = '22023', message = format('unknown field %s', v_key);
    end if;
  end loop;
  v_name := args ->> 'name';
  v_actor := args ->> 'actor';
  v_reason := args ->> 'reason';
  if jsonb_typeof(args -> 'name') is distinct from 'string' then
    raise exception using errcode = '22023', message = 'field name must be a string';
  end if;
  if jsonb_typeof(args -> 'actor') is distinct from 'string' or v_actor !~ '^[A-Za-z0-9_:.-]{1,100}$' then
    raise exception using errcode = '22023', message = 'field actor must be an id (letters, digits, _:.-, at most 100)';
  end if;
  if jsonb_typeof(args -> 'reason') is distinct from 'string' or char_length(btrim(v_reason)) = 0
     or char_length(v_reason) > 500 then
    raise exception using errcode = '22023', message = 'field reason must be a non-empty string of at most 500 characters';
  end if;
  if args ? 'enabled' and jsonb_typeof(args -> 'enabled') <> 'boolean' then
    raise exception using errcode = '22023', message = 'field enabled must be a boolean';
  end if;
  if args ? 'rollout_bp' and (jsonb_typeof(args -> 'rollout_bp') <> 'number'
     or (args ->> 'rollout_bp') !~ '^[0-9]{1,5}$' or (args ->> 'rollout_bp')::int > 10000) then
    raise exception using errcode = '22023', message = 'field rollout_bp must be an integer from 0 to 10000';
  end if;
  if args ? 'allow_users' and jsonb_typeof(args -> 'allow_users') <> 'array' then
    raise exception using errcode = '22023', message = 'field allow_users must be an array of user ids';
  end if;
  if args ? 'deny_users' and jsonb_typeof(args -> 'deny_users') <> 'array' then
    raise exception using errcode = '22023', message = 'field deny_users must be an array of user ids';
  end if;
  if args ? 'description' and jsonb_typeof(args -> 'description') <> 'string' then
    raise exception using errcode = '22023', message = 'field description must be a string';
  end if;
  if args ? 'lifetime' and (args ->> 'lifetime') is distinct from 'temporary'
     and (args ->> 'lifetime') is distinct from 'permanent' then
    raise exception using errcode = '22023', message = 'field lifetime must be temporary or permanent';
  end if;

  select f.* into v_before from public.feature_flags f where f.name = v_name for update;
  if v_before.name is null then
    raise exception using errcode = 'P0002', message = format('unknown flag %s', v_name);
  end if;

  begin
    update public.feature_flags f set
      enabled = coalesce((args ->> 'enabled')::boolean, f.enabled),
      rollout_bp = coalesce((args ->> 'rollout_bp')::int, f.rollout_bp),
      allow_users = case when args ? 'allow_users'
        then array(select distinct x::uuid from jsonb_array_elements_text(args -> 'allow_users') x order by 1)
        else f.allow_users end,
      deny_users = case when args ? 'deny_users'
        then array(select distinct x::uuid from jsonb_array_elements_text(args -> 'deny_users') x order by 1)
        else f.deny_users end,
      description = coalesce(args ->> 'description', f.description),
      lifetime = coalesce(args ->> 'lifetime', f.lifetime),
      updated_by = v_actor,
      updated_at = now()
    where f.name = v_name
    returning f.* into v_after;
  exception
    when invalid_text_representation then
      raise exception using errcode = '22023', message = 'user ids must be UUIDs';
    when check_violation then
      raise exception using errcode = '22023', message = 'flag values out of range (lists at most 1000 ids, description at most 500 characters)';
  end;

  insert into public.feature_flag_audit (flag, changed_by, reason, before, after)
  values (v_name, v_actor, v_reason, to_jsonb(v_before), to_jsonb(v_after));

  return to_jsonb(v_after);
end;
$$;

revoke all on function app.set_feature_flag(jsonb) from public, anon, authenticated;
grant execute on function app.set_feature_flag(jsonb) to service_role;
