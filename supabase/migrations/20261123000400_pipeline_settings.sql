-- pipeline_settings (one row: the monitor's kill switch and limits) and monitor_runs (the
-- heartbeat's run log), issue 3. Service only: no policies, no grants to the API user roles.
--
-- Pause the monitor:   update public.pipeline_settings set monitor_enabled = false;
-- Resume:              update public.pipeline_settings set monitor_enabled = true;
-- A paused monitor claims nothing (app.monitor_claim answers enabled=false, trips=[]), so no
-- trip is re-priced or booked; the cron job keeps firing and the heartbeat keeps being written.

create table public.pipeline_settings (
  id boolean primary key default true,
  monitor_enabled boolean not null default true,
  batch_size integer not null default 25,
  provider_call_budget integer not null default 100,
  concurrency integer not null default 4,
  -- Redis lock lease per trip; shorter than the function's wall clock (150 s on the free plan).
  lock_lease_ms integer not null default 120000,
  -- How long a claimed trip stays out of other claims (the run's upper bound on wall clock).
  claim_lease_seconds integer not null default 300,
  heartbeat_at timestamptz,
  last_run jsonb,
  updated_at timestamptz not null default now(),

  constraint pipeline_settings_single_row check (id),
  constraint pipeline_settings_batch_size_range check (batch_size between 1 and 1000),
  constraint pipeline_settings_provider_call_budget_range check (provider_call_budget between 0 and 100000),
  constraint pipeline_settings_concurrency_range check (concurrency between 1 and 64),
  constraint pipeline_settings_lock_lease_ms_range check (lock_lease_ms between 1000 and 900000),
  constraint pipeline_settings_claim_lease_seconds_range check (claim_lease_seconds between 1 and 3600),
  constraint pipeline_settings_last_run_object check (last_run is null or jsonb_typeof(last_run) = 'object')
);

comment on table public.pipeline_settings is
  'The monitor''s settings (single row): monitor_enabled is the kill switch. Service only.';

insert into public.pipeline_settings (id) values (true) on conflict (id) do nothing;

create trigger pipeline_settings_touch_updated_at
before update on public.pipeline_settings
for each row execute function app.touch_updated_at();

create table public.monitor_runs (
  run_id text primary key,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  summary jsonb not null default '{}'::jsonb,
  recorded_at timestamptz not null default now(),

  constraint monitor_runs_run_id_format check (run_id ~ '^[A-Za-z0-9._:-]{1,128}$'),
  constraint monitor_runs_finished_after_started check (finished_at >= started_at),
  constraint monitor_runs_summary_object check (jsonb_typeof(summary) = 'object'),
  constraint monitor_runs_summary_bounded check (octet_length(summary::text) <= 8192)
);

comment on table public.monitor_runs is
  'One row per monitor run (counts only, no personal data); app.monitor_heartbeat keeps 7 days.';

create index monitor_runs_started_idx on public.monitor_runs (started_at desc);

-- The monitor's work queue also covers `booking` (an attempt whose run died resumes after the
-- lease); the existing trip_requests_due_idx covers searching/watching only.
create index trip_requests_monitor_due_idx on public.trip_requests (next_check_at, id)
  where status in ('searching', 'watching', 'booking');
