-- The operator alert outbox is cleaned (migration 20261205000401_cleanup_alert_deliveries.sql):
-- sent deliveries, and dead ones of resolved alerts, untouched for more than alert_deliveries_days
-- go; pending, sending and recent ones, and the dead message of an alert still open, stay; the alerts themselves stay and are not queued again, the retention
-- is a setting, a second run deletes nothing, the run is logged and the hourly job runs it.
-- Dates derive from now().
begin;
select plan(11);

insert into auth.users (id, email) values ('25125125-0000-4000-8000-000000000001', 'user-251@example.test');
create temp table k (name text primary key, id bigint);
do $$
declare
  v_trip uuid;
  v_alert bigint;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('25125125-0000-4000-8000-000000000001', 'LHR', 'JFK', current_date + 60, 1, 'economy', 42000, 'GBP')
  returning id into v_trip;
  for i in 1..7 loop
    insert into public.operator_alerts (trip_id, reason, created_at, notified_at, resolved_at, resolve_notified_at)
    values (v_trip, 'probe_251', now() - interval '41 days', now() - interval '40 days',
      case when i = 7 then null else now() - interval '40 days' end,
      case when i = 7 then null else now() - interval '40 days' end)
    returning id into v_alert;
    insert into k values ('alert_' || i, v_alert);
  end loop;
end
$$;

create temp table runs_before as select count(*)::int as n from public.cleanup_runs where job = 'alert_deliveries';
alter table public.operator_alert_deliveries disable trigger user;
insert into public.operator_alert_deliveries (alert_id, kind, payload, status, request_id, updated_at)
select (select id from k where name = 'alert_' || n), 'fire', '{}'::jsonb, status, request_id, now() - make_interval(days => days)
from (values (1, 'sent', null::bigint, 31), (2, 'dead', null, 45), (3, 'sent', null, 29),
             (4, 'pending', null, 60), (5, 'sending', 7, 60), (6, 'sent', null, 200),
             (7, 'dead', null, 90)) as d(n, status, request_id, days);
alter table public.operator_alert_deliveries enable trigger user;

select is(app.cleanup_alert_deliveries() -> 'counts', '{"deliveries_deleted": 3}'::jsonb,
  'sent and dead deliveries older than alert_deliveries_days (30) are deleted');
select set_eq($$ select a.id from public.operator_alert_deliveries d join k a on a.id = d.alert_id $$,
  $$ select id from k where name in ('alert_3', 'alert_4', 'alert_5', 'alert_7') $$,
  'a recent sent one, a pending and a sending one, and the dead message of an alert still open stay');
select is((select count(*)::int from public.operator_alerts where reason = 'probe_251'), 7,
  'the alerts themselves are kept');
select is(app.cleanup_alert_deliveries() -> 'counts', '{"deliveries_deleted": 0}'::jsonb, 'a second run deletes nothing');
select set_config('role', 'service_role', true);
select lives_ok($$ select app.alerts_evaluate('{}') $$, 'the alerts are evaluated');
select set_config('role', 'postgres', true);
select is((select count(*)::int from public.operator_alert_deliveries d
           where d.alert_id in (select id from k where name in ('alert_1', 'alert_2', 'alert_6'))), 0,
  'alerts_evaluate does not queue the deleted messages again');
select set_config('role', 'postgres', true);
update public.pipeline_settings set alert_deliveries_days = 1;
select is(app.cleanup_alert_deliveries(null, false) -> 'counts', '{"deliveries_deleted": 1}'::jsonb,
  'the retention is a setting');
select throws_ok($$ update public.pipeline_settings set alert_deliveries_days = 0 $$, '23514', null,
  'a retention below one day is refused');
select is((select count(*)::int from public.cleanup_runs where job = 'alert_deliveries') - (select n from runs_before), 2,
  'each logged call writes one run row');
select ok((select p.prosrc like '%''alert_deliveries''%' from pg_proc p where p.oid = 'app.cleanup_all'::regproc),
  'the hourly cleanup_all runs the job');
select function_privs_are('app', 'cleanup_alert_deliveries', array['integer', 'boolean'], 'authenticated', array[]::text[],
  'authenticated cannot run the job');

select * from finish();
rollback;
