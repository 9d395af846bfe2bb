-- app.monitor_heartbeat pruned monitor_runs older than a fixed 7 days, whatever
-- pipeline_settings.monitor_runs_days (20261203000402_cleanup_jobs.sql) said, so a longer retention
-- never held (docs/data-retention.md named it). REPLACED from 20261123000600_monitor_api.sql with
-- the setting; grants kept (CREATE OR REPLACE).

create or replace function app.monitor_heartbeat(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_run_id text;
  v_started timestamptz;
  v_finished timestamptz;
  v_summary jsonb;
begin
  perform app.monitor_args(args, array['run_id', 'started_at', 'finished_at', 'summary']);
  if jsonb_typeof(args -> 'run_id') is distinct from 'string' then
    raise exception using errcode = '22023', message = 'field run_id must be a string';
  end if;
  v_run_id := args ->> 'run_id';
  v_started := app.arg_timestamptz(args, 'started_at');
  v_finished := app.arg_timestamptz(args, 'finished_at');
  v_summary := coalesce(nullif(args -> 'summary', 'null'::jsonb), '{}'::jsonb);

  insert into public.monitor_runs as r (run_id, started_at, finished_at, summary)
  values (v_run_id, v_started, v_finished, v_summary)
  on conflict (run_id) do update set
    started_at = excluded.started_at,
    finished_at = excluded.finished_at,
    summary = excluded.summary,
    recorded_at = now();

  update public.pipeline_settings s
  set
    heartbeat_at = now(),
    last_run = jsonb_build_object(
      'run_id', v_run_id,
      'started_at', app.rfc3339(v_started),
      'finished_at', app.rfc3339(v_finished),
      'summary', v_summary
    )
  where s.id;

  -- Runs older than monitor_runs_days (20261203000402, default 7), the setting the hourly cleanup
  -- job applies too; before, a fixed 7 days here overrode a longer setting.
  delete from public.monitor_runs r
  where r.started_at < now() - make_interval(days => coalesce(
    (select s.monitor_runs_days from public.pipeline_settings s where s.id), 7));

  return jsonb_build_object('ok', true);
end
$$;
