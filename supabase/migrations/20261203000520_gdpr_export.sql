-- GDPR Art. 20: export my data (issue 8 item 4).
--
-- privacy_export {"section"?, "after"?, "limit"?} (user) -> {"section", "items": [...], "next":
-- {"section", "after"} | null}: one page of one section of everything stored about the caller,
-- in a fixed order. The `privacy` function streams the pages into one JSON document (see
-- docs/privacy.md for the document's shape), so no export is ever held in memory whole. Every
-- query is scoped to auth.uid(): another user's rows cannot appear (28000 without a caller).
--
-- Sections: account (auth.users: id, email, phone, dates, metadata), profiles (travelers,
-- decrypted), consents, payment_profile (Stripe ids), trips (criteria and status), price_history
-- (every search's best price), offers (the flight offers kept, with raw bodies), bookings,
-- payments (booking attempts: amounts, currency, phase, Stripe PaymentIntent, order), decision_log
-- (pipeline_events), notifications (template, status, dates, delivery), erasure (a running
-- erasure request, if any); and what the pipeline noted about the caller's trips: disputes
-- (chargebacks Stripe reported), price_alerts (the last price alerted), suppressions (their
-- address is on the bounce/complaint list; the reason and date, never the hash),
-- provider_events (Duffel order events), operator_alerts (what operators were asked to look
-- at). tests pgTAP 172 fails when a table holding user-linked rows is not exported.
-- Pages: `after` is the last item's key of the page before; a page shorter than its limit ends
-- its section.

create function app.privacy_export(args jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  sections constant text[] := array[
    'account', 'profiles', 'consents', 'payment_profile', 'trips', 'price_history', 'offers',
    'bookings', 'payments', 'disputes', 'decision_log', 'price_alerts', 'notifications',
    'suppressions', 'provider_events', 'operator_alerts', 'erasure'];
  v_uid uuid := auth.uid();
  v_section text := coalesce(args ->> 'section', 'account');
  v_after text := args ->> 'after';
  v_limit integer;
  v_items jsonb;
  v_count integer;
  v_last text;
  v_pos integer;
begin
  if v_uid is null then
    raise exception using errcode = '28000', message = 'a signed-in user is required';
  end if;
  if jsonb_typeof(args) is distinct from 'object'
    or exists (select 1 from jsonb_object_keys(args) k where k not in ('section', 'after', 'limit')) then
    raise exception using errcode = '22023', message = 'args must be {section?, after?, limit?}';
  end if;
  v_pos := array_position(sections, v_section);
  if v_pos is null then
    raise exception using errcode = '22023', message = 'unknown export section';
  end if;
  v_limit := coalesce((args ->> 'limit')::integer, case v_section when 'offers' then 25 else 200 end);
  if v_limit not between 1 and 1000 then
    raise exception using errcode = '22023', message = 'limit must be 1 to 1000';
  end if;
  if v_after is not null and v_section in ('decision_log', 'price_history', 'operator_alerts')
    and v_after !~ '^[0-9]{1,18}$' then
    raise exception using errcode = '22023', message = 'after must be an event id';
  end if;
  if v_after is not null and v_section in ('disputes', 'suppressions', 'provider_events')
    and v_after !~ '^[A-Za-z0-9_]{1,255}$' then
    raise exception using errcode = '22023', message = 'after must be a row id';
  end if;
  if v_after is not null
    and v_section not in ('decision_log', 'price_history', 'operator_alerts', 'disputes', 'suppressions', 'provider_events')
    and v_after !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    raise exception using errcode = '22023', message = 'after must be a row id';
  end if;

  case v_section
  when 'account' then
    select coalesce(jsonb_agg(jsonb_build_object(
        'id', u.j -> 'id', 'email', u.j -> 'email', 'phone', u.j -> 'phone',
        'created_at', u.j -> 'created_at', 'last_sign_in_at', u.j -> 'last_sign_in_at',
        'is_anonymous', u.j -> 'is_anonymous', 'user_metadata', u.j -> 'raw_user_meta_data')), '[]'::jsonb),
      count(*), max(u.j ->> 'id')
    into v_items, v_count, v_last
    from (select to_jsonb(x) as j from auth.users x where x.id = v_uid and v_after is null) u;
  when 'profiles' then
    select coalesce(jsonb_agg(app.traveler_view(p.t, null) order by (p.t).id), '[]'::jsonb), count(*),
      max((p.t).id::text)
    into v_items, v_count, v_last
    from (select t from public.travelers t
          where t.owner_id = v_uid and (v_after is null or t.id > v_after::uuid)
          order by t.id limit v_limit) p;
  when 'consents' then
    select coalesce(jsonb_agg(to_jsonb(p) - 'owner_id' order by p.id), '[]'::jsonb), count(*), max(p.id::text)
    into v_items, v_count, v_last
    from (select c.* from public.consents c
          where c.owner_id = v_uid and (v_after is null or c.id > v_after::uuid)
          order by c.id limit v_limit) p;
  when 'payment_profile' then
    select coalesce(jsonb_agg(to_jsonb(p) - 'owner_id'), '[]'::jsonb), count(*), max(p.owner_id::text)
    into v_items, v_count, v_last
    from public.payment_profiles p where p.owner_id = v_uid and v_after is null;
  when 'trips' then
    select coalesce(jsonb_agg(to_jsonb(p) - 'owner_id' order by p.id), '[]'::jsonb), count(*), max(p.id::text)
    into v_items, v_count, v_last
    from (select t.* from public.trip_requests t
          where t.owner_id = v_uid and (v_after is null or t.id > v_after::uuid)
          order by t.id limit v_limit) p;
  when 'price_history' then
    select coalesce(jsonb_agg(jsonb_build_object(
        'trip_id', p.trip_id, 'at', app.rfc3339(p.observed_at), 'decision', p.decision,
        'offers_seen', p.offers_seen, 'best_total_minor', p.best_total_minor,
        'selected_total_minor', p.selected_total_minor, 'currency', p.currency)
        order by p.id), '[]'::jsonb), count(*), max(p.id)::text
    into v_items, v_count, v_last
    from (select h.* from public.price_history h
          join public.trip_requests t on t.id = h.trip_id
          where t.owner_id = v_uid and (v_after is null or h.id > v_after::bigint)
          order by h.id limit v_limit) p;
  when 'offers' then
    select coalesce(jsonb_agg(to_jsonb(p) order by p.id), '[]'::jsonb), count(*), max(p.id::text)
    into v_items, v_count, v_last
    from (select o.* from public.flight_offers o
          join public.trip_requests t on t.id = o.trip_id
          where t.owner_id = v_uid and (v_after is null or o.id > v_after::uuid)
          order by o.id limit v_limit) p;
  when 'bookings' then
    select coalesce(jsonb_agg(to_jsonb(p) order by p.id), '[]'::jsonb), count(*), max(p.id::text)
    into v_items, v_count, v_last
    from (select b.* from public.bookings b
          join public.trip_requests t on t.id = b.trip_id
          where t.owner_id = v_uid and (v_after is null or b.id > v_after::uuid)
          order by b.id limit v_limit) p;
  when 'payments' then
    select coalesce(jsonb_agg(jsonb_build_object(
        'attempt_id', p.id, 'trip_id', p.trip_id, 'phase', p.phase, 'open', p.open,
        'end', p.state #>> '{phase,end}', 'amount_minor', p.amount_minor, 'currency', p.currency,
        'payment_intent', p.payment_intent, 'order_id', p.order_id, 'reason', p.reason,
        'created_at', app.rfc3339(p.created_at), 'updated_at', app.rfc3339(p.updated_at))
        order by p.id), '[]'::jsonb), count(*), max(p.id::text)
    into v_items, v_count, v_last
    from (select a.* from public.booking_attempts a
          join public.trip_requests t on t.id = a.trip_id
          where t.owner_id = v_uid and (v_after is null or a.id > v_after::uuid)
          order by a.id limit v_limit) p;
  when 'decision_log' then
    select coalesce(jsonb_agg(jsonb_build_object(
        'id', p.id, 'trip_id', p.trip_id, 'at', app.rfc3339(p.occurred_at), 'stage', p.stage,
        'decision', p.decision, 'reason', p.reason_code, 'detail', p.detail) order by p.id), '[]'::jsonb),
      count(*), max(p.id)::text
    into v_items, v_count, v_last
    from (select e.* from public.pipeline_events e
          join public.trip_requests t on t.id = e.trip_id
          where t.owner_id = v_uid and (v_after is null or e.id > v_after::bigint)
          order by e.id limit v_limit) p;
  when 'notifications' then
    select coalesce(jsonb_agg(jsonb_build_object(
        'id', p.id, 'trip_id', p.trip_id, 'template', p.template, 'status', p.status,
        'subject', to_jsonb(p) -> 'subject',
        'created_at', app.rfc3339(p.created_at), 'sent_at', app.rfc3339(p.sent_at),
        'delivery', p.delivery, 'delivered_at', app.rfc3339(p.delivered_at),
        'bounced_at', app.rfc3339(p.bounced_at), 'complained_at', app.rfc3339(p.complained_at),
        'dead_reason', p.dead_reason, 'attempts', p.attempts) order by p.id), '[]'::jsonb),
      count(*), max(p.id::text)
    into v_items, v_count, v_last
    from (select n.* from public.notifications n
          where n.owner_id = v_uid and (v_after is null or n.id > v_after::uuid)
          order by n.id limit v_limit) p;
  when 'disputes' then
    select coalesce(jsonb_agg(to_jsonb(p) - 'event_id' order by p.id), '[]'::jsonb), count(*), max(p.id)
    into v_items, v_count, v_last
    from (select d.* from public.stripe_disputes d
          join public.trip_requests t on t.id = d.trip_id
          where t.owner_id = v_uid and (v_after is null or d.id > v_after)
          order by d.id limit v_limit) p;
  when 'price_alerts' then
    select coalesce(jsonb_agg(to_jsonb(p) order by p.trip_id), '[]'::jsonb), count(*), max(p.trip_id::text)
    into v_items, v_count, v_last
    from (select a.* from public.price_alerts a
          join public.trip_requests t on t.id = a.trip_id
          where t.owner_id = v_uid and (v_after is null or a.trip_id > v_after::uuid)
          order by a.trip_id limit v_limit) p;
  when 'suppressions' then
    select coalesce(jsonb_agg(jsonb_build_object('reason', p.reason, 'created_at', app.rfc3339(p.created_at))
        order by p.address_hash), '[]'::jsonb), count(*), max(p.address_hash)
    into v_items, v_count, v_last
    from (select e.* from public.email_suppressions e
          where (e.notification_id in (select n.id from public.notifications n where n.owner_id = v_uid)
              or e.address_hash = (select app.email_hash(u.email) from auth.users u
                                   where u.id = v_uid and u.email is not null))
            and (v_after is null or e.address_hash > v_after)
          order by e.address_hash limit v_limit) p;
  when 'provider_events' then
    select coalesce(jsonb_agg(to_jsonb(p) order by p.id), '[]'::jsonb), count(*), max(p.id)
    into v_items, v_count, v_last
    from (select d.* from public.duffel_webhook_events d
          join public.trip_requests t on t.id = d.trip_id
          where t.owner_id = v_uid and (v_after is null or d.id > v_after)
          order by d.id limit v_limit) p;
  when 'operator_alerts' then
    select coalesce(jsonb_agg(jsonb_build_object('id', p.id, 'trip_id', p.trip_id, 'attempt_id', p.attempt_id,
        'reason', p.reason, 'source', p.source, 'created_at', app.rfc3339(p.created_at),
        'resolved_at', app.rfc3339(p.resolved_at)) order by p.id), '[]'::jsonb), count(*), max(p.id)::text
    into v_items, v_count, v_last
    from (select o.* from public.operator_alerts o
          join public.trip_requests t on t.id = o.trip_id
          where t.owner_id = v_uid and (v_after is null or o.id > v_after::bigint)
          order by o.id limit v_limit) p;
  when 'erasure' then
    select coalesce(jsonb_agg(jsonb_build_object(
        'id', r.id, 'step', r.step, 'requested_via', r.requested_via,
        'created_at', app.rfc3339(r.created_at))), '[]'::jsonb), count(*), max(r.id::text)
    into v_items, v_count, v_last
    from public.erasure_requests r where r.user_id = v_uid and v_after is null;
  end case;

  return jsonb_build_object(
    'section', v_section,
    'items', v_items,
    'next', case
      when v_count >= v_limit and v_section not in ('account', 'payment_profile', 'erasure')
        then jsonb_build_object('section', v_section, 'after', v_last)
      when v_pos < cardinality(sections)
        then jsonb_build_object('section', sections[v_pos + 1], 'after', null)
      else null end);
end
$$;

revoke all on function app.privacy_export(jsonb) from public, anon, authenticated;
grant execute on function app.privacy_export(jsonb) to authenticated, service_role;
