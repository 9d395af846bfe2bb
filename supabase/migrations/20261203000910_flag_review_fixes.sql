-- Review of the feature-flag gate (findings 2 and 3b; docs/flags in docs/operations.md).
--
-- 2. A JSON null in allow_users / deny_users became a NULL uuid in the list, which the
--    monitor's flag snapshot cannot read. REPLACED app.set_feature_flag (from
--    20261202000500_feature_flags_schema.sql): every element must be a string UUID (22023
--    otherwise); and check constraint feature_flags_lists_no_null (no NULL element, whoever
--    writes). NULL elements already stored are removed first.
-- 3b. REPLACED app.monitor_begin_attempt (latest from 20261201000200_attempt_limit_dead_offers.sql):
--    under the trip lock it checks app.auto_booking_allowed(owner) and answers
--    {"started": false, "reason": "auto_booking_flag_off"} when auto-booking is off for the
--    owner or the kill switch is on, whatever flag snapshot (or none) the driver had.

update public.feature_flags f
set allow_users = array_remove(f.allow_users, null), deny_users = array_remove(f.deny_users, null)
where array_position(f.allow_users, null) is not null or array_position(f.deny_users, null) is not null;

alter table public.feature_flags
  add constraint feature_flags_lists_no_null check (
    array_position(allow_users, null) is null and array_position(deny_users, null) is null);

create or replace function app.set_feature_flag(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_name text;
  v_actor text;
  v_reason text;
  v_before public.feature_flags;
  v_after public.feature_flags;
  v_key text;
begin
  if args is null or jsonb_typeof(args) <> 'object' then
    raise exception using errcode = '22023', message = 'arguments must be a JSON object';
  end if;
  for v_key in select jsonb_object_keys(args) loop
    if v_key not in ('name', 'actor', 'reason', 'enabled', 'rollout_bp', 'allow_users', 'deny_users',
                     'description', 'lifetime') then
      raise exception using errcode = '22023', message = format('unknown field %s', v_key);
    end if;
  end loop;
  v_name := args ->> 'name';
  v_actor := args ->> 'actor';
  v_reason := args ->> 'reason';
  if jsonb_typeof(args -> 'name') is distinct from 'string' then
    raise exception using errcode = '22023', message = 'field name must be a string';
  end if;
  if jsonb_typeof(args -> 'actor') is distinct from 'string' or v_actor !~ '^[A-Za-z0-9_:.-]{1,100}$' then
    raise exception using errcode = '22023', message = 'field actor must be an id (letters, digits, _:.-, at most 100)';
  end if;
  if jsonb_typeof(args -> 'reason') is distinct from 'string' or char_length(btrim(v_reason)) = 0
     or char_length(v_reason) > 500 then
    raise exception using errcode = '22023', message = 'field reason must be a non-empty string of at most 500 characters';
  end if;
  if args ? 'enabled' and jsonb_typeof(args -> 'enabled') <> 'boolean' then
    raise exception using errcode = '22023', message = 'field enabled must be a boolean';
  end if;
  if args ? 'rollout_bp' and (jsonb_typeof(args -> 'rollout_bp') <> 'number'
     or (args ->> 'rollout_bp') !~ '^[0-9]{1,5}$' or (args ->> 'rollout_bp')::int > 10000) then
    raise exception using errcode = '22023', message = 'field rollout_bp must be an integer from 0 to 10000';
  end if;
  if args ? 'allow_users' and jsonb_typeof(args -> 'allow_users') <> 'array' then
    raise exception using errcode = '22023', message = 'field allow_users must be an array of user ids';
  end if;
  if args ? 'deny_users' and jsonb_typeof(args -> 'deny_users') <> 'array' then
    raise exception using errcode = '22023', message = 'field deny_users must be an array of user ids';
  end if;
  -- Finding 2: every element a string (a JSON null would become a NULL uuid, which the monitor's
  -- flag snapshot cannot read).
  if exists (
    select 1 from jsonb_array_elements(case when args ? 'allow_users' then args -> 'allow_users' else '[]' end) x
    where jsonb_typeof(x) <> 'string'
    union all
    select 1 from jsonb_array_elements(case when args ? 'deny_users' then args -> 'deny_users' else '[]' end) x
    where jsonb_typeof(x) <> 'string'
  ) then
    raise exception using errcode = '22023', message = 'user ids must be UUIDs';
  end if;
  if args ? 'description' and jsonb_typeof(args -> 'description') <> 'string' then
    raise exception using errcode = '22023', message = 'field description must be a string';
  end if;
  if args ? 'lifetime' and (args ->> 'lifetime') is distinct from 'temporary'
     and (args ->> 'lifetime') is distinct from 'permanent' then
    raise exception using errcode = '22023', message = 'field lifetime must be temporary or permanent';
  end if;

  select f.* into v_before from public.feature_flags f where f.name = v_name for update;
  if v_before.name is null then
    raise exception using errcode = 'P0002', message = format('unknown flag %s', v_name);
  end if;

  begin
    update public.feature_flags f set
      enabled = coalesce((args ->> 'enabled')::boolean, f.enabled),
      rollout_bp = coalesce((args ->> 'rollout_bp')::int, f.rollout_bp),
      allow_users = case when args ? 'allow_users'
        then array(select distinct x::uuid from jsonb_array_elements_text(args -> 'allow_users') x order by 1)
        else f.allow_users end,
      deny_users = case when args ? 'deny_users'
        then array(select distinct x::uuid from jsonb_array_elements_text(args -> 'deny_users') x order by 1)
        else f.deny_users end,
      description = coalesce(args ->> 'description', f.description),
      lifetime = coalesce(args ->> 'lifetime', f.lifetime),
      updated_by = v_actor,
      updated_at = now()
    where f.name = v_name
    returning f.* into v_after;
  exception
    when invalid_text_representation then
      raise exception using errcode = '22023', message = 'user ids must be UUIDs';
    when check_violation then
      raise exception using errcode = '22023', message = 'flag values out of range (lists at most 1000 ids, description at most 500 characters)';
  end;

  insert into public.feature_flag_audit (flag, changed_by, reason, before, after)
  values (v_name, v_actor, v_reason, to_jsonb(v_before), to_jsonb(v_after));

  return to_jsonb(v_after);
end;
$$;

revoke all on function app.set_feature_flag(jsonb) from public, anon, authenticated;
grant execute on function app.set_feature_flag(jsonb) to service_role;

create or replace function app.monitor_begin_attempt(args jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  -- Finding 11: at most c_limit attempts that held money or were refused for the traveller's
  -- reasons per trip within c_window (defect 3 of issue 6).
  c_limit constant integer := 3;
  c_window constant interval := interval '24 hours';
  v_trip_id uuid;
  v_version bigint;
  v_state jsonb;
  v_attempt_id uuid;
  v_trip public.trip_requests;
  v_enabled boolean;
  v_recent integer;
  v_constraint text;
begin
  perform app.monitor_args(args, array['trip_id', 'trip_version', 'state']);
  v_trip_id := app.arg_uuid(args, 'trip_id');
  v_version := app.arg_int(args, 'trip_version', 1, 9223372036854775807);
  v_state := args -> 'state';
  if jsonb_typeof(v_state) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'field state must be an AttemptState object';
  end if;
  v_attempt_id := app.arg_uuid(v_state, 'attempt_id');
  if app.arg_uuid(v_state, 'trip_id') <> v_trip_id then
    raise exception using errcode = '22023', message = 'state.trip_id differs from trip_id';
  end if;
  if v_state #>> '{phase,name}' = 'closed' then
    raise exception using errcode = '22023', message = 'an attempt cannot begin closed';
  end if;

  select s.monitor_enabled into v_enabled from public.pipeline_settings s where s.id;
  if v_enabled is distinct from true then
    return jsonb_build_object('started', false, 'reason', 'monitor_disabled');
  end if;

  select t.* into v_trip from public.trip_requests t where t.id = v_trip_id for update;
  if v_trip.id is null then
    return jsonb_build_object('started', false, 'reason', 'trip_changed');
  end if;
  if exists (select 1 from public.booking_attempts a where a.trip_id = v_trip_id and a.open) then
    return jsonb_build_object('started', false, 'reason', 'attempt_open');
  end if;
  if v_trip.status <> 'watching' or v_trip.version <> v_version then
    return jsonb_build_object('started', false, 'reason', 'trip_changed');
  end if;

  -- Finding 3b: the kill switch and the rollout, under the trip lock, whatever snapshot the
  -- driver had. FOR SHARE on the two flags orders this with app.set_feature_flag (FOR UPDATE):
  -- a switch committed before this point is seen; one being written waits for this attempt.
  perform 1 from public.feature_flags f
  where f.name in ('auto_booking', 'auto_booking_kill_switch') for share;
  if not app.auto_booking_allowed(v_trip.owner_id) then
    return jsonb_build_object('started', false, 'reason', 'auto_booking_flag_off');
  end if;

  -- Issue 6 defect 3: only attempts that held money (Stripe named a PaymentIntent: an
  -- authorization, or a card refusal naming one) or ended for the traveller's reasons
  -- (needs_traveller: decline, authentication required) count. An attempt a Stripe or Duffel
  -- outage ended before any money moved does not.
  select count(*) into v_recent
  from public.booking_attempts a
  where a.trip_id = v_trip_id and a.created_at > now() - c_window
    and (a.payment_intent is not null or a.state #>> '{phase,end}' = 'needs_traveller');
  if v_recent >= c_limit then
    update public.trip_requests t
    set status = 'failed', next_check_at = null, last_error_code = 'too_many_attempts'
    where t.id = v_trip_id;

    insert into public.notifications (trip_id, owner_id, template, dedupe_key)
    values (v_trip_id, v_trip.owner_id, 'could_not_book', v_trip_id::text || '-too_many_attempts')
    on conflict on constraint notifications_dedupe_key_key do nothing;

    insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
    values (
      v_trip_id, 'monitor', 'fail', 'too_many_attempts',
      jsonb_build_object(
        'attempts', v_recent, 'limit', c_limit, 'window_hours', 24, 'from_status', v_trip.status
      ),
      nullif(current_setting('app.correlation_id', true), '')
    );
    return jsonb_build_object('started', false, 'reason', 'attempt_limit');
  end if;

  begin
    update public.trip_requests t
    set status = 'booking'
    where t.id = v_trip_id and t.version = v_version and t.status = 'watching';

    insert into public.booking_attempts (id, trip_id, state, version, open, phase)
    values (v_attempt_id, v_trip_id, v_state, 1, true, 'reprice');
  exception
    when unique_violation then
      get stacked diagnostics v_constraint = constraint_name;
      if v_constraint = 'booking_attempts_one_open_per_trip' then
        return jsonb_build_object('started', false, 'reason', 'attempt_open');
      end if;
      raise;
  end;

  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (
    v_trip_id, 'book', 'attempt_started', null,
    jsonb_strip_nulls(jsonb_build_object(
      'attempt_id', v_attempt_id,
      'offer_id', left(v_state ->> 'offer_id', 255),
      'max_total_minor', v_state #> '{max_total,amount_minor}',
      'currency', v_state #> '{max_total,currency}'
    )),
    nullif(current_setting('app.correlation_id', true), '')
  );
  return jsonb_build_object('started', true);
end
$$;

revoke all on function app.monitor_begin_attempt(jsonb) from public, anon, authenticated;
grant execute on function app.monitor_begin_attempt(jsonb) to service_role;
