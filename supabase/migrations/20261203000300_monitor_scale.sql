-- The monitor at scale (issue 10 items 4 and 5).
--
-- 1. Settings for 10,000+ watched trips: one run may claim up to 10,000 trips (was 1,000), the
--    defaults claim 1,000 per run with 64 trips in flight, and the scheduled tick fans out to up
--    to `fanout_max` concurrent runs when the due backlog exceeds one batch. Two shared provider
--    rate limits (calls per second across every function instance, enforced by a token bucket
--    in Redis through Upstash REST; see supabase/functions/_shared/provider_limit.ts).
-- 2. app.pipeline_settings_json and app.monitor_claim are REPLACED (create or replace): the
--    settings JSON carries the new columns; the claim accepts limits up to 10,000. Nothing else
--    in the claim changes.
-- 3. app.monitor_batch: several of the monitor's per-trip writes in ONE transaction (group
--    commit), each in its own savepoint, so one failing item fails alone. Only the writes that
--    end a waiting turn are allowed (reschedule, expire, record a search or its failure); money
--    steps (begin, save attempt) stay one call per transaction.
-- 4. app.monitor_fanout: how many monitor invocations this tick starts; the cron job's command
--    posts once per invocation (same request as before, from generate_series).

-- ---------------------------------------------------------------------------------------------
-- 1. Settings
-- ---------------------------------------------------------------------------------------------
alter table public.pipeline_settings
  drop constraint pipeline_settings_batch_size_range,
  drop constraint pipeline_settings_concurrency_range,
  add column fanout_max integer not null default 4,
  add column duffel_calls_per_second integer not null default 40,
  add column stripe_calls_per_second integer not null default 20;

alter table public.pipeline_settings
  add constraint pipeline_settings_batch_size_range check (batch_size between 1 and 10000),
  add constraint pipeline_settings_concurrency_range check (concurrency between 1 and 512),
  add constraint pipeline_settings_fanout_max_range check (fanout_max between 1 and 32),
  add constraint pipeline_settings_duffel_rate_range check (duffel_calls_per_second between 1 and 10000),
  add constraint pipeline_settings_stripe_rate_range check (stripe_calls_per_second between 1 and 10000);

alter table public.pipeline_settings
  alter column batch_size set default 1000,
  alter column provider_call_budget set default 1100,
  alter column concurrency set default 64;

-- The shipped row still holds the old defaults (25 / 100 / 4): move it to the new ones. A row an
-- operator changed keeps its values.
update public.pipeline_settings s
set batch_size = 1000, provider_call_budget = 1100, concurrency = 64
where s.id and s.batch_size = 25 and s.provider_call_budget = 100 and s.concurrency = 4;

comment on column public.pipeline_settings.fanout_max is
  'Most monitor invocations one scheduled tick starts when the due backlog exceeds one batch.';
comment on column public.pipeline_settings.duffel_calls_per_second is
  'Shared Duffel call rate across all function instances (token bucket in Redis).';
comment on column public.pipeline_settings.stripe_calls_per_second is
  'Shared Stripe call rate across all function instances (token bucket in Redis).';

-- REPLACED: the settings as monitor_claim returns them, with the new columns.
create or replace function app.pipeline_settings_json(s public.pipeline_settings)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'monitor_enabled', s.monitor_enabled,
    'batch_size', s.batch_size,
    'provider_call_budget', s.provider_call_budget,
    'concurrency', s.concurrency,
    'lock_lease_ms', s.lock_lease_ms,
    'claim_lease_seconds', s.claim_lease_seconds,
    'fanout_max', s.fanout_max,
    'duffel_calls_per_second', s.duffel_calls_per_second,
    'stripe_calls_per_second', s.stripe_calls_per_second
  )
$$;

-- ---------------------------------------------------------------------------------------------
-- 2. monitor_claim (REPLACED: limit up to 10,000; otherwise as 20261124000100)
-- ---------------------------------------------------------------------------------------------
create or replace function app.monitor_claim(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_settings public.pipeline_settings;
  v_limit integer;
  v_lease integer;
  v_trip_id uuid;
  v_enabled boolean;
  v_ids uuid[] := '{}';
  v_trips jsonb;
  v_due_left bigint;
begin
  perform app.monitor_args(args, array['limit', 'lease_seconds', 'trip_id']);
  select s.* into v_settings from public.pipeline_settings s where s.id;
  if v_settings.id is null then
    raise exception using errcode = '55000', message = 'pipeline_settings has no row';
  end if;
  v_enabled := v_settings.monitor_enabled;
  v_limit := app.arg_int(args, 'limit', 0, 10000, v_settings.batch_size);
  v_lease := app.arg_int(args, 'lease_seconds', 0, 86400, v_settings.claim_lease_seconds);
  v_trip_id := app.arg_uuid(args, 'trip_id', false);
  if v_limit > 0 and v_lease < 1 then
    raise exception using errcode = '22023', message = 'field lease_seconds must be at least 1 when claiming';
  end if;

  if v_limit > 0 then
    if v_trip_id is null then
      select coalesce(array_agg(c.id order by c.next_check_at, c.id), '{}') into v_ids
      from (
        select t.id, t.next_check_at
        from public.trip_requests t
        where t.status in ('searching', 'watching', 'booking')
          and t.next_check_at <= now()
          and (
            v_enabled
            or (t.status = 'booking'
              and exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open))
          )
        order by t.next_check_at, t.id
        limit v_limit
        for update of t skip locked
      ) as c;
    else
      select coalesce(array_agg(c.id), '{}') into v_ids
      from (
        select t.id
        from public.trip_requests t
        where t.id = v_trip_id
          and t.status in ('searching', 'watching', 'booking')
          and (
            v_enabled
            or (t.status = 'booking'
              and exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open))
          )
        for update of t skip locked
      ) as c;
    end if;

    if cardinality(v_ids) > 0 then
      update public.trip_requests t
      set next_check_at = now() + make_interval(secs => v_lease)
      where t.id = any (v_ids);
    end if;
  end if;

  select coalesce(jsonb_agg(app.monitor_claim_json(t) order by array_position(v_ids, t.id)), '[]'::jsonb)
  into v_trips
  from public.trip_requests t
  where t.id = any (v_ids);

  select count(*) into v_due_left
  from public.trip_requests t
  where t.status in ('searching', 'watching', 'booking')
    and t.next_check_at <= now()
    and (
      v_enabled
      or (t.status = 'booking'
        and exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open))
    );

  return jsonb_build_object(
    'enabled', v_enabled,
    'settings', app.pipeline_settings_json(v_settings),
    'due_left', v_due_left,
    'trips', v_trips
  );
end
$$;

-- ---------------------------------------------------------------------------------------------
-- 3. monitor_batch {"calls": [{"function": name, "args": {...}}, ...]}
--      -> {"results": [{"ok": true, "result": <jsonb>} | {"ok": false, "sqlstate": "P0002"}, ...]}
-- ---------------------------------------------------------------------------------------------
-- The executor's group commit: the per-trip writes several drivers asked for at about the same
-- time, in one transaction, in the order given (the executor sorts by trip id so two batches
-- lock rows in the same order). Each call runs in its own savepoint: a call that raises is
-- rolled back alone and answered with its SQLSTATE; the others commit. A driver hears its
-- answer only after the commit, exactly as with a call of its own (persist, then act).
-- 1 to 1000 calls; names outside the list below: 22023 for the whole batch.
create function app.monitor_batch(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_call jsonb;
  v_fn text;
  v_out jsonb;
  v_results jsonb[] := '{}';
  v_state text;
begin
  perform app.monitor_args(args, array['calls']);
  if jsonb_typeof(args -> 'calls') is distinct from 'array'
    or jsonb_array_length(args -> 'calls') not between 1 and 1000 then
    raise exception using errcode = '22023', message = 'field calls must be an array of 1 to 1000 calls';
  end if;
  for v_call in select c from jsonb_array_elements(args -> 'calls') as e(c) loop
    perform app.monitor_args(v_call, array['function', 'args']);
    v_fn := v_call ->> 'function';
    if v_fn is null or v_fn not in (
      'monitor_reschedule', 'monitor_expire', 'monitor_record_search', 'monitor_record_search_failure'
    ) then
      raise exception using errcode = '22023', message = format('function %s cannot be batched', left(coalesce(v_fn, 'null'), 64));
    end if;
  end loop;

  for v_call in select c from jsonb_array_elements(args -> 'calls') as e(c) loop
    v_fn := v_call ->> 'function';
    begin
      v_out := case v_fn
        when 'monitor_reschedule' then app.monitor_reschedule(v_call -> 'args')
        when 'monitor_expire' then app.monitor_expire(v_call -> 'args')
        when 'monitor_record_search' then app.monitor_record_search(v_call -> 'args')
        when 'monitor_record_search_failure' then app.monitor_record_search_failure(v_call -> 'args')
      end;
      v_results := v_results || jsonb_build_object('ok', true, 'result', v_out);
    exception
      when others then
        get stacked diagnostics v_state = returned_sqlstate;
        v_results := v_results || jsonb_build_object('ok', false, 'sqlstate', v_state);
    end;
  end loop;
  return jsonb_build_object('results', to_jsonb(v_results));
end
$$;

revoke all on function app.monitor_batch(jsonb) from public, anon, authenticated;
grant execute on function app.monitor_batch(jsonb) to service_role;

-- ---------------------------------------------------------------------------------------------
-- 4. monitor_fanout() -> integer: invocations for this tick
-- ---------------------------------------------------------------------------------------------
-- One invocation per batch of due trips, at least 1 (the heartbeat, and open attempts while the
-- kill switch is off), at most fanout_max. The count stops at fanout_max batches, so it costs
-- at most that many index entries however large the backlog. Each invocation claims disjoint
-- trips (monitor_claim's FOR UPDATE SKIP LOCKED, and the lease moves claimed trips out of due).
create function app.monitor_fanout()
returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_settings public.pipeline_settings;
  v_due bigint;
begin
  select s.* into v_settings from public.pipeline_settings s where s.id;
  if v_settings.id is null or not v_settings.monitor_enabled then
    return 1;
  end if;
  select count(*) into v_due
  from (
    select 1
    from public.trip_requests t
    where t.status in ('searching', 'watching', 'booking')
      and t.next_check_at <= now()
    limit v_settings.fanout_max::bigint * v_settings.batch_size
  ) as d;
  return least(
    v_settings.fanout_max,
    greatest(1, ceil(v_due::numeric / v_settings.batch_size)::integer)
  );
end
$$;

revoke all on function app.monitor_fanout() from public, anon, authenticated;

-- The job: the same request as 20261123000700, once per invocation monitor_fanout() asks for.
do $migration$
declare
  cmd constant text := $cmd$select net.http_post(
  url := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url')
    || '/functions/v1/auto-book-monitor',
  body := '{}'::jsonb,
  headers := jsonb_build_object(
    'Content-Type', 'application/json',
    'apikey', (select decrypted_secret from vault.decrypted_secrets where name = 'monitor_key')
  ),
  timeout_milliseconds := 55000
) as request_id
from generate_series(1, app.monitor_fanout())$cmd$;
begin
  begin
    perform cron.schedule('auto-book-monitor', '30 seconds', cmd);
  exception
    when others then
      perform cron.schedule('auto-book-monitor', '* * * * *', cmd);
  end;
end
$migration$;
