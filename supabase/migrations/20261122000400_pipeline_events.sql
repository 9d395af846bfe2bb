-- pipeline_events: the decision log ("why we did / did not book"), readable by the trip's owner.
--
-- No PII: stage, decision and reason_code are snake_case codes by constraint; `detail` holds
-- counts, ids and amounts only (writers must never put names, emails, phones, dates of birth or
-- card data in it); correlation_id is an opaque request id.

create table public.pipeline_events (
  id bigint generated always as identity primary key,
  trip_id uuid not null references public.trip_requests (id) on delete cascade,
  occurred_at timestamptz not null default now(),
  stage text not null,
  decision text not null,
  reason_code text,
  detail jsonb not null default '{}'::jsonb,
  correlation_id text,

  constraint pipeline_events_stage_format check (stage ~ '^[a-z][a-z0-9_]{0,31}$'),
  constraint pipeline_events_decision_format check (decision ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint pipeline_events_reason_code_format check (reason_code is null or reason_code ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint pipeline_events_detail_object check (jsonb_typeof(detail) = 'object'),
  constraint pipeline_events_detail_bounded check (octet_length(detail::text) <= 8192),
  constraint pipeline_events_correlation_id_format check (
    correlation_id is null or correlation_id ~ '^[A-Za-z0-9._:-]{1,128}$'
  )
);

comment on table public.pipeline_events is
  'Decision log per trip (stage, decision, reason code, PII-free detail). Owners read their trips'' events.';

create index pipeline_events_trip_occurred_idx on public.pipeline_events (trip_id, occurred_at desc);
