-- The schedule: pg_cron calls the auto-book-monitor Edge Function through pg_net (issue 3).
--
-- Job `auto-book-monitor`, every 30 seconds where pg_cron supports second intervals (1.5.0+;
-- hosted Supabase has it) and every minute otherwise (Debian's pg_cron 1.4 has no seconds; the
-- fallback is chosen by trying). The command reads the function's base URL and the service key
-- from Vault at every run, so neither sits in the repository or in cron.job:
--   project_url   e.g. https://<ref>.supabase.co (locally http://127.0.0.1:54321)
--   monitor_key   a secret API key (sb_secret_…) the function accepts; sent as the `apikey` header
-- On a real project, once (SQL editor, as postgres):
--   select vault.create_secret('https://<ref>.supabase.co', 'project_url', 'auto-book-monitor base URL');
--   select vault.create_secret('<sb_secret_… key>', 'monitor_key', 'auto-book-monitor service key');
-- (to change one: select vault.update_secret(id, '<new value>') from vault.secrets where name = '…').
-- Locally scripts/stack.sh seeds both after the migrations. Until they exist the job's request
-- fails (null URL) and cron.job_run_details says so; nothing else breaks.
--
-- The body is `{}` (the function rejects unknown fields); the monitor answers with its run summary,
-- which pg_net stores in net._http_response. Pause booking with the kill switch
-- (pipeline_settings.monitor_enabled), not by unscheduling: the heartbeat keeps running.
--
-- pg_net: created here only where the extension is available (Supabase; it creates schema `net`).
-- The local stack has no pg_net binary; its stand-in `net` schema comes from
-- scripts/stack/sql/bootstrap.sql with the same net.http_post signature.

create extension if not exists pg_cron with schema pg_catalog;

do $migration$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net')
    and not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_net') then
    create extension pg_net with schema extensions;
  end if;
end
$migration$;

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
) as request_id$cmd$;
begin
  -- cron.schedule(name, …) replaces a job of the same name, so re-applying is harmless.
  begin
    perform cron.schedule('auto-book-monitor', '30 seconds', cmd);
  exception
    when others then
      perform cron.schedule('auto-book-monitor', '* * * * *', cmd);
  end;
end
$migration$;
