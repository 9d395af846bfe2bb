-- Trip API: app.create_trip and app.get_trip (docs/contracts.md "Trip request" / "Trip row"),
-- plus the JSON renderers shared with the search API.
--
-- Callers: the Edge Functions connect directly and, inside one transaction, act as the user the
-- way PostgREST does (set_config('role', 'authenticated', true) and
-- set_config('request.jwt.claims', '{"sub": …, "role": "authenticated"}', true)), or as
-- service_role for pipeline work. The functions are SECURITY DEFINER with an empty search_path
-- and do their own ownership checks. Error SQLSTATEs: see 20261122000100_app_schema.sql.

-- The trip row as JSON: every field of the trip request plus id, owner_id, status,
-- selected_offer_id, next_check_at, check_count, last_error_code, version, created_at,
-- updated_at. Dates are YYYY-MM-DD; instants are RFC 3339 UTC with milliseconds.
create function app.trip_json(t public.trip_requests)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', t.id,
    'owner_id', t.owner_id,
    'origin', t.origin,
    'destination', t.destination,
    'departure_date', to_char(t.departure_date, 'YYYY-MM-DD'),
    'return_date', to_char(t.return_date, 'YYYY-MM-DD'),
    'adults', t.adults,
    'child_ages', to_jsonb(t.child_ages),
    'cabin', t.cabin,
    'nonstop_only', t.nonstop_only,
    'max_total_minor', t.max_total_minor,
    'currency', t.currency,
    'auto_book', t.auto_book,
    'status', t.status,
    'selected_offer_id', t.selected_offer_id,
    'next_check_at', app.rfc3339(t.next_check_at),
    'check_count', t.check_count,
    'last_error_code', t.last_error_code,
    'version', t.version,
    'created_at', app.rfc3339(t.created_at),
    'updated_at', app.rfc3339(t.updated_at)
  )
$$;

-- An offer row as JSON (the shape of the search result's offers, plus id, trip_id, provider and
-- timestamps).
create function app.offer_json(o public.flight_offers)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', o.id,
    'trip_id', o.trip_id,
    'provider', o.provider,
    'provider_offer_id', o.provider_offer_id,
    'total_minor', o.total_minor,
    'currency', o.currency,
    'cabin', o.cabin,
    'stops', o.stops,
    'duration_minutes', o.duration_minutes,
    'departing_at', app.local_datetime(o.departing_at),
    'arriving_at', app.local_datetime(o.arriving_at),
    'carriers', to_jsonb(o.carriers),
    'expires_at', app.rfc3339(o.expires_at),
    'raw', o.raw,
    'created_at', app.rfc3339(o.created_at),
    'updated_at', app.rfc3339(o.updated_at)
  )
$$;

-- Creates a trip for the calling user (owner = auth.uid()) from the validated trip request JSON
-- and returns the trip row. The core has validated the request already; this re-checks the
-- shape (JSON types, unknown and missing fields) and the table constraints re-check the values.
create function app.create_trip(trip_request jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
  field_types constant jsonb := '{
    "origin": "string", "destination": "string", "departure_date": "string",
    "return_date": "string", "adults": "number", "child_ages": "array", "cabin": "string",
    "nonstop_only": "boolean", "max_total_minor": "number", "currency": "string",
    "auto_book": "boolean"
  }';
  required constant text[] := array[
    'origin', 'destination', 'departure_date', 'adults', 'cabin', 'max_total_minor', 'currency'
  ];
  k text;
  v jsonb;
  ages smallint[];
  created public.trip_requests;
begin
  if uid is null then
    raise exception using errcode = '28000', message = 'not authenticated: no user id in the JWT claims';
  end if;

  if trip_request is null or jsonb_typeof(trip_request) <> 'object' then
    raise exception using errcode = '22023', message = 'trip request must be a JSON object';
  end if;

  for k, v in select e.key, e.value from jsonb_each(trip_request) as e loop
    if not field_types ? k then
      raise exception using errcode = '22023', message = format('unknown field: %s', left(k, 64));
    end if;
    if jsonb_typeof(v) = 'null' then
      if k = any (required) then
        raise exception using errcode = '22023', message = format('field %s is required', k);
      end if;
    elsif jsonb_typeof(v) <> field_types ->> k then
      raise exception using
        errcode = '22023', message = format('field %s must be a JSON %s', k, field_types ->> k);
    end if;
  end loop;

  foreach k in array required loop
    if not trip_request ? k then
      raise exception using errcode = '22023', message = format('field %s is required', k);
    end if;
  end loop;

  foreach k in array array['departure_date', 'return_date'] loop
    if jsonb_typeof(trip_request -> k) = 'string' and (trip_request ->> k) !~ '^\d{4}-\d{2}-\d{2}$' then
      raise exception using errcode = '22007', message = format('field %s must be an ISO date (YYYY-MM-DD)', k);
    end if;
  end loop;

  foreach k in array array['adults', 'max_total_minor'] loop
    if (trip_request ->> k)::numeric <> trunc((trip_request ->> k)::numeric) then
      raise exception using errcode = '22023', message = format('field %s must be an integer', k);
    end if;
  end loop;

  if jsonb_typeof(trip_request -> 'child_ages') = 'array' then
    if exists (
      select 1 from jsonb_array_elements(trip_request -> 'child_ages') as a(age)
      where jsonb_typeof(a.age) <> 'number' or (a.age #>> '{}')::numeric <> trunc((a.age #>> '{}')::numeric)
    ) then
      raise exception using errcode = '22023', message = 'field child_ages must be an array of integers';
    end if;
    ages := array(
      select (a.age #>> '{}')::smallint
      from jsonb_array_elements(trip_request -> 'child_ages') with ordinality as a(age, n)
      order by a.n
    );
  else
    ages := '{}';
  end if;

  begin
    insert into public.trip_requests (
      owner_id, origin, destination, departure_date, return_date, adults, child_ages, cabin,
      nonstop_only, max_total_minor, currency, auto_book
    )
    values (
      uid,
      trip_request ->> 'origin',
      trip_request ->> 'destination',
      (trip_request ->> 'departure_date')::date,
      (trip_request ->> 'return_date')::date,
      (trip_request ->> 'adults')::smallint,
      ages,
      trip_request ->> 'cabin',
      coalesce((trip_request ->> 'nonstop_only')::boolean, false),
      (trip_request ->> 'max_total_minor')::bigint,
      trip_request ->> 'currency',
      coalesce((trip_request ->> 'auto_book')::boolean, false)
    )
    returning * into created;
  exception
    when foreign_key_violation then
      raise exception using errcode = '28000', message = 'not authenticated: unknown user';
  end;

  return app.trip_json(created);
end
$$;

-- The trip row as JSON, or null when it does not exist OR the caller does not own it (no
-- existence leak). Callers that bypass RLS (service_role, a privileged direct connection) may
-- read any trip.
create function app.get_trip(trip_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found public.trip_requests;
begin
  select t.* into found
  from public.trip_requests t
  where t.id = get_trip.trip_id
    and (app.caller_bypasses_rls() or t.owner_id = auth.uid());
  if found.id is null then
    return null;
  end if;
  return app.trip_json(found);
end
$$;

revoke all on function app.trip_json(public.trip_requests) from public;
revoke all on function app.offer_json(public.flight_offers) from public;
revoke all on function app.create_trip(jsonb) from public;
revoke all on function app.get_trip(uuid) from public;

grant execute on function app.create_trip(jsonb) to authenticated, service_role;
grant execute on function app.get_trip(uuid) to authenticated, service_role;
