-- Issue 8 item 2 (migration 20261203000402_cleanup_jobs.sql): app.cleanup_pipeline_events,
-- app.cleanup_monitor_runs (and the cleanup run log), app.cleanup_notifications and
-- app.cleanup_webhook_events: rows past their retention gone, recent and queued rows kept,
-- retention configurable, a second run deletes nothing; the pg_cron job. Dates derive from now().
begin;
select plan(19);

insert into auth.users (id, email) values ('16216216-0000-4000-8000-000000000001', 'user-162@example.test');
create temp table k (name text primary key, id uuid);
grant all on k to public;
with x as (
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('16216216-0000-4000-8000-000000000001', 'LHR', 'JFK', current_date + 60, 1, 'economy', 42000, 'GBP')
  returning id)
insert into k select 'trip', id from x;

-- pipeline_events ---------------------------------------------------------------------------------
insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, occurred_at)
select (select id from k where name = 'trip'), 'monitor', 'skip', 'probe_' || a.days, '{}', now() - make_interval(days => a.days)
from (values (401), (500), (399), (1)) as a(days);
select is(app.cleanup_pipeline_events() -> 'counts', '{"events_deleted": 2}'::jsonb,
  'events older than pipeline_events_days (400) are deleted');
select set_eq($$ select reason_code from public.pipeline_events where reason_code like 'probe_%' $$,
  array['probe_399', 'probe_1'], 'younger ones stay');
select is(app.cleanup_pipeline_events() -> 'counts', '{"events_deleted": 0}'::jsonb, 'a second run deletes nothing');
update public.pipeline_settings set pipeline_events_days = 30;
select is(app.cleanup_pipeline_events() -> 'counts', '{"events_deleted": 1}'::jsonb, 'the retention is a setting');
select throws_ok($$ update public.pipeline_settings set pipeline_events_days = 0 $$, '23514', null,
  'a retention below one day is refused');

-- monitor_runs and cleanup_runs -------------------------------------------------------------------
insert into public.monitor_runs (run_id, started_at, finished_at)
values ('run-162-old', now() - interval '8 days', now() - interval '8 days'),
  ('run-162-new', now() - interval '6 days', now() - interval '6 days');
insert into public.cleanup_runs (job, started_at, finished_at, counts)
values ('probe_old', now() - interval '9 days', now() - interval '9 days', '{}'),
  ('probe_new', now() - interval '1 day', now() - interval '1 day', '{}');
select is(app.cleanup_monitor_runs() -> 'counts', '{"monitor_runs_deleted": 1, "cleanup_runs_deleted": 1}'::jsonb,
  'monitor runs and cleanup runs older than monitor_runs_days (7) are deleted');
select set_eq($$ select run_id from public.monitor_runs where run_id like 'run-162-%' $$, array['run-162-new'],
  'the recent monitor run stays');
select set_eq($$ select job from public.cleanup_runs where job like 'probe_%' $$, array['probe_new'],
  'the recent cleanup run stays');
select is(app.cleanup_monitor_runs() -> 'counts', '{"monitor_runs_deleted": 0, "cleanup_runs_deleted": 0}'::jsonb,
  'a second run deletes nothing');

-- notifications -------------------------------------------------------------------------------------
insert into public.notifications (trip_id, owner_id, template, dedupe_key, status, provider_message_id, dead_reason, updated_at)
select (select id from k where name = 'trip'), '16216216-0000-4000-8000-000000000001', 'price_alert', 'n162-' || x.name,
  x.status, case when x.status = 'sent' then 'msg_' || x.name end,
  case when x.status in ('dead', 'suppressed') then 'bounced' end, now() - x.age
from (values ('sent_old', 'sent', interval '91 days'), ('dead_old', 'dead', interval '100 days'),
  ('suppressed_old', 'suppressed', interval '91 days'), ('failed_old', 'failed', interval '91 days'),
  ('pending_old', 'pending', interval '200 days'), ('sent_new', 'sent', interval '89 days'),
  ('dead_new', 'dead', interval '1 day')) as x(name, status, age);
select is(app.cleanup_notifications() -> 'counts', '{"notifications_deleted": 4}'::jsonb,
  'sent, dead, suppressed and failed notifications older than notifications_days (90) are deleted');
select set_eq($$ select dedupe_key from public.notifications where dedupe_key like 'n162-%' $$,
  array['n162-pending_old', 'n162-sent_new', 'n162-dead_new'], 'queued and recent ones stay');
select is(app.cleanup_notifications() -> 'counts', '{"notifications_deleted": 0}'::jsonb, 'a second run deletes nothing');

-- webhook event ids -----------------------------------------------------------------------------------
insert into public.stripe_webhook_events (id, type, outcome, received_at)
values ('evt_162old', 'payment_intent.succeeded', 'recorded', now() - interval '31 days'),
  ('evt_162new', 'payment_intent.succeeded', 'recorded', now() - interval '29 days');
insert into public.resend_events (svix_id, type, received_at)
values ('msg_162old', 'email.delivered', now() - interval '31 days'),
  ('msg_162new', 'email.delivered', now() - interval '2 days');
insert into public.duffel_webhook_events (id, type, kind, order_id, outcome, received_at)
values ('wev_162old', 'order.created', 'order_created', 'ord_162', 'unknown_order', now() - interval '40 days'),
  ('wev_162new', 'order.created', 'order_created', 'ord_162', 'unknown_order', now() - interval '1 day');
select is(app.cleanup_webhook_events() -> 'counts',
  '{"stripe_deleted": 1, "resend_deleted": 1, "duffel_deleted": 1}'::jsonb,
  'processed Stripe, Resend and Duffel event ids older than webhook_events_days (30) are deleted');
select is(
  (select array_agg(id order by id) from (
    select id from public.stripe_webhook_events where id like 'evt_162%'
    union all select svix_id from public.resend_events where svix_id like 'msg_162%'
    union all select id from public.duffel_webhook_events where id like 'wev_162%') x),
  array['evt_162new', 'msg_162new', 'wev_162new'], 'recent ones stay (a replay within the window is still refused)');
select is(app.cleanup_webhook_events() -> 'counts',
  '{"stripe_deleted": 0, "resend_deleted": 0, "duffel_deleted": 0}'::jsonb, 'a second run deletes nothing');
select throws_ok($$ update public.pipeline_settings set webhook_events_days = 3 $$, '23514', null,
  'a webhook retention shorter than the providers'' retries is refused');

-- The run log and the schedule --------------------------------------------------------------------------
select is(
  (select count(*)::int from public.cleanup_runs where started_at >= now()
   and job in ('pipeline_events', 'monitor_runs', 'notifications', 'webhook_events')),
  9, 'every call logged its counts');
select is((select schedule || ' ' || command from cron.job where jobname = 'cleanup'),
  '17 * * * * call app.cleanup_all()', 'pg_cron runs every job hourly');
select ok(
  (select not p.prosecdef and p.proconfig is null from pg_proc p where p.oid = 'app.cleanup_all'::regproc),
  'app.cleanup_all can commit between batches (not SECURITY DEFINER, no SET clause)');

select * from finish();
rollback;
