-- app.monitor_heartbeat prunes monitor_runs by pipeline_settings.monitor_runs_days
-- (20261205000202_heartbeat_keeps_monitor_runs_days.sql), not a fixed 7 days. Dates derive from now().
begin;
select plan(3);

insert into public.monitor_runs (run_id, started_at, finished_at, summary)
values ('pgtap-old-10d', now() - interval '10 days', now() - interval '10 days', '{}'),
       ('pgtap-old-40d', now() - interval '40 days', now() - interval '40 days', '{}');
update public.pipeline_settings set monitor_runs_days = 30 where id;

select app.monitor_heartbeat(jsonb_build_object('run_id', 'pgtap-now', 'started_at', app.rfc3339(now()),
  'finished_at', app.rfc3339(now()), 'summary', '{}'::jsonb));
select is((select count(*)::int from public.monitor_runs where run_id = 'pgtap-old-10d'), 1,
  'monitor_runs_days = 30: a run 10 days old is kept');
select is((select count(*)::int from public.monitor_runs where run_id = 'pgtap-old-40d'), 0,
  'and one 40 days old is pruned');

update public.pipeline_settings set monitor_runs_days = 7 where id;
select app.monitor_heartbeat(jsonb_build_object('run_id', 'pgtap-now', 'started_at', app.rfc3339(now()),
  'finished_at', app.rfc3339(now()), 'summary', '{}'::jsonb));
select is((select count(*)::int from public.monitor_runs where run_id = 'pgtap-old-10d'), 0,
  'monitor_runs_days = 7: the 10-day-old run is pruned');

select * from finish();
rollback;
