-- The operator alert outbox (`operator_alert_deliveries`, 20261203000603) had no cleanup: every
-- fired and resolved alert left its messages forever. New job `app.cleanup_alert_deliveries`:
-- deliveries untouched for more than `pipeline_settings.alert_deliveries_days` (default 30) that
-- are `sent`, or `dead` (after their last retry) for an alert that is resolved with its resolve
-- message gone out, are deleted, in bounded batches like every other cleanup job. Pending and
-- sending deliveries, and dead ones of an alert still open (the operator was never told: health's
-- `alert_dead` and the runbook's re-send need them), are never touched. The alerts
-- themselves (`operator_alerts`: the record of what an operator was asked to look at) are kept;
-- they hold `notified_at` / `resolve_notified_at`, so `app.alerts_evaluate` never queues a
-- deleted message again.
--
-- REPLACED (create or replace): app.cleanup_all (from 20261203000402_cleanup_jobs.sql), the same
-- with the job `alert_deliveries` appended to its list.

alter table public.pipeline_settings
  add column alert_deliveries_days integer not null default 30,
  add constraint pipeline_settings_alert_deliveries_days_range check (alert_deliveries_days between 1 and 3650);

create index operator_alert_deliveries_finished_idx on public.operator_alert_deliveries (updated_at, id)
  where status in ('sent', 'dead');

create function app.cleanup_alert_deliveries(max_rows integer default null, log boolean default true)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_started timestamptz := clock_timestamp();
  v_budget integer := app.cleanup_budget(max_rows);
  v_batch integer := app.cleanup_batch_size();
  v_days integer;
  v_n integer;
  v_total integer := 0;
begin
  select s.alert_deliveries_days into v_days from public.pipeline_settings s where s.id;
  v_days := coalesce(v_days, 30);
  loop
    exit when v_total >= v_budget;
    delete from public.operator_alert_deliveries d
    where d.id in (
      select x.id from public.operator_alert_deliveries x
      where x.status in ('sent', 'dead') and x.updated_at < now() - make_interval(days => v_days)
        -- a dead message of an alert still open is the only trace that the operator was never
        -- told (health's alert_dead, the runbook's re-send): kept until the alert is resolved
        -- and its resolve message went out
        and (x.status = 'sent' or exists (
          select 1 from public.operator_alerts a
          where a.id = x.alert_id and a.resolved_at is not null and a.resolve_notified_at is not null))
      order by x.updated_at, x.id
      limit least(v_batch, v_budget - v_total)
      for update skip locked
    );
    get diagnostics v_n = row_count;
    v_total := v_total + v_n;
    exit when v_n < least(v_batch, v_budget - v_total + v_n);
  end loop;
  return app.cleanup_finish('alert_deliveries', v_started,
    jsonb_build_object('deliveries_deleted', v_total), v_total >= v_budget, log);
end
$$;

revoke all on function app.cleanup_alert_deliveries(integer, boolean) from public, anon, authenticated;
grant execute on function app.cleanup_alert_deliveries(integer, boolean) to service_role;

-- REPLACED: plus `alert_deliveries`. Not SECURITY DEFINER and without a SET clause (COMMIT in a
-- procedure needs both absent); every name schema-qualified.
create or replace procedure app.cleanup_all()
language plpgsql
as $$
declare
  c_jobs constant text[] := array[
    'offers', 'finished_trip_offers', 'pipeline_events', 'monitor_runs', 'notifications',
    'webhook_events', 'traveler_data', 'trip_summaries', 'alert_deliveries'
  ];
  v_job text;
  v_enabled boolean;
  v_batch integer;
  v_max integer;
  v_started timestamptz;
  v_result jsonb;
  v_counts jsonb;
  v_more boolean;
  v_key text;
  i integer;
begin
  select s.cleanup_enabled, s.cleanup_batch_size, s.cleanup_max_batches
  into v_enabled, v_batch, v_max
  from public.pipeline_settings s where s.id;
  if v_enabled is distinct from true then
    return;
  end if;
  foreach v_job in array c_jobs loop
    v_started := clock_timestamp();
    v_counts := '{}'::jsonb;
    i := 0;
    loop
      i := i + 1;
      execute format('select app.%I($1, false)', 'cleanup_' || v_job) into v_result using v_batch;
      for v_key in select jsonb_object_keys(v_result -> 'counts') loop
        v_counts := v_counts || jsonb_build_object(
          v_key, coalesce((v_counts ->> v_key)::bigint, 0) + (v_result #>> array['counts', v_key])::bigint);
      end loop;
      v_more := (v_result ->> 'more')::boolean;
      commit;
      exit when not v_more or i >= v_max;
    end loop;
    perform app.cleanup_finish(v_job, v_started, v_counts, v_more, true);
    commit;
  end loop;
end
$$;
