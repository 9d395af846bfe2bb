-- vault_seed.sql: the Vault secrets the migrations read, for the LOCAL stack only.
--
-- Run by scripts/stack.sh after the migrations, on every `up` (idempotent: creates a missing
-- secret, updates one whose value changed, leaves the rest alone). Values are read from the
-- environment with psql's \getenv, so none of them appears on a command line, in a file or a log:
--   SUPABASE_URL          -> project_url (the cron job posts to <project_url>/functions/v1/…)
--   SUPABASE_SECRET_KEYS  -> monitor_key (its "default" sb_secret_ key)
--   TRAVELER_DATA_KEY     -> traveler_data_key (the travelers.pii encryption key)
-- On a real project create the same three secrets once with vault.create_secret (see the headers
-- of migrations 20261123000100_travelers.sql and 20261123000700_monitor_schedule.sql).
\set ON_ERROR_STOP on
\getenv project_url SUPABASE_URL
\getenv secret_keys SUPABASE_SECRET_KEYS
\getenv traveler_data_key TRAVELER_DATA_KEY
-- An unset variable would be a syntax error below; make it empty so the check names it.
\if :{?project_url}
\else
\set project_url ''
\endif
\if :{?secret_keys}
\else
\set secret_keys '{}'
\endif
\if :{?traveler_data_key}
\else
\set traveler_data_key ''
\endif

create temp table seed (name text primary key, secret text, description text not null);
create temp table seed_changed (name text primary key);
insert into seed values
  ('project_url', :'project_url', 'auto-book-monitor base URL (local stack)'),
  ('monitor_key', (:'secret_keys')::jsonb ->> 'default', 'auto-book-monitor service key (local stack)'),
  ('traveler_data_key', :'traveler_data_key', 'travelers.pii encryption key (local stack)');

-- Create what is missing, update what changed. traveler_data_key is never replaced while
-- travelers exist: rows encrypted under the old key would become unreadable.
do $$
declare
  s record;
  v_id uuid;
  v_current text;
begin
  if exists (select 1 from seed where coalesce(secret, '') = '') then
    raise exception 'vault_seed: empty value for %', (select string_agg(name, ', ') from seed where coalesce(secret, '') = '');
  end if;
  for s in select * from seed order by name loop
    select d.id, d.decrypted_secret into v_id, v_current from vault.decrypted_secrets d where d.name = s.name;
    if v_id is null then
      perform vault.create_secret(s.secret, s.name, s.description);
      insert into seed_changed values (s.name);
      raise notice 'vault_seed: created %', s.name;
    elsif v_current is distinct from s.secret then
      if s.name = 'traveler_data_key' and exists (select 1 from public.travelers) then
        raise warning 'vault_seed: traveler_data_key differs from the environment but travelers exist; kept the stored key';
      else
        perform vault.update_secret(v_id, s.secret);
        insert into seed_changed values (s.name);
        raise notice 'vault_seed: updated %', s.name;
      end if;
    end if;
  end loop;
end
$$;

-- The one line of output: how many secrets were created or updated (stack.sh reports it).
select count(*) from seed_changed;
