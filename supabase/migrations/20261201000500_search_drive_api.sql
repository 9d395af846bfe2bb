-- The trip-search SQL API in the drive API's one shape, `app.<fn>(args jsonb) returns jsonb`
-- (docs/contracts.md "The drive API"): the executor calls every function of the core's list the
-- same way. These are thin wrappers over the search API; they run as the caller (security
-- invoker), so the wrapped functions' ownership checks (auth.uid(), no existence leak) apply
-- unchanged.

-- search_open {"trip": <validated new trip>} | {"trip_id": uuid} -> {"trip": row | null}
create function app.search_open(args jsonb)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if jsonb_typeof(args) is distinct from 'object' or (args ? 'trip') = (args ? 'trip_id') then
    raise exception 'search_open takes {"trip": {...}} or {"trip_id": "<uuid>"}'
      using errcode = '22023';
  end if;
  if args ? 'trip' then
    return jsonb_build_object('trip', app.create_trip(args -> 'trip'));
  end if;
  return jsonb_build_object('trip', app.get_trip((args ->> 'trip_id')::uuid));
end
$$;

-- search_record {"trip_id", "result"} -> as app.record_search
create function app.search_record(args jsonb)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if jsonb_typeof(args -> 'result') is distinct from 'object' or not (args ? 'trip_id') then
    raise exception 'search_record takes {"trip_id", "result"}' using errcode = '22023';
  end if;
  return app.record_search((args ->> 'trip_id')::uuid, args -> 'result');
end
$$;

-- search_record_failure {"trip_id", "error_code", "next_check_at"} -> as app.record_search_failure
create function app.search_record_failure(args jsonb)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if not (args ? 'trip_id' and args ? 'error_code' and args ? 'next_check_at') then
    raise exception 'search_record_failure takes {"trip_id", "error_code", "next_check_at"}'
      using errcode = '22023';
  end if;
  return app.record_search_failure(
    (args ->> 'trip_id')::uuid,
    args ->> 'error_code',
    (args ->> 'next_check_at')::timestamptz
  );
end
$$;

revoke all on function app.search_open(jsonb) from public, anon;
revoke all on function app.search_record(jsonb) from public, anon;
revoke all on function app.search_record_failure(jsonb) from public, anon;
grant execute on function app.search_open(jsonb) to authenticated, service_role;
grant execute on function app.search_record(jsonb) to authenticated, service_role;
grant execute on function app.search_record_failure(jsonb) to authenticated, service_role;
