-- The ops dashboard's SQL API and the pipeline metrics (issue 9, items 4 and 5).
--
-- Operators are signed-in users whose JWT `app_metadata` grants the operator role:
-- `app_metadata.role = "operator"` or `app_metadata.roles` containing "operator". app_metadata is
-- written only with the service key (Supabase Auth's admin API), never by the user, so the claim
-- can be trusted once the JWT is verified. Every function here is called AS THE CALLER
-- (role `authenticated`, claims set, like PostgREST), checks the claim itself and refuses
-- everybody else with SQLSTATE 42501 and the message `operator_required` (the ops function checks
-- first too; this is the database's own guard, so a future caller cannot skip it).
--
-- Metrics (no personal data: ids, codes, counts, amounts in minor units, durations):
--   app.metrics_bookings        one row per booking: time from the request to the booking and
--                               the amount below the traveller's maximum (same currency only).
--   app.metrics_monitor_hourly  monitor runs per hour: runs, claimed, booked, failed, duration,
--                               provider calls and 429s (from monitor_runs.summary; kept 7 days).
--   app.pipeline_metrics({"hours"})  the dashboard's figures over the last N hours (1..168):
--                               attempts started, booked, failed by reason, time to booking
--                               (p50/p90/max seconds), amount below the maximum per currency,
--                               provider calls and 429s per service. Service role or operator.
-- Dashboard:
--   app.ops_overview({"stuck_minutes"?})     everything the page shows, in one JSON document.
--   app.ops_set_monitor({"enabled","reason"}) pause / resume (pipeline_settings.monitor_enabled),
--                               recorded in public.operator_actions in the same transaction.
--   app.ops_set_flag({"name","rollout_bp"?,"enabled"?,"reason"})  through app.set_feature_flag
--                               (audited in feature_flag_audit, actor = the operator's user id).
-- Errors: 42501 operator_required, 22023 bad arguments, P0002 unknown flag.

-- ------------------------------------------------------------------------------------------------
-- Who is an operator
-- ------------------------------------------------------------------------------------------------
create function app.is_operator()
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (select
       (c ->> 'role') = 'authenticated'
       and (c ->> 'sub') ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       and (
         (c -> 'app_metadata' ->> 'role') = 'operator'
         or (jsonb_typeof(c -> 'app_metadata' -> 'roles') = 'array'
             and (c -> 'app_metadata' -> 'roles') ? 'operator')
       )
     from (select auth.jwt() as c) j),
    false)
$$;

comment on function app.is_operator() is
  'True when the caller''s JWT app_metadata grants the operator role (role = operator, or roles contains operator).';

revoke all on function app.is_operator() from public, anon;
grant execute on function app.is_operator() to authenticated, service_role;

create function app.require_operator()
returns uuid
language plpgsql
stable
set search_path = ''
as $$
begin
  if not app.is_operator() then
    raise exception using errcode = '42501', message = 'operator_required';
  end if;
  return (auth.jwt() ->> 'sub')::uuid;
end
$$;

revoke all on function app.require_operator() from public, anon;
grant execute on function app.require_operator() to authenticated;

-- ------------------------------------------------------------------------------------------------
-- operator_actions: what operators did from the dashboard (besides flags, which have their audit)
-- ------------------------------------------------------------------------------------------------
create table public.operator_actions (
  id bigint generated always as identity primary key,
  actor uuid not null,
  action text not null,
  reason text not null,
  detail jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),

  constraint operator_actions_action_format check (action ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint operator_actions_reason_bounded check (char_length(reason) between 1 and 500),
  constraint operator_actions_detail_object check (jsonb_typeof(detail) = 'object'),
  constraint operator_actions_detail_bounded check (octet_length(detail::text) <= 4096)
);

comment on table public.operator_actions is
  'Operator actions taken from the ops dashboard (pause/resume the monitor): who, what, why, when. Written by app.ops_* only.';

create index operator_actions_created_idx on public.operator_actions (created_at desc);

alter table public.operator_actions enable row level security;
revoke all on table public.operator_actions from public, anon, authenticated, service_role;
grant select on table public.operator_actions to service_role;

-- Indexes for the dashboard's windows (scripts/bench-ops.sql; docs/benchmarks.md): the latest
-- decisions across all trips, booking failures by time, bookings and attempts by time.
-- pipeline_events_occurred_idx (occurred_at, id) already exists (20261203000402_cleanup_jobs.sql):
-- a B-tree is read backwards as well, so it serves "latest first" too.
create index if not exists pipeline_events_occurred_idx on public.pipeline_events (occurred_at desc, id desc);
create index pipeline_events_book_fail_idx on public.pipeline_events (occurred_at)
  where stage = 'book' and decision = 'fail';
create index bookings_created_idx on public.bookings (created_at);
create index booking_attempts_created_idx on public.booking_attempts (created_at);

-- ------------------------------------------------------------------------------------------------
-- Metrics views (service_role; the dashboard reads them through app.ops_overview)
-- ------------------------------------------------------------------------------------------------
create view app.metrics_bookings as
select
  b.id as booking_id,
  b.trip_id,
  b.attempt_id,
  b.created_at as booked_at,
  greatest(0, floor(extract(epoch from b.created_at - t.created_at)))::bigint as time_to_book_seconds,
  b.currency,
  t.max_total_minor,
  b.amount_minor,
  case when b.currency = t.currency then t.max_total_minor - b.amount_minor end as below_max_minor
from public.bookings b
join public.trip_requests t on t.id = b.trip_id;

comment on view app.metrics_bookings is
  'One row per booking: seconds from the trip request to the booking, and the amount below the traveller''s maximum (minor units, null if currencies differ).';

create view app.metrics_monitor_hourly as
select
  date_trunc('hour', r.started_at) as hour,
  count(*)::bigint as runs,
  coalesce(sum((r.summary ->> 'claimed')::bigint), 0)::bigint as claimed,
  coalesce(sum((r.summary -> 'outcomes' ->> 'booked')::bigint), 0)::bigint as booked,
  coalesce(sum((r.summary -> 'outcomes' ->> 'failed')::bigint), 0)::bigint as failed,
  coalesce(round(avg((r.summary ->> 'duration_ms')::numeric)), 0)::bigint as avg_duration_ms,
  coalesce(max((r.summary ->> 'duration_ms')::bigint), 0)::bigint as max_duration_ms,
  coalesce(sum(p.calls), 0)::bigint as provider_calls,
  coalesce(sum(p.rate_limited), 0)::bigint as provider_429
from public.monitor_runs r
left join lateral (
  select
    (select sum(v::text::bigint) from jsonb_each(
       case when jsonb_typeof(r.summary -> 'provider_calls') = 'object'
            then r.summary -> 'provider_calls' else '{}'::jsonb end) as e(k, v)
     where jsonb_typeof(v) = 'number') as calls,
    (select sum(v::text::bigint) from jsonb_each(
       case when jsonb_typeof(r.summary -> 'provider_429') = 'object'
            then r.summary -> 'provider_429' else '{}'::jsonb end) as e(k, v)
     where jsonb_typeof(v) = 'number') as rate_limited
) p on true
group by 1;

comment on view app.metrics_monitor_hourly is
  'Monitor runs per hour (UTC): runs, trips claimed, booked, failed, duration, provider calls and HTTP 429s. monitor_runs keeps 7 days.';

revoke all on app.metrics_bookings, app.metrics_monitor_hourly from public, anon, authenticated;
grant select on app.metrics_bookings, app.metrics_monitor_hourly to service_role;

-- A JSON object's keys, refused unless all are in `allowed` (22023).
create function app.ops_args(args jsonb, allowed text[])
returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_key text;
begin
  if args is null or jsonb_typeof(args) <> 'object' then
    raise exception using errcode = '22023', message = 'arguments must be a JSON object';
  end if;
  for v_key in select jsonb_object_keys(args) loop
    if not v_key = any (allowed) then
      raise exception using errcode = '22023', message = format('unknown field %s', left(v_key, 64));
    end if;
  end loop;
end
$$;

revoke all on function app.ops_args(jsonb, text[]) from public, anon;

-- An integer field in [lo, hi], or `dflt` when absent (22023 otherwise).
create function app.ops_int(args jsonb, field text, lo integer, hi integer, dflt integer)
returns integer
language plpgsql
immutable
set search_path = ''
as $$
begin
  if not args ? field or args -> field = 'null'::jsonb then
    return dflt;
  end if;
  if jsonb_typeof(args -> field) <> 'number' or (args ->> field) !~ '^[0-9]{1,9}$'
     or (args ->> field)::bigint not between lo and hi then
    raise exception using errcode = '22023',
      message = format('field %s must be an integer from %s to %s', field, lo, hi);
  end if;
  return (args ->> field)::integer;
end
$$;

revoke all on function app.ops_int(jsonb, text, integer, integer, integer) from public, anon;

-- ------------------------------------------------------------------------------------------------
-- pipeline_metrics {"hours"?: 1..168 (24)}
-- ------------------------------------------------------------------------------------------------
create function app.pipeline_metrics(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_hours integer;
  v_since timestamptz;
  v_out jsonb;
begin
  if coalesce(auth.jwt() ->> 'role', '') <> 'service_role' then
    perform app.require_operator();
  end if;
  perform app.ops_args(args, array['hours']);
  v_hours := app.ops_int(args, 'hours', 1, 168, 24);
  v_since := now() - make_interval(hours => v_hours);

  select jsonb_build_object(
    'hours', v_hours,
    'since', app.rfc3339(v_since),
    'attempts_started', (select count(*) from public.booking_attempts a where a.created_at >= v_since),
    'booked', (select count(*) from public.bookings b where b.created_at >= v_since),
    'failed', (select count(*) from public.pipeline_events e
               where e.stage = 'book' and e.decision = 'fail' and e.occurred_at >= v_since),
    'failed_by_reason', coalesce((
      select jsonb_agg(jsonb_build_object('reason', x.reason, 'count', x.n) order by x.n desc, x.reason)
      from (select coalesce(e.reason_code, 'unknown') as reason, count(*) as n
            from public.pipeline_events e
            where e.stage = 'book' and e.decision = 'fail' and e.occurred_at >= v_since
            group by 1) x), '[]'::jsonb),
    'time_to_booking_seconds', (
      select jsonb_build_object(
        'count', count(*),
        'p50', round(percentile_cont(0.5) within group (order by m.time_to_book_seconds))::bigint,
        'p90', round(percentile_cont(0.9) within group (order by m.time_to_book_seconds))::bigint,
        'max', max(m.time_to_book_seconds))
      from app.metrics_bookings m where m.booked_at >= v_since),
    'below_max', coalesce((
      select jsonb_agg(jsonb_build_object(
               'currency', x.currency, 'bookings', x.n, 'total_minor', x.total,
               'average_minor', x.total / x.n) order by x.currency)
      from (select m.currency, count(*) as n, sum(m.below_max_minor)::bigint as total
            from app.metrics_bookings m
            where m.booked_at >= v_since and m.below_max_minor is not null
            group by m.currency) x), '[]'::jsonb),
    'provider_calls', coalesce((
      select jsonb_object_agg(k, n) from (
        select e.k, sum(e.v::text::bigint) as n
        from public.monitor_runs r,
             jsonb_each(case when jsonb_typeof(r.summary -> 'provider_calls') = 'object'
                             then r.summary -> 'provider_calls' else '{}'::jsonb end) as e(k, v)
        where r.started_at >= v_since and jsonb_typeof(e.v) = 'number'
        group by e.k) c), '{}'::jsonb),
    'provider_429', coalesce((
      select jsonb_object_agg(k, n) from (
        select e.k, sum(e.v::text::bigint) as n
        from public.monitor_runs r,
             jsonb_each(case when jsonb_typeof(r.summary -> 'provider_429') = 'object'
                             then r.summary -> 'provider_429' else '{}'::jsonb end) as e(k, v)
        where r.started_at >= v_since and jsonb_typeof(e.v) = 'number'
        group by e.k) c), '{}'::jsonb)
  ) into v_out;
  return v_out;
end
$$;

revoke all on function app.pipeline_metrics(jsonb) from public, anon;
grant execute on function app.pipeline_metrics(jsonb) to authenticated, service_role;

-- ------------------------------------------------------------------------------------------------
-- ops_overview {"stuck_minutes"?: 1..1440 (15)}
-- ------------------------------------------------------------------------------------------------
-- Reads only columns that exist since their table's first migration (operator_alerts may gain
-- more; they are not read here). No personal data: no names, emails, detail blobs.
create function app.ops_overview(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_stuck integer;
  v_settings public.pipeline_settings;
  v_out jsonb;
begin
  perform app.require_operator();
  perform app.ops_args(args, array['stuck_minutes']);
  v_stuck := app.ops_int(args, 'stuck_minutes', 1, 1440, 15);
  select s.* into v_settings from public.pipeline_settings s where s.id;

  select jsonb_build_object(
    'generated_at', app.rfc3339(now()),
    'trips_by_status', coalesce((
      select jsonb_object_agg(x.status, x.n) from (
        select t.status, count(*) as n from public.trip_requests t group by t.status) x), '{}'::jsonb),
    'due', jsonb_build_object(
      'watching_due', (select count(*) from public.trip_requests t
                       where t.status in ('searching', 'watching') and t.next_check_at <= now()),
      'booking_due', (select count(*) from public.trip_requests t
                      where t.status = 'booking' and t.next_check_at <= now()),
      'oldest_due_at', (select app.rfc3339(min(t.next_check_at)) from public.trip_requests t
                        where t.status in ('searching', 'watching', 'booking') and t.next_check_at <= now())),
    'monitor', jsonb_build_object(
      'enabled', v_settings.monitor_enabled,
      'heartbeat_at', app.rfc3339(v_settings.heartbeat_at),
      'heartbeat_age_seconds', floor(extract(epoch from now() - v_settings.heartbeat_at))::bigint,
      'last_run', v_settings.last_run -> 'summary'),
    'recent_decisions', coalesce((
      select jsonb_agg(jsonb_build_object(
               'occurred_at', app.rfc3339(e.occurred_at), 'trip_id', e.trip_id, 'stage', e.stage,
               'decision', e.decision, 'reason_code', e.reason_code) order by e.occurred_at desc, e.id desc)
      from (select * from public.pipeline_events order by occurred_at desc, id desc limit 25) e), '[]'::jsonb),
    'attempts_by_phase', coalesce((
      select jsonb_agg(jsonb_build_object('phase', x.phase, 'count', x.n, 'held', x.held) order by x.phase)
      from (
        select a.phase, count(*) as n,
               coalesce((select jsonb_object_agg(h.currency, h.minor) from (
                  select a2.currency, sum(a2.amount_minor) as minor
                  from public.booking_attempts a2
                  where a2.open and a2.phase = a.phase and a2.payment_intent is not null
                    and a2.amount_minor is not null and a2.phase <> 'finish'
                  group by a2.currency) h), '{}'::jsonb) as held
        from public.booking_attempts a where a.open group by a.phase) x), '[]'::jsonb),
    'money_held', coalesce((
      select jsonb_object_agg(h.currency, h.minor) from (
        select a.currency, sum(a.amount_minor) as minor from public.booking_attempts a
        where a.open and a.payment_intent is not null and a.amount_minor is not null
          and a.phase <> 'finish'
        group by a.currency) h), '{}'::jsonb),
    'stuck_attempts', coalesce((
      select jsonb_agg(jsonb_build_object(
               'attempt_id', a.id, 'trip_id', a.trip_id, 'phase', a.phase,
               'amount_minor', a.amount_minor, 'currency', a.currency,
               'updated_at', app.rfc3339(a.updated_at),
               'minutes', floor(extract(epoch from now() - a.updated_at) / 60)::bigint)
             order by a.updated_at)
      from (select * from public.booking_attempts a0
            where a0.open and a0.updated_at < now() - make_interval(mins => v_stuck)
            order by a0.updated_at limit 50) a), '[]'::jsonb),
    'stuck_minutes', v_stuck,
    'open_alerts', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', o.id, 'created_at', app.rfc3339(o.created_at), 'reason', o.reason,
               'trip_id', o.trip_id, 'attempt_id', o.attempt_id, 'sqlstate', o.sqlstate)
             order by o.created_at desc, o.id desc)
      from (select * from public.operator_alerts o0 where o0.resolved_at is null
            order by o0.created_at desc, o0.id desc limit 50) o), '[]'::jsonb),
    'open_alerts_total', (select count(*) from public.operator_alerts o where o.resolved_at is null),
    'outbox', jsonb_build_object(
      'by_status', coalesce((
        select jsonb_object_agg(x.status, x.n) from (
          select n.status, count(*) as n from public.notifications n group by n.status) x), '{}'::jsonb),
      'due', (select count(*) from public.notifications n
              where n.status in ('pending', 'sending') and n.next_attempt_at <= now()),
      'oldest_due_at', (select app.rfc3339(min(n.next_attempt_at)) from public.notifications n
                        where n.status in ('pending', 'sending') and n.next_attempt_at <= now())),
    'flags', coalesce((
      select jsonb_agg(jsonb_build_object(
               'name', f.name, 'description', f.description, 'enabled', f.enabled,
               'rollout_bp', f.rollout_bp, 'lifetime', f.lifetime,
               'allow_count', cardinality(f.allow_users), 'deny_count', cardinality(f.deny_users),
               'updated_by', f.updated_by, 'updated_at', app.rfc3339(f.updated_at)) order by f.name)
      from public.feature_flags f), '[]'::jsonb),
    'runs_24h', coalesce((
      select jsonb_agg(jsonb_build_object(
               'hour', app.rfc3339(h.hour), 'runs', h.runs, 'claimed', h.claimed, 'booked', h.booked,
               'failed', h.failed, 'avg_duration_ms', h.avg_duration_ms,
               'max_duration_ms', h.max_duration_ms) order by h.hour)
      from app.metrics_monitor_hourly h
      where h.hour > date_trunc('hour', now()) - interval '24 hours'), '[]'::jsonb),
    'metrics', app.pipeline_metrics('{"hours": 24}'::jsonb)
  ) into v_out;
  return v_out;
end
$$;

revoke all on function app.ops_overview(jsonb) from public, anon;
-- service_role too (the SQL API's rule for `user` functions); it is refused inside (not an operator).
grant execute on function app.ops_overview(jsonb) to authenticated, service_role;

-- A reason: a non-empty string of at most 500 characters (22023 otherwise).
create function app.ops_reason(args jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if jsonb_typeof(args -> 'reason') is distinct from 'string'
     or char_length(btrim(args ->> 'reason')) = 0 or char_length(args ->> 'reason') > 500 then
    raise exception using errcode = '22023',
      message = 'field reason must be a non-empty string of at most 500 characters';
  end if;
  return args ->> 'reason';
end
$$;

revoke all on function app.ops_reason(jsonb) from public, anon;

-- ------------------------------------------------------------------------------------------------
-- ops_set_monitor {"enabled": bool, "reason"} -> {"monitor_enabled", "changed"}
-- ------------------------------------------------------------------------------------------------
-- Pausing has the meaning of docs/operations.md "Pausing the monitor": nothing new starts,
-- attempts already holding money still finish.
create function app.ops_set_monitor(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_actor uuid;
  v_reason text;
  v_enabled boolean;
  v_before boolean;
begin
  v_actor := app.require_operator();
  perform app.ops_args(args, array['enabled', 'reason']);
  if jsonb_typeof(args -> 'enabled') is distinct from 'boolean' then
    raise exception using errcode = '22023', message = 'field enabled must be a boolean';
  end if;
  v_enabled := (args ->> 'enabled')::boolean;
  v_reason := app.ops_reason(args);

  select s.monitor_enabled into v_before from public.pipeline_settings s where s.id for update;
  update public.pipeline_settings s set monitor_enabled = v_enabled where s.id;
  insert into public.operator_actions (actor, action, reason, detail)
  values (v_actor, case when v_enabled then 'monitor_resume' else 'monitor_pause' end, v_reason,
          jsonb_build_object('before', v_before, 'after', v_enabled));
  return jsonb_build_object('monitor_enabled', v_enabled, 'changed', v_before is distinct from v_enabled);
end
$$;

revoke all on function app.ops_set_monitor(jsonb) from public, anon;
-- service_role too (the SQL API's rule for `user` functions); it is refused inside (not an operator).
grant execute on function app.ops_set_monitor(jsonb) to authenticated, service_role;

-- ------------------------------------------------------------------------------------------------
-- ops_set_flag {"name", "rollout_bp"?, "enabled"?, "reason"} -> the flag row as JSON
-- ------------------------------------------------------------------------------------------------
create function app.ops_set_flag(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_actor uuid;
  v_call jsonb;
begin
  v_actor := app.require_operator();
  perform app.ops_args(args, array['name', 'rollout_bp', 'enabled', 'reason']);
  if jsonb_typeof(args -> 'name') is distinct from 'string' then
    raise exception using errcode = '22023', message = 'field name must be a string';
  end if;
  if not (args ? 'rollout_bp' or args ? 'enabled') then
    raise exception using errcode = '22023', message = 'give rollout_bp or enabled';
  end if;
  perform app.ops_reason(args);
  v_call := jsonb_build_object('name', args -> 'name', 'reason', args -> 'reason',
                               'actor', v_actor::text);
  if args ? 'rollout_bp' then v_call := v_call || jsonb_build_object('rollout_bp', args -> 'rollout_bp'); end if;
  if args ? 'enabled' then v_call := v_call || jsonb_build_object('enabled', args -> 'enabled'); end if;
  return app.set_feature_flag(v_call);
end
$$;

revoke all on function app.ops_set_flag(jsonb) from public, anon;
-- service_role too (the SQL API's rule for `user` functions); it is refused inside (not an operator).
grant execute on function app.ops_set_flag(jsonb) to authenticated, service_role;
