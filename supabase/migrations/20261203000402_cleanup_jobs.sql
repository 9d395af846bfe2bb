-- Issue 8 item 2: cleanup jobs (docs/data-retention.md).
--
-- Each job is a SQL function a test (or an operator) runs directly:
--
--   app.cleanup_offers(max_rows, log)                 expired or superseded offers
--   app.cleanup_finished_trip_offers(max_rows, log)   offers of finished trips after N days
--   app.cleanup_pipeline_events(max_rows, log)        pipeline_events past retention
--   app.cleanup_monitor_runs(max_rows, log)           monitor_runs and cleanup_runs past retention
--   app.cleanup_notifications(max_rows, log)          sent / dead / suppressed / failed past N days
--   app.cleanup_webhook_events(max_rows, log)         Stripe, Resend and Duffel event ids past N days
--   app.cleanup_traveler_data(max_rows, log)          travellers N days after their last travel date
--   app.cleanup_trip_summaries(max_rows, log)         trips that ended long ago -> anonymous summary
--
-- * Idempotent: each deletes only what is past its retention and not protected; a second run
--   finds nothing.
-- * Bounded: at most max_rows rows per call (default pipeline_settings.cleanup_batch_size x
--   cleanup_max_batches), deleted in batches of cleanup_batch_size rows chosen by key with
--   FOR UPDATE SKIP LOCKED (a row a writer holds waits for the next run).
-- * Logged: each call writes one public.cleanup_runs row (job, counts, whether more may remain)
--   unless log = false, and returns the same counts as JSON.
-- * The pg_cron job `cleanup` runs `call app.cleanup_all()` hourly: every job, one batch per
--   transaction (COMMIT between batches, so a large backlog never holds locks longer than one
--   batch), up to cleanup_max_batches batches per job per run, one cleanup_runs row per job.
--   pipeline_settings.cleanup_enabled = false stops it (the functions still run when called).
--
-- Retention settings (pipeline_settings, days unless noted) and their defaults:
--   cleanup_batch_size 500, cleanup_max_batches 20, finished_trip_offers_days 30,
--   pipeline_events_days 400, monitor_runs_days 7, notifications_days 90, webhook_events_days 30,
--   traveler_data_days 30, trip_summary_days 400.
--
-- Protected, never deleted by these jobs: a trip's selected offer; an offer a booking attempt
-- names (booking_attempts.state offer_id, open or closed: the record of what was charged);
-- anything of a trip with a booking attempt except bulk (offers, after the trip finished);
-- travellers on a trip that is not finished or has an open attempt; queued notifications.
--
-- app.delete_travelers(ids) is the plain delete of traveller profiles (personal data); the
-- erasure (issue 8 item 3) can share it.
--
-- Function replaced (CREATE OR REPLACE; owner kept): app.trip_requests_price_alert() (last:
-- 20261202000300_communications.sql): the alert's payload carries the trip's previous lowest
-- price from price_history (previous_low_minor, previous_checks).

alter table public.pipeline_settings
  add column cleanup_enabled boolean not null default true,
  add column cleanup_batch_size integer not null default 500,
  add column cleanup_max_batches integer not null default 20,
  add column finished_trip_offers_days integer not null default 30,
  add column pipeline_events_days integer not null default 400,
  add column monitor_runs_days integer not null default 7,
  add column notifications_days integer not null default 90,
  add column webhook_events_days integer not null default 30,
  add column traveler_data_days integer not null default 30,
  add column trip_summary_days integer not null default 400,
  add constraint pipeline_settings_cleanup_batch_size_range check (cleanup_batch_size between 1 and 10000),
  add constraint pipeline_settings_cleanup_max_batches_range check (cleanup_max_batches between 1 and 1000),
  add constraint pipeline_settings_finished_trip_offers_days_range check (finished_trip_offers_days between 0 and 3650),
  add constraint pipeline_settings_pipeline_events_days_range check (pipeline_events_days between 1 and 3650),
  add constraint pipeline_settings_monitor_runs_days_range check (monitor_runs_days between 1 and 3650),
  add constraint pipeline_settings_notifications_days_range check (notifications_days between 1 and 3650),
  -- At least 7: Stripe retries a delivery for 3 days, Svix (Resend) for about 1.5 days, Duffel
  -- for about a day; an id must outlive every retry of its event.
  add constraint pipeline_settings_webhook_events_days_range check (webhook_events_days between 7 and 3650),
  add constraint pipeline_settings_traveler_data_days_range check (traveler_data_days between 0 and 3650),
  add constraint pipeline_settings_trip_summary_days_range check (trip_summary_days between 30 and 3650);

-- ------------------------------------------------------------------------------------------------
-- Tables: the run log and the anonymous trip summaries
-- ------------------------------------------------------------------------------------------------
create table public.cleanup_runs (
  id bigint generated always as identity primary key,
  job text not null,
  started_at timestamptz not null,
  finished_at timestamptz not null default clock_timestamp(),
  counts jsonb not null,
  more boolean not null default false,

  constraint cleanup_runs_job_format check (job ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint cleanup_runs_counts_object check (jsonb_typeof(counts) = 'object')
);

comment on table public.cleanup_runs is
  'One row per cleanup job run: counts of rows deleted or cleared (no personal data). Service only; kept monitor_runs_days.';

create index cleanup_runs_job_idx on public.cleanup_runs (job, started_at desc);
create index cleanup_runs_started_idx on public.cleanup_runs (started_at);

create table public.trip_summaries (
  id uuid primary key default gen_random_uuid(),
  origin text not null,
  destination text not null,
  departure_month date not null,
  round_trip boolean not null,
  passengers smallint not null,
  cabin text not null,
  nonstop_only boolean not null,
  auto_book boolean not null,
  final_status text not null,
  last_error_code text,
  check_count integer not null,
  currency text not null,
  max_total_minor bigint not null,
  lowest_seen_minor bigint,
  created_month date not null,
  ended_month date not null,
  summarized_at timestamptz not null default now(),

  constraint trip_summaries_status_known check (final_status in ('booked', 'expired', 'cancelled', 'failed')),
  constraint trip_summaries_currency_iso check (currency ~ '^[A-Z]{3}$')
);

comment on table public.trip_summaries is
  'Trips that ended long ago, reduced to anonymous facts (no owner, no trip id, months not days). Service only.';

alter table public.cleanup_runs enable row level security;
alter table public.trip_summaries enable row level security;
revoke all on table public.cleanup_runs from public, anon, authenticated, service_role;
revoke all on table public.trip_summaries from public, anon, authenticated, service_role;
grant select, insert, delete on table public.cleanup_runs to service_role;
grant select, insert, delete on table public.trip_summaries to service_role;

-- Indexes the jobs select by.
create index flight_offers_trip_updated_idx on public.flight_offers (trip_id, updated_at);
create index pipeline_events_occurred_idx on public.pipeline_events (occurred_at, id);
create index notifications_finished_idx on public.notifications (updated_at, id)
  where status in ('sent', 'dead', 'suppressed', 'failed');
create index stripe_webhook_events_received_idx on public.stripe_webhook_events (received_at);
create index resend_events_received_idx on public.resend_events (received_at);
create index duffel_webhook_events_received_idx on public.duffel_webhook_events (received_at);
create index trip_requests_finished_idx on public.trip_requests (updated_at)
  where status in ('booked', 'expired', 'cancelled', 'failed');

-- ------------------------------------------------------------------------------------------------
-- Helpers
-- ------------------------------------------------------------------------------------------------

-- The row budget of one call: max_rows, or batch size x max batches.
create function app.cleanup_budget(max_rows integer)
returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select greatest(0, coalesce(
    cleanup_budget.max_rows,
    (select s.cleanup_batch_size * s.cleanup_max_batches from public.pipeline_settings s where s.id),
    10000
  ))
$$;

create function app.cleanup_batch_size()
returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((select s.cleanup_batch_size from public.pipeline_settings s where s.id), 500)
$$;

-- Writes the run row (when p_log) and returns {"job", "counts", "more"}.
create function app.cleanup_finish(p_job text, p_started timestamptz, p_counts jsonb, p_more boolean, p_log boolean)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if p_log then
    insert into public.cleanup_runs (job, started_at, counts, more)
    values (p_job, p_started, p_counts, p_more);
  end if;
  return jsonb_build_object('job', p_job, 'counts', p_counts, 'more', p_more);
end
$$;

-- Whether a booking attempt of the offer's trip names the offer (open or closed).
create function app.offer_referenced(p_trip_id uuid, p_provider_offer_id text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.booking_attempts a
    where a.trip_id = p_trip_id and a.state ->> 'offer_id' = p_provider_offer_id
  )
$$;

-- The plain delete of traveller profiles (their personal data, encrypted, and their trip slots
-- by cascade). A traveller on a trip with an open booking attempt is refused by the
-- travelers_keep_in_use trigger (55006); callers choose ids that are not. Returns the count.
-- Shared by the cleanup job and the erasure. Service only.
create function app.delete_travelers(p_ids uuid[])
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  delete from public.travelers tr where tr.id = any (p_ids);
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

-- ------------------------------------------------------------------------------------------------
-- The jobs
-- ------------------------------------------------------------------------------------------------

-- Expired or superseded offers: expires_at passed, or stored before the trip's latest search
-- (price_history) and not stored again by it. Never the trip's selected offer, never an offer a
-- booking attempt names, never an offer of a trip that is booking.
create function app.cleanup_offers(max_rows integer default null, log boolean default true)
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
  v_n integer;
  v_total integer := 0;
begin
  loop
    exit when v_total >= v_budget;
    delete from public.flight_offers f
    where f.id in (
      select o.id
      from public.flight_offers o
      join public.trip_requests t on t.id = o.trip_id
      where t.status <> 'booking'
        and o.id is distinct from t.selected_offer_id
        and (
          o.expires_at < now()
          or o.updated_at < (select max(h.observed_at) from public.price_history h where h.trip_id = o.trip_id)
        )
        and not app.offer_referenced(o.trip_id, o.provider_offer_id)
      order by o.id
      limit least(v_batch, v_budget - v_total)
      for update of o skip locked
    );
    get diagnostics v_n = row_count;
    v_total := v_total + v_n;
    exit when v_n < least(v_batch, v_budget - v_total + v_n);
  end loop;
  return app.cleanup_finish('offers', v_started, jsonb_build_object('offers_deleted', v_total),
    v_total >= v_budget, log);
end
$$;

-- Trips finished (booked, expired, cancelled, failed) more than finished_trip_offers_days ago:
-- every offer but the selected one and those a booking attempt names is deleted, and the raw
-- provider body of the kept ones is cleared (the booking is made; the body is not needed).
create function app.cleanup_finished_trip_offers(max_rows integer default null, log boolean default true)
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
  v_deleted integer := 0;
  v_cleared integer := 0;
begin
  select s.finished_trip_offers_days into v_days from public.pipeline_settings s where s.id;
  v_days := coalesce(v_days, 30);
  loop
    exit when v_deleted >= v_budget;
    delete from public.flight_offers f
    where f.id in (
      select o.id
      from public.flight_offers o
      join public.trip_requests t on t.id = o.trip_id
      where t.status in ('booked', 'expired', 'cancelled', 'failed')
        and t.updated_at < now() - make_interval(days => v_days)
        and o.id is distinct from t.selected_offer_id
        and not app.offer_referenced(o.trip_id, o.provider_offer_id)
      order by o.id
      limit least(v_batch, v_budget - v_deleted)
      for update of o skip locked
    );
    get diagnostics v_n = row_count;
    v_deleted := v_deleted + v_n;
    exit when v_n < least(v_batch, v_budget - v_deleted + v_n);
  end loop;
  loop
    exit when v_deleted + v_cleared >= v_budget;
    update public.flight_offers f
    set raw = null
    where f.id in (
      select o.id
      from public.flight_offers o
      join public.trip_requests t on t.id = o.trip_id
      where t.status in ('booked', 'expired', 'cancelled', 'failed')
        and t.updated_at < now() - make_interval(days => v_days)
        and o.raw is not null
      order by o.id
      limit least(v_batch, v_budget - v_deleted - v_cleared)
      for update of o skip locked
    );
    get diagnostics v_n = row_count;
    v_cleared := v_cleared + v_n;
    exit when v_n < least(v_batch, v_budget - v_deleted - v_cleared + v_n);
  end loop;
  return app.cleanup_finish('finished_trip_offers', v_started,
    jsonb_build_object('offers_deleted', v_deleted, 'raw_cleared', v_cleared),
    v_deleted + v_cleared >= v_budget, log);
end
$$;

-- pipeline_events older than pipeline_events_days.
create function app.cleanup_pipeline_events(max_rows integer default null, log boolean default true)
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
  select s.pipeline_events_days into v_days from public.pipeline_settings s where s.id;
  v_days := coalesce(v_days, 400);
  loop
    exit when v_total >= v_budget;
    delete from public.pipeline_events p
    where p.id in (
      select e.id from public.pipeline_events e
      where e.occurred_at < now() - make_interval(days => v_days)
      order by e.occurred_at, e.id
      limit least(v_batch, v_budget - v_total)
      for update skip locked
    );
    get diagnostics v_n = row_count;
    v_total := v_total + v_n;
    exit when v_n < least(v_batch, v_budget - v_total + v_n);
  end loop;
  return app.cleanup_finish('pipeline_events', v_started, jsonb_build_object('events_deleted', v_total),
    v_total >= v_budget, log);
end
$$;

-- monitor_runs (started) and cleanup_runs (finished) older than monitor_runs_days.
create function app.cleanup_monitor_runs(max_rows integer default null, log boolean default true)
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
  v_runs integer := 0;
  v_cleanups integer := 0;
begin
  select s.monitor_runs_days into v_days from public.pipeline_settings s where s.id;
  v_days := coalesce(v_days, 7);
  loop
    exit when v_runs >= v_budget;
    delete from public.monitor_runs m
    where m.run_id in (
      select r.run_id from public.monitor_runs r
      where r.started_at < now() - make_interval(days => v_days)
      order by r.started_at, r.run_id
      limit least(v_batch, v_budget - v_runs)
      for update skip locked
    );
    get diagnostics v_n = row_count;
    v_runs := v_runs + v_n;
    exit when v_n < least(v_batch, v_budget - v_runs + v_n);
  end loop;
  loop
    exit when v_runs + v_cleanups >= v_budget;
    delete from public.cleanup_runs c
    where c.id in (
      select r.id from public.cleanup_runs r
      where r.finished_at < now() - make_interval(days => v_days)
      order by r.id
      limit least(v_batch, v_budget - v_runs - v_cleanups)
      for update skip locked
    );
    get diagnostics v_n = row_count;
    v_cleanups := v_cleanups + v_n;
    exit when v_n < least(v_batch, v_budget - v_runs - v_cleanups + v_n);
  end loop;
  return app.cleanup_finish('monitor_runs', v_started,
    jsonb_build_object('monitor_runs_deleted', v_runs, 'cleanup_runs_deleted', v_cleanups),
    v_runs + v_cleanups >= v_budget, log);
end
$$;

-- Notifications that are finished (sent, dead, suppressed, failed) and untouched for
-- notifications_days. Pending and sending rows are the outbox: never.
create function app.cleanup_notifications(max_rows integer default null, log boolean default true)
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
  select s.notifications_days into v_days from public.pipeline_settings s where s.id;
  v_days := coalesce(v_days, 90);
  loop
    exit when v_total >= v_budget;
    delete from public.notifications x
    where x.id in (
      select n.id from public.notifications n
      where n.status in ('sent', 'dead', 'suppressed', 'failed')
        and n.updated_at < now() - make_interval(days => v_days)
      order by n.updated_at, n.id
      limit least(v_batch, v_budget - v_total)
      for update skip locked
    );
    get diagnostics v_n = row_count;
    v_total := v_total + v_n;
    exit when v_n < least(v_batch, v_budget - v_total + v_n);
  end loop;
  return app.cleanup_finish('notifications', v_started,
    jsonb_build_object('notifications_deleted', v_total), v_total >= v_budget, log);
end
$$;

-- Processed webhook event ids (Stripe, Resend/Svix, Duffel) received more than
-- webhook_events_days ago: long after every provider stopped retrying that event, so a replay
-- is refused by the signature's timestamp tolerance anyway.
create function app.cleanup_webhook_events(max_rows integer default null, log boolean default true)
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
  v_cutoff timestamptz;
  v_n integer;
  v_stripe integer := 0;
  v_resend integer := 0;
  v_duffel integer := 0;
begin
  select s.webhook_events_days into v_days from public.pipeline_settings s where s.id;
  v_cutoff := now() - make_interval(days => coalesce(v_days, 30));
  loop
    exit when v_stripe >= v_budget;
    delete from public.stripe_webhook_events w
    where w.id in (
      select e.id from public.stripe_webhook_events e where e.received_at < v_cutoff
      order by e.received_at, e.id limit least(v_batch, v_budget - v_stripe) for update skip locked
    );
    get diagnostics v_n = row_count;
    v_stripe := v_stripe + v_n;
    exit when v_n < least(v_batch, v_budget - v_stripe + v_n);
  end loop;
  loop
    exit when v_stripe + v_resend >= v_budget;
    delete from public.resend_events w
    where w.svix_id in (
      select e.svix_id from public.resend_events e where e.received_at < v_cutoff
      order by e.received_at, e.svix_id limit least(v_batch, v_budget - v_stripe - v_resend)
      for update skip locked
    );
    get diagnostics v_n = row_count;
    v_resend := v_resend + v_n;
    exit when v_n < least(v_batch, v_budget - v_stripe - v_resend + v_n);
  end loop;
  loop
    exit when v_stripe + v_resend + v_duffel >= v_budget;
    delete from public.duffel_webhook_events w
    where w.id in (
      select e.id from public.duffel_webhook_events e where e.received_at < v_cutoff
      order by e.received_at, e.id limit least(v_batch, v_budget - v_stripe - v_resend - v_duffel)
      for update skip locked
    );
    get diagnostics v_n = row_count;
    v_duffel := v_duffel + v_n;
    exit when v_n < least(v_batch, v_budget - v_stripe - v_resend - v_duffel + v_n);
  end loop;
  return app.cleanup_finish('webhook_events', v_started,
    jsonb_build_object('stripe_deleted', v_stripe, 'resend_deleted', v_resend, 'duffel_deleted', v_duffel),
    v_stripe + v_resend + v_duffel >= v_budget, log);
end
$$;

-- Travellers whose personal data is no longer needed: on at least one trip, and every trip they
-- are on is finished or needs the traveller (not searching, watching or booking), has no open
-- booking attempt, and its last travel date (return, else departure) is more than
-- traveler_data_days ago. A profile on no trip is the traveller's address book: kept. Deleted
-- with app.delete_travelers (plain delete; trip slots go by cascade).
create function app.cleanup_traveler_data(max_rows integer default null, log boolean default true)
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
  v_ids uuid[];
  v_n integer;
  v_total integer := 0;
begin
  select s.traveler_data_days into v_days from public.pipeline_settings s where s.id;
  v_days := coalesce(v_days, 30);
  loop
    exit when v_total >= v_budget;
    select array_agg(c.id) into v_ids from (
      select tr.id
      from public.travelers tr
      where exists (select 1 from public.trip_travelers tt where tt.traveler_id = tr.id)
        and not exists (
          select 1
          from public.trip_travelers tt
          join public.trip_requests t on t.id = tt.trip_id
          where tt.traveler_id = tr.id
            and (
              t.status in ('searching', 'watching', 'booking')
              or coalesce(t.return_date, t.departure_date) >= current_date - v_days
              or exists (select 1 from public.booking_attempts a where a.trip_id = t.id and a.open)
            )
        )
      order by tr.id
      limit least(v_batch, v_budget - v_total)
      for update of tr skip locked
    ) as c;
    v_n := coalesce(app.delete_travelers(v_ids), 0);
    v_total := v_total + v_n;
    exit when v_n < least(v_batch, v_budget - v_total + v_n);
  end loop;
  return app.cleanup_finish('traveler_data', v_started, jsonb_build_object('travelers_deleted', v_total),
    v_total >= v_budget, log);
end
$$;

-- Trips that ended long ago (finished more than trip_summary_days ago, last travel date as
-- long ago) and never had a booking attempt (no money ever moved, nothing accounting needs):
-- one anonymous public.trip_summaries row each (no owner, no trip id, months not days, the
-- lowest price seen), then the trip is deleted with everything hanging off it (offers, events,
-- price history, notifications, trip slots, price alert state) by cascade. Trips with attempts
-- are the accounting record and stay (their offers are trimmed by
-- cleanup_finished_trip_offers; removing the person is the erasure's job). A trip with an
-- unresolved operator alert stays.
create function app.cleanup_trip_summaries(max_rows integer default null, log boolean default true)
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
  v_ids uuid[];
  v_n integer;
  v_total integer := 0;
begin
  select s.trip_summary_days into v_days from public.pipeline_settings s where s.id;
  v_days := coalesce(v_days, 400);
  loop
    exit when v_total >= v_budget;
    select array_agg(c.id) into v_ids from (
      select t.id
      from public.trip_requests t
      where t.status in ('booked', 'expired', 'cancelled', 'failed')
        and t.updated_at < now() - make_interval(days => v_days)
        and coalesce(t.return_date, t.departure_date) < current_date - v_days
        and not exists (select 1 from public.booking_attempts a where a.trip_id = t.id)
        and not exists (
          select 1 from public.operator_alerts oa where oa.trip_id = t.id and oa.resolved_at is null
        )
      order by t.id
      limit least(v_batch, v_budget - v_total)
      for update of t skip locked
    ) as c;
    exit when v_ids is null;

    insert into public.trip_summaries (
      origin, destination, departure_month, round_trip, passengers, cabin, nonstop_only,
      auto_book, final_status, last_error_code, check_count, currency, max_total_minor,
      lowest_seen_minor, created_month, ended_month
    )
    select
      t.origin, t.destination, date_trunc('month', t.departure_date)::date, t.return_date is not null,
      t.adults + cardinality(t.child_ages), t.cabin, t.nonstop_only, t.auto_book, t.status,
      t.last_error_code, t.check_count, t.currency, t.max_total_minor,
      (select min(h.best_total_minor) from public.price_history h where h.trip_id = t.id),
      date_trunc('month', t.created_at at time zone 'UTC')::date,
      date_trunc('month', t.updated_at at time zone 'UTC')::date
    from public.trip_requests t
    where t.id = any (v_ids);

    delete from public.trip_requests t where t.id = any (v_ids);
    get diagnostics v_n = row_count;
    v_total := v_total + v_n;
    exit when v_n < least(v_batch, v_budget - v_total + v_n);
  end loop;
  return app.cleanup_finish('trip_summaries', v_started, jsonb_build_object('trips_summarized', v_total),
    v_total >= v_budget, log);
end
$$;

-- ------------------------------------------------------------------------------------------------
-- The scheduled run: every job, one batch per transaction.
-- ------------------------------------------------------------------------------------------------
-- Not SECURITY DEFINER and without a SET clause: PostgreSQL allows COMMIT in a procedure only
-- without either. Every name in it is schema-qualified; it runs as its caller (pg_cron's job
-- owner, postgres; or service_role, which may run the job functions).
create procedure app.cleanup_all()
language plpgsql
as $$
declare
  c_jobs constant text[] := array[
    'offers', 'finished_trip_offers', 'pipeline_events', 'monitor_runs', 'notifications',
    'webhook_events', 'traveler_data', 'trip_summaries'
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

-- ------------------------------------------------------------------------------------------------
-- Price alerts read the price history: the previous lowest price and how many checks it covers.
-- Otherwise as in 20261202000300_communications.sql (the trigger fires on the trip update inside
-- app.record_search, before that search's own price history point is written).
-- ------------------------------------------------------------------------------------------------
create or replace function app.trip_requests_price_alert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_price bigint;
  v_currency text;
  v_bps integer;
  v_state public.price_alerts;
  v_alert boolean := false;
  v_low bigint;
  v_checks integer;
begin
  select o.total_minor, o.currency into v_price, v_currency
  from public.flight_offers o where o.id = new.selected_offer_id;
  if v_price is null or v_currency <> new.currency or v_price > new.max_total_minor then
    return null;
  end if;
  select s.price_alert_min_drop_bps into v_bps from public.pipeline_settings s where s.id;
  select p.* into v_state from public.price_alerts p where p.trip_id = new.id for update;
  if v_state.trip_id is null then
    insert into public.price_alerts (trip_id, last_alert_minor, currency)
    values (new.id, v_price, v_currency);
    v_alert := true;
  elsif v_state.currency = v_currency
    -- At least bps below the last alerted price (integer ceiling, never floats).
    and v_price <= v_state.last_alert_minor
      - greatest(1, (v_state.last_alert_minor * coalesce(v_bps, 500) + 9999) / 10000) then
    update public.price_alerts p
    set last_alert_minor = v_price, alerts = p.alerts + 1, alerted_at = now()
    where p.trip_id = new.id;
    v_alert := true;
  end if;
  if v_alert then
    select min(h.best_total_minor), count(*) into v_low, v_checks
    from public.price_history h
    where h.trip_id = new.id and h.currency = v_currency;
    insert into public.notifications (trip_id, owner_id, template, dedupe_key, payload)
    values (
      new.id, new.owner_id, 'price_alert', new.id::text || '-price_alert-' || v_price::text,
      jsonb_strip_nulls(jsonb_build_object('amount_minor', v_price, 'currency', v_currency,
        'target_minor', new.max_total_minor,
        'previous_low_minor', v_low,
        'previous_checks', nullif(v_checks, 0)))
    )
    on conflict on constraint notifications_dedupe_key_key do nothing;
  end if;
  return null;
end
$$;

revoke all on function app.trip_requests_price_alert() from public, anon, authenticated, service_role;

-- ------------------------------------------------------------------------------------------------
-- Grants: service only.
-- ------------------------------------------------------------------------------------------------
revoke all on function app.cleanup_budget(integer) from public, anon, authenticated, service_role;
revoke all on function app.cleanup_batch_size() from public, anon, authenticated, service_role;
revoke all on function app.cleanup_finish(text, timestamptz, jsonb, boolean, boolean) from public, anon, authenticated, service_role;
revoke all on function app.offer_referenced(uuid, text) from public, anon, authenticated, service_role;
revoke all on function app.delete_travelers(uuid[]) from public, anon, authenticated;
revoke all on function app.cleanup_offers(integer, boolean) from public, anon, authenticated;
revoke all on function app.cleanup_finished_trip_offers(integer, boolean) from public, anon, authenticated;
revoke all on function app.cleanup_pipeline_events(integer, boolean) from public, anon, authenticated;
revoke all on function app.cleanup_monitor_runs(integer, boolean) from public, anon, authenticated;
revoke all on function app.cleanup_notifications(integer, boolean) from public, anon, authenticated;
revoke all on function app.cleanup_webhook_events(integer, boolean) from public, anon, authenticated;
revoke all on function app.cleanup_traveler_data(integer, boolean) from public, anon, authenticated;
revoke all on function app.cleanup_trip_summaries(integer, boolean) from public, anon, authenticated;
revoke all on procedure app.cleanup_all() from public, anon, authenticated;
grant execute on function app.delete_travelers(uuid[]) to service_role;
grant execute on function app.cleanup_offers(integer, boolean) to service_role;
grant execute on function app.cleanup_finished_trip_offers(integer, boolean) to service_role;
grant execute on function app.cleanup_pipeline_events(integer, boolean) to service_role;
grant execute on function app.cleanup_monitor_runs(integer, boolean) to service_role;
grant execute on function app.cleanup_notifications(integer, boolean) to service_role;
grant execute on function app.cleanup_webhook_events(integer, boolean) to service_role;
grant execute on function app.cleanup_traveler_data(integer, boolean) to service_role;
grant execute on function app.cleanup_trip_summaries(integer, boolean) to service_role;
grant execute on procedure app.cleanup_all() to service_role;

-- ------------------------------------------------------------------------------------------------
-- The schedule: job `cleanup`, hourly at minute 17 (off the monitor's minute boundaries).
-- ------------------------------------------------------------------------------------------------
select cron.schedule('cleanup', '17 * * * *', 'call app.cleanup_all()');
