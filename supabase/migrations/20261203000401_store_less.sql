-- Issue 8 item 1: store less (docs/data-retention.md).
--
-- Before: app.record_search upserted every offer of a result (up to 200) with its raw provider
-- body (up to 16 KiB). Duffel offer ids change on every search, so a trip watched for 90 days
-- gathered on the order of 100,000 offer rows and hundreds of MB. Now:
--
-- * flight_offers keeps, per search, the selected offer WITH its raw body (what the monitor
--   books from), the first pipeline_settings.offers_kept_per_search (default 5) other offers in
--   the core's order WITHOUT raw (the compact alternatives), and the cheapest offer in the trip's
--   currency without raw (so the best price seen always names a stored offer). Offers an older
--   search stored are "superseded" and go with the cleanup job app.cleanup_offers
--   (20261203000402_cleanup_jobs.sql), unless selected or referenced by a booking attempt.
-- * public.price_history: one point per recorded search (trip, time, decision, offers seen, best
--   total in the trip's currency among ALL offers of the result, selected total). It feeds the
--   trips function's price chart (app.trip_watch_json "prices", formerly read from
--   pipeline_events, which now have a retention) and the price alerts' "lowest seen"
--   (20261203000402). Kept as long as the trip; a trip reduced to an anonymous summary keeps the
--   lowest price only. Existing search events are copied in once, below.
--
-- Functions replaced (CREATE OR REPLACE; owners and grants kept, grants restated):
--   app.record_search(uuid, jsonb)               (last: 20261201000200_attempt_limit_dead_offers.sql)
--   app.trip_watch_json(trip_requests, boolean)  (last: 20261202000100_travelers_and_trips_api.sql)
-- app.record_search stays the ONE function that records a search (a batch writer calls it per
-- item).

alter table public.pipeline_settings
  add column offers_kept_per_search integer not null default 5,
  add constraint pipeline_settings_offers_kept_per_search_range check (offers_kept_per_search between 0 and 200);

comment on column public.pipeline_settings.offers_kept_per_search is
  'Alternatives (besides the selected and the cheapest offer) app.record_search stores per search, without raw.';

create table public.price_history (
  id bigint generated always as identity primary key,
  trip_id uuid not null references public.trip_requests (id) on delete cascade,
  observed_at timestamptz not null default now(),
  decision text not null,
  offers_seen integer not null,
  best_total_minor bigint,
  selected_total_minor bigint,
  currency text not null,

  constraint price_history_decision_known check (decision in ('offer_selected', 'no_acceptable_offer')),
  constraint price_history_offers_seen_nonnegative check (offers_seen >= 0),
  constraint price_history_best_positive check (best_total_minor is null or best_total_minor > 0),
  constraint price_history_selected_positive check (selected_total_minor is null or selected_total_minor > 0),
  constraint price_history_currency_iso check (currency ~ '^[A-Z]{3}$')
);

comment on table public.price_history is
  'One point per recorded search: best total (trip currency, all offers of the result), offers seen, selected total. Owners read their trips'' points. No personal data.';

create index price_history_trip_idx on public.price_history (trip_id, observed_at desc, id desc);

alter table public.price_history enable row level security;
revoke all on table public.price_history from public, anon, authenticated, service_role;
grant select on table public.price_history to authenticated;
grant select, insert, delete on table public.price_history to service_role;

create policy price_history_owner_select on public.price_history
  for select to authenticated
  using (
    exists (
      select 1 from public.trip_requests t
      where t.id = price_history.trip_id and t.owner_id = (select auth.uid())
    )
  );

-- The history so far, from the search events (best_total_minor is there since 20261202000100).
insert into public.price_history (
  trip_id, observed_at, decision, offers_seen, best_total_minor, selected_total_minor, currency
)
select
  e.trip_id,
  e.occurred_at,
  e.decision,
  greatest(0, coalesce((e.detail ->> 'offers_seen')::numeric, (e.detail ->> 'offers_received')::numeric, 0))::integer,
  nullif((e.detail ->> 'best_total_minor')::numeric, 0)::bigint,
  nullif((e.detail ->> 'selected_total_minor')::numeric, 0)::bigint,
  coalesce(e.detail ->> 'best_currency', e.detail ->> 'selected_currency', t.currency)
from public.pipeline_events e
join public.trip_requests t on t.id = e.trip_id
where e.stage = 'search' and e.decision in ('offer_selected', 'no_acceptable_offer')
order by e.occurred_at, e.id;

-- ---------------------------------------------------------------------------------------------
-- record_search: stores the selected offer with raw, the compact alternatives and the cheapest
-- one, and a price history point. Otherwise as in 20261201000200_attempt_limit_dead_offers.sql.
-- ---------------------------------------------------------------------------------------------
create or replace function app.record_search(trip_id uuid, result jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_provider text;
  v_offers jsonb;
  v_decision text;
  v_selected_poid text;
  v_next_check_at timestamptz;
  v_stored integer;
  v_reason text;
  v_trip public.trip_requests;
  v_selected public.flight_offers;
  v_keep integer;
  v_best bigint;
begin
  if result is null or jsonb_typeof(result) <> 'object' then
    raise exception using errcode = '22023', message = 'search result must be a JSON object';
  end if;

  if jsonb_typeof(result -> 'provider') is distinct from 'string' then
    raise exception using errcode = '22023', message = 'field provider must be a JSON string';
  end if;
  v_provider := result ->> 'provider';

  v_offers := coalesce(nullif(result -> 'offers', 'null'::jsonb), '[]'::jsonb);
  if jsonb_typeof(v_offers) <> 'array' then
    raise exception using errcode = '22023', message = 'field offers must be a JSON array';
  end if;
  if jsonb_array_length(v_offers) > 200 then
    raise exception using errcode = '22023', message = 'field offers holds more than 200 offers';
  end if;
  if exists (
    select 1 from jsonb_array_elements(v_offers) as e(offer)
    where jsonb_typeof(e.offer) <> 'object'
      or (e.offer ->> 'departing_at') !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$'
      or (e.offer ->> 'arriving_at') !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$'
  ) then
    raise exception using
      errcode = '22023',
      message = 'every offer must be an object with local departing_at / arriving_at (no offset)';
  end if;

  v_decision := result ->> 'decision';
  if v_decision is null or v_decision not in ('offer_selected', 'no_acceptable_offer') then
    raise exception using
      errcode = '22023', message = 'field decision must be offer_selected or no_acceptable_offer';
  end if;

  if jsonb_typeof(result -> 'selected_provider_offer_id') not in ('string', 'null') then
    raise exception using errcode = '22023', message = 'field selected_provider_offer_id must be a string or null';
  end if;
  v_selected_poid := result ->> 'selected_provider_offer_id';
  if (v_decision = 'offer_selected') <> (v_selected_poid is not null) then
    raise exception using
      errcode = '22023', message = 'decision and selected_provider_offer_id disagree';
  end if;
  if v_selected_poid is not null and not exists (
    select 1 from jsonb_array_elements(v_offers) as e(offer)
    where e.offer ->> 'provider_offer_id' = v_selected_poid
  ) then
    raise exception using
      errcode = '22023', message = 'selected_provider_offer_id is not among the offers';
  end if;

  if jsonb_typeof(result -> 'next_check_at') not in ('string', 'null') then
    raise exception using errcode = '22023', message = 'field next_check_at must be a string or null';
  end if;
  v_next_check_at := (result ->> 'next_check_at')::timestamptz;

  if jsonb_typeof(result -> 'rejections') not in ('object', 'null') then
    raise exception using errcode = '22023', message = 'field rejections must be an object';
  end if;
  if jsonb_typeof(result -> 'offers_seen') not in ('number', 'null') then
    raise exception using errcode = '22023', message = 'field offers_seen must be a number';
  end if;

  select t.* into v_trip
  from public.trip_requests t
  where t.id = record_search.trip_id
  for update;

  if v_trip.id is null or not (app.caller_bypasses_rls() or v_trip.owner_id = auth.uid()) then
    raise exception using errcode = 'P0002', message = 'trip not found';
  end if;
  if v_trip.status not in ('searching', 'watching') then
    raise exception using
      errcode = '55000',
      message = format('trip is %s; search results are not accepted', v_trip.status);
  end if;

  -- Issue 8 item 1 (store less): of the offers in the result only these are stored:
  -- * the selected offer, with the provider's raw body (what the monitor books from);
  -- * the first pipeline_settings.offers_kept_per_search other offers in the core's order (the
  --   acceptable ones in selection order first), without raw: the compact alternatives;
  -- * the cheapest offer in the trip's currency (without raw unless it is the selected one), so
  --   "the best price seen" always names a stored offer.
  -- The best price and the number of offers seen go to public.price_history for every search.
  -- One statement; a provider_offer_id repeated within the result keeps its first (best-ranked)
  -- occurrence, since ON CONFLICT cannot touch the same row twice.
  select coalesce(s.offers_kept_per_search, 5) into v_keep from public.pipeline_settings s where s.id;
  v_keep := coalesce(v_keep, 5);

  with r as (
    select *
    from rows from (
      jsonb_to_recordset(v_offers) as (
        provider_offer_id text,
        total_minor bigint,
        currency text,
        cabin text,
        stops smallint,
        duration_minutes integer,
        departing_at timestamp,
        arriving_at timestamp,
        carriers text[],
        expires_at timestamptz,
        raw jsonb
      )
    ) with ordinality as r (
      provider_offer_id, total_minor, currency, cabin, stops, duration_minutes, departing_at,
      arriving_at, carriers, expires_at, raw, ord
    )
  ),
  d as (
    select distinct on (r.provider_offer_id) r.*
    from r
    order by r.provider_offer_id, r.ord
  ),
  ranked as (
    select d.*,
      d.provider_offer_id is not distinct from v_selected_poid as selected,
      row_number() over (
        partition by d.provider_offer_id is not distinct from v_selected_poid order by d.ord
      ) as alt_rank
    from d
  ),
  cheapest as (
    select d.ord from d where d.currency = v_trip.currency order by d.total_minor, d.ord limit 1
  )
  insert into public.flight_offers as f (
    trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops, duration_minutes,
    departing_at, arriving_at, carriers, expires_at, raw
  )
  select
    record_search.trip_id, v_provider, k.provider_offer_id, k.total_minor, k.currency, k.cabin,
    k.stops, k.duration_minutes, k.departing_at, k.arriving_at, k.carriers, k.expires_at,
    case when k.selected then nullif(k.raw, 'null'::jsonb) end
  from ranked k
  where k.selected or k.alt_rank <= v_keep or k.ord = (select c.ord from cheapest c)
  order by k.ord
  on conflict on constraint flight_offers_trip_provider_offer_key do update set
    total_minor = excluded.total_minor,
    currency = excluded.currency,
    cabin = excluded.cabin,
    stops = excluded.stops,
    duration_minutes = excluded.duration_minutes,
    departing_at = excluded.departing_at,
    arriving_at = excluded.arriving_at,
    carriers = excluded.carriers,
    expires_at = excluded.expires_at,
    raw = excluded.raw;
  get diagnostics v_stored = row_count;

  if v_selected_poid is not null then
    select f.* into v_selected
    from public.flight_offers f
    where f.trip_id = record_search.trip_id
      and f.provider = v_provider
      and f.provider_offer_id = v_selected_poid;
  end if;

  -- Issue 6 defect 12: an offer the airline declared gone (flight_offers.dead_at) is never
  -- selected again; the trip keeps watching without a selection and the next run searches.
  if v_selected.id is not null and v_selected.dead_at is not null then
    v_selected := null;
    v_decision := 'no_acceptable_offer';
  end if;

  update public.trip_requests t
  set
    status = 'watching',
    selected_offer_id = v_selected.id,
    next_check_at = v_next_check_at,
    check_count = t.check_count + 1,
    last_error_code = null
  where t.id = record_search.trip_id
  returning t.* into v_trip;

  if v_selected_poid is not null and v_selected.id is null then
    v_reason := 'selected_offer_dead';
  elsif v_decision = 'offer_selected' then
    v_reason := 'acceptable_offer_found';
  elsif coalesce((result ->> 'offers_seen')::numeric, jsonb_array_length(v_offers)) = 0 then
    v_reason := 'no_offers_returned';
  else
    select coalesce(
      (
        select r.key
        from jsonb_each(coalesce(nullif(result -> 'rejections', 'null'::jsonb), '{}'::jsonb)) as r
        where jsonb_typeof(r.value) = 'number' and (r.value #>> '{}')::numeric > 0
        order by (r.value #>> '{}')::numeric desc, r.key
        limit 1
      ),
      'no_acceptable_offer'
    ) into v_reason;
  end if;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    record_search.trip_id,
    'search',
    v_decision,
    v_reason,
    jsonb_strip_nulls(jsonb_build_object(
      'provider', v_provider,
      'offer_request_id', result -> 'offer_request_id',
      'offers_seen', result -> 'offers_seen',
      'offers_received', jsonb_array_length(v_offers),
      'offers_stored', v_stored,
      'rejections', coalesce(nullif(result -> 'rejections', 'null'::jsonb), '{}'::jsonb),
      'selected_offer_id', v_selected.id,
      'selected_total_minor', v_selected.total_minor,
      'selected_currency', v_selected.currency
    )),
    nullif(current_setting('app.correlation_id', true), '')
  );

  -- The price history point of this search: the best total in the trip's currency among ALL the
  -- offers of the result (stored or not), how many the provider returned, the selected total.
  select min(x.total_minor) into v_best
  from jsonb_to_recordset(v_offers) as x (total_minor bigint, currency text)
  where x.currency = v_trip.currency;
  insert into public.price_history (
    trip_id, observed_at, decision, offers_seen, best_total_minor, selected_total_minor, currency
  )
  values (
    record_search.trip_id,
    now(),
    v_decision,
    coalesce((result ->> 'offers_seen')::numeric, jsonb_array_length(v_offers))::integer,
    v_best,
    v_selected.total_minor,
    v_trip.currency
  );

  return jsonb_build_object(
    'trip', app.trip_json(v_trip),
    'selected_offer', case when v_selected.id is null then null else app.offer_json(v_selected) end
  );
end
$$;

revoke all on function app.record_search(uuid, jsonb) from public;
grant execute on function app.record_search(uuid, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- trip_watch_json: "prices" come from price_history (pipeline_events now have a retention).
-- Otherwise as in 20261202000100_travelers_and_trips_api.sql.
-- ---------------------------------------------------------------------------------------------
create or replace function app.trip_watch_json(t public.trip_requests, with_events boolean)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'trip', app.trip_json(t),
    'auto_book_paused', t.auto_book_paused,
    'cancel_requested', t.cancel_requested_at is not null,
    'selected_offer', (
      select app.offer_json(o) - 'raw' from public.flight_offers o where o.id = t.selected_offer_id),
    'booking', (
      select jsonb_build_object(
        'booking_reference', b.booking_reference, 'provider_order_id', b.provider_order_id,
        'amount_minor', b.amount_minor, 'currency', b.currency, 'status', b.status,
        'created_at', app.rfc3339(b.created_at))
      from public.bookings b where b.trip_id = t.id order by b.created_at desc limit 1),
    'attempt', (
      select jsonb_build_object('phase', a.phase, 'end', a.state #>> '{phase,end}')
      from public.booking_attempts a where a.trip_id = t.id and a.open),
    'prices', coalesce((
      select jsonb_agg(p.v order by p.at, p.id) from (
        select h.observed_at as at, h.id, jsonb_build_object(
          'at', app.rfc3339(h.observed_at),
          'decision', h.decision,
          'offers_seen', h.offers_seen,
          'best_total_minor', h.best_total_minor,
          'selected_total_minor', h.selected_total_minor,
          'currency', h.currency) as v
        from public.price_history h
        where h.trip_id = t.id
        order by h.observed_at desc, h.id desc
        limit 500
      ) as p), '[]'::jsonb)
  ) || case when with_events then jsonb_build_object('events', coalesce((
      select jsonb_agg(x.v order by x.at, x.id) from (
        select e.occurred_at as at, e.id, jsonb_build_object(
          'at', app.rfc3339(e.occurred_at),
          'stage', e.stage,
          'decision', e.decision,
          'reason', e.reason_code,
          'detail', e.detail || coalesce((
            select jsonb_strip_nulls(jsonb_build_object(
              'booking_reference', b.booking_reference,
              'carriers', to_jsonb(o.carriers),
              'departing_at', app.local_datetime(o.departing_at)))
            from public.booking_attempts a
            left join public.bookings b on b.attempt_id = a.id
            left join public.flight_offers o
              on o.trip_id = a.trip_id and o.provider = 'duffel' and o.provider_offer_id = a.state ->> 'offer_id'
            where e.stage = 'book' and a.id::text = e.detail ->> 'attempt_id'), '{}'::jsonb)) as v
        from public.pipeline_events e
        where e.trip_id = t.id
        order by e.occurred_at desc, e.id desc
        limit 500
      ) as x), '[]'::jsonb))
    else '{}'::jsonb end
$$;

revoke all on function app.trip_watch_json(public.trip_requests, boolean) from public, anon, authenticated, service_role;
