-- The cron schedule: job `auto-book-monitor` calls the monitor through net.http_post with the URL
-- and key read from Vault at run time. The job's command is executed directly here (as the
-- end-to-end tests do) instead of waiting for a tick; the request is queued in this transaction
-- and rolled back with it, so nothing is sent.
begin;
select plan(9);

select is((select count(*)::int from cron.job where jobname = 'auto-book-monitor'), 1, 'the job exists once');
select is((select schedule from cron.job where jobname = 'auto-book-monitor'),
  case
    when (select string_to_array(split_part(extversion, '-', 1), '.')::int[] >= '{1,5}' from pg_extension where extname = 'pg_cron')
      then '30 seconds'
    else '* * * * *'
  end,
  'every 30 seconds where pg_cron has second schedules (1.5+), every minute otherwise');
select is((select database || ' ' || username || ' ' || active from cron.job where jobname = 'auto-book-monitor'),
  current_database() || ' postgres true', 'active, in this database, as postgres');
select matches((select command from cron.job where jobname = 'auto-book-monitor'),
  '^select net\.http_post\(\s+url := \(select decrypted_secret from vault\.decrypted_secrets where name = ''project_url''\)\s+\|\| ''/functions/v1/auto-book-monitor'',\s+body := ''\{\}''::jsonb,',
  'the command posts {} to <project_url from Vault>/functions/v1/auto-book-monitor');
select matches((select command from cron.job where jobname = 'auto-book-monitor'),
  '''apikey'', \(select decrypted_secret from vault\.decrypted_secrets where name = ''monitor_key''\)',
  'the apikey header is the monitor_key from Vault');
select ok((select command !~ '(sb_secret_|eyJ|https?://)' from cron.job where jobname = 'auto-book-monitor'),
  'no key or URL is written into the job itself');

-- Run the job's body with known Vault values (replacing the stack's for this transaction).
delete from vault.secrets where name in ('project_url', 'monitor_key');
select vault.create_secret('http://127.0.0.1:54321', 'project_url');
select vault.create_secret('sb_secret_pgtap0000000000000000', 'monitor_key');
create temp table before as select coalesce(max(id), 0) as id from net.http_request_queue;
do $$
declare
  c text;
begin
  select command into c from cron.job where jobname = 'auto-book-monitor';
  execute c;
end
$$;
select is((select count(*)::int from net.http_request_queue where id > (select id from before)), 1, 'running the job queues one request');
select is(
  (select jsonb_build_object('method', method, 'url', url, 'body', convert_from(body, 'UTF8'), 'headers', headers)
   from net.http_request_queue where id > (select id from before)),
  '{"method": "POST", "url": "http://127.0.0.1:54321/functions/v1/auto-book-monitor", "body": "{}",
    "headers": {"Content-Type": "application/json", "apikey": "sb_secret_pgtap0000000000000000"}}'::jsonb,
  'POST {} to the monitor with the key as the apikey header');
select cmp_ok((select timeout_milliseconds from net.http_request_queue where id > (select id from before)), '<', 60000,
  'the request times out before the next minute''s tick');

select * from finish();
rollback;
