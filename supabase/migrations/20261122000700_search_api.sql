-- Search API: app.record_search and app.record_search_failure (docs/contracts.md "Search result").
--
-- Both: the caller must own the trip or bypass RLS (service_role); otherwise P0002, exactly as for
-- a trip that does not exist. Both take the trip's row lock first, so concurrent writers
-- serialise, and accept results only while the trip is `searching` or `watching` (55000
-- otherwise): a search that finishes while the monitor is booking, or after the trip ended, must
-- not move the trip back to `watching`. Everything happens in the caller's single transaction.
-- An optional correlation id for the event row is read from the transaction-local setting
-- `app.correlation_id` (set_config('app.correlation_id', '<id>', true)).

-- Upserts the offers (one statement), sets the selected offer, status `watching`,
-- next_check_at, check_count + 1, clears last_error_code, bumps version (trigger), writes a
-- `pipeline_events` row (stage `search`) and returns {"trip": …, "selected_offer": …|null}.
--
-- reason_code of the event: `acceptable_offer_found` when an offer was selected; otherwise
-- `no_offers_returned` when the provider returned none, else the rejection reason with the
-- largest count (ties: alphabetical), else `no_acceptable_offer`.
create function app.record_search(trip_id uuid, result jsonb)
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

  -- One statement; a provider_offer_id repeated within the result keeps its first (best-ranked)
  -- occurrence, since ON CONFLICT cannot touch the same row twice.
  insert into public.flight_offers as f (
    trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops, duration_minutes,
    departing_at, arriving_at, carriers, expires_at, raw
  )
  select distinct on (r.provider_offer_id)
    record_search.trip_id, v_provider, r.provider_offer_id, r.total_minor, r.currency, r.cabin,
    r.stops, r.duration_minutes, r.departing_at, r.arriving_at, r.carriers, r.expires_at,
    nullif(r.raw, 'null'::jsonb)
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
  order by r.provider_offer_id, r.ord
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

  update public.trip_requests t
  set
    status = 'watching',
    selected_offer_id = v_selected.id,
    next_check_at = v_next_check_at,
    check_count = t.check_count + 1,
    last_error_code = null
  where t.id = record_search.trip_id
  returning t.* into v_trip;

  if v_decision = 'offer_selected' then
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

  return jsonb_build_object(
    'trip', app.trip_json(v_trip),
    'selected_offer', case when v_selected.id is null then null else app.offer_json(v_selected) end
  );
end
$$;

-- Records a failed search: keeps the status (a new trip stays `searching`), sets last_error_code
-- and next_check_at, bumps version (trigger), writes a `pipeline_events` row (stage `search`,
-- decision `search_failed`, reason_code = the error code) and returns
-- {"trip": …, "selected_offer": <the currently selected offer>|null}.
create function app.record_search_failure(trip_id uuid, error_code text, next_check_at timestamptz)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_trip public.trip_requests;
  v_selected public.flight_offers;
begin
  if error_code is null then
    raise exception using errcode = '22023', message = 'error_code is required';
  end if;

  select t.* into v_trip
  from public.trip_requests t
  where t.id = record_search_failure.trip_id
  for update;

  if v_trip.id is null or not (app.caller_bypasses_rls() or v_trip.owner_id = auth.uid()) then
    raise exception using errcode = 'P0002', message = 'trip not found';
  end if;
  if v_trip.status not in ('searching', 'watching') then
    raise exception using
      errcode = '55000',
      message = format('trip is %s; search results are not accepted', v_trip.status);
  end if;

  update public.trip_requests t
  set
    last_error_code = record_search_failure.error_code,
    next_check_at = record_search_failure.next_check_at
  where t.id = record_search_failure.trip_id
  returning t.* into v_trip;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    record_search_failure.trip_id,
    'search',
    'search_failed',
    record_search_failure.error_code,
    '{}'::jsonb,
    nullif(current_setting('app.correlation_id', true), '')
  );

  if v_trip.selected_offer_id is not null then
    select f.* into v_selected from public.flight_offers f where f.id = v_trip.selected_offer_id;
  end if;

  return jsonb_build_object(
    'trip', app.trip_json(v_trip),
    'selected_offer', case when v_selected.id is null then null else app.offer_json(v_selected) end
  );
end
$$;

revoke all on function app.record_search(uuid, jsonb) from public;
revoke all on function app.record_search_failure(uuid, text, timestamptz) from public;

grant execute on function app.record_search(uuid, jsonb) to authenticated, service_role;
grant execute on function app.record_search_failure(uuid, text, timestamptz) to authenticated, service_role;
