-- Table invariants: each CHECK / key rejects the rows it exists to reject.
-- Run: supabase test db, or pg_prove -h 127.0.0.1 -p <port> -U postgres -d postgres -r supabase/tests
begin;
select plan(47);

-- Dates relative to the transaction's clock, so the file means the same on any day:
-- pg_temp.day(n) is current_date + n; pg_temp.at(i) is now() + i as RFC 3339 UTC with
-- milliseconds; pg_temp.dated(text) replaces {{day+N}} with pg_temp.day(N) (YYYY-MM-DD) and
-- {{now+INTERVAL}} with pg_temp.at(INTERVAL) (the sign may be - too), for JSON written as text.
create function pg_temp.day(n int) returns date language sql stable as $$ select current_date + n $$;
create function pg_temp.at(i interval) returns text language sql stable
as $$ select to_char((now() + i) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
create function pg_temp.dated(s text) returns text language plpgsql stable as $$
declare
  m text[];
begin
  for m in select regexp_matches(s, '\{\{(day|now)([+-][^}]+)\}\}', 'g') loop
    s := replace(s, '{{' || m[1] || m[2] || '}}', case m[1]
      when 'day' then to_char(pg_temp.day(m[2]::int), 'YYYY-MM-DD') else pg_temp.at(m[2]::interval) end);
  end loop;
  return s;
end
$$;

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'user-a@example.test'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'user-b@example.test');
-- Auto-booking needs a default card and a consent covering the trip (20261202000200).
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_taaaaaaaa00004000800000000000000a', 'pm_card_visa');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('aaaaaaaa-0000-4000-8000-00000000000a', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');

-- Inserts a trip for user A: a valid default row with `overrides` applied; returns its id.
create function pg_temp.trip(overrides jsonb default '{}')
returns uuid
language plpgsql
as $$
declare
  r public.trip_requests;
  new_id uuid;
begin
  r := jsonb_populate_record(null::public.trip_requests, jsonb_build_object(
    'owner_id', 'aaaaaaaa-0000-4000-8000-00000000000a', 'origin', 'LHR', 'destination', 'JFK',
    'departure_date', pg_temp.day(100), 'return_date', null, 'adults', 1, 'child_ages', '{}',
    'cabin', 'economy', 'nonstop_only', true, 'max_total_minor', 42000, 'currency', 'GBP',
    'auto_book', true, 'status', 'searching', 'check_count', 0
  ) || overrides);
  insert into public.trip_requests (
    owner_id, origin, destination, departure_date, return_date, adults, child_ages, cabin,
    nonstop_only, max_total_minor, currency, auto_book, status, selected_offer_id, check_count,
    last_error_code
  ) values (
    r.owner_id, r.origin, r.destination, r.departure_date, r.return_date, r.adults, r.child_ages,
    r.cabin, r.nonstop_only, r.max_total_minor, r.currency, r.auto_book, r.status,
    r.selected_offer_id, r.check_count, r.last_error_code
  ) returning id into new_id;
  return new_id;
end
$$;

-- Inserts an offer for `trip` with `overrides` applied; returns its id.
create function pg_temp.offer(trip uuid, overrides jsonb default '{}')
returns uuid
language plpgsql
as $$
declare
  r public.flight_offers;
  new_id uuid;
begin
  r := jsonb_populate_record(null::public.flight_offers, jsonb_build_object(
    'trip_id', trip, 'provider', 'duffel', 'provider_offer_id', 'off_' || md5(random()::text),
    'total_minor', 22178, 'currency', 'GBP', 'cabin', 'economy', 'stops', 0,
    'duration_minutes', 490, 'departing_at', pg_temp.day(100) + time '09:00',
    'arriving_at', pg_temp.day(100) + time '12:10', 'carriers', '{ZZ}',
    'expires_at', pg_temp.at('30 minutes'), 'raw', '{"id": "off_x"}'
  ) || overrides);
  insert into public.flight_offers (
    trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops, duration_minutes,
    departing_at, arriving_at, carriers, expires_at, raw
  ) values (
    r.trip_id, r.provider, r.provider_offer_id, r.total_minor, r.currency, r.cabin, r.stops,
    r.duration_minutes, r.departing_at, r.arriving_at, r.carriers, r.expires_at, r.raw
  ) returning id into new_id;
  return new_id;
end
$$;

create function pg_temp.event(trip uuid, overrides jsonb default '{}')
returns void
language plpgsql
as $$
declare
  r public.pipeline_events;
begin
  r := jsonb_populate_record(null::public.pipeline_events, jsonb_build_object(
    'trip_id', trip, 'stage', 'search', 'decision', 'offer_selected',
    'reason_code', 'acceptable_offer_found', 'detail', '{"offers_seen": 3}'::jsonb, 'correlation_id', 'req_123'
  ) || overrides);
  insert into public.pipeline_events (trip_id, stage, decision, reason_code, detail, correlation_id)
  values (r.trip_id, r.stage, r.decision, r.reason_code, r.detail, r.correlation_id);
end
$$;

-- trip_requests ------------------------------------------------------------------------------
select lives_ok($$ select pg_temp.trip() $$, 'a valid trip is accepted');
select lives_ok(
  $$ select pg_temp.trip(pg_temp.dated('{"return_date": "{{day+108}}", "adults": 2, "child_ages": [0, 1, 17], "cabin": "premium_economy", "max_total_minor": 1000000000000}')::jsonb) $$,
  'a valid round trip with children and infants at the limits is accepted'
);

select throws_ok($$ select pg_temp.trip('{"origin": "lhr"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_origin_iata"',
  'origin must be three upper-case letters (lower case rejected)');
select throws_ok($$ select pg_temp.trip('{"origin": "LHRX"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_origin_iata"',
  'origin must be exactly three letters');
select throws_ok($$ select pg_temp.trip('{"destination": "J1K"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_destination_iata"',
  'destination must be three upper-case letters');
select throws_ok($$ select pg_temp.trip('{"destination": "LHR"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_origin_ne_destination"',
  'origin and destination must differ');
select throws_ok($$ select pg_temp.trip(jsonb_build_object('return_date', pg_temp.day(99))) $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_return_after_departure"',
  'return date before departure is rejected');
select lives_ok($$ select pg_temp.trip(jsonb_build_object('return_date', pg_temp.day(100))) $$,
  'return on the departure day is accepted');
select throws_ok($$ select pg_temp.trip('{"adults": 0}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_adults_range"',
  'zero adults rejected');
select throws_ok($$ select pg_temp.trip('{"adults": 10}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_adults_range"',
  'ten adults rejected');
select throws_ok($$ select pg_temp.trip('{"child_ages": [18]}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_child_ages_range"',
  'a child aged 18 rejected');
select throws_ok($$ select pg_temp.trip('{"child_ages": [-1]}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_child_ages_range"',
  'a negative child age rejected');
select throws_ok($$ select pg_temp.trip('{"child_ages": [5, null]}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_child_ages_range"',
  'a null child age rejected');
select throws_ok($$ select pg_temp.trip('{"adults": 5, "child_ages": [3, 4, 5, 6, 7]}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_passengers_max"',
  'more than nine passengers rejected');
select throws_ok($$ select pg_temp.trip('{"adults": 1, "child_ages": [0, 1]}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_infants_le_adults"',
  'more infants than adults rejected');
select throws_ok($$ select pg_temp.trip('{"cabin": "luxury"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_cabin_known"',
  'unknown cabin rejected');
select throws_ok($$ select pg_temp.trip('{"max_total_minor": 0}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_max_total_positive"',
  'zero maximum total rejected');
select throws_ok($$ select pg_temp.trip('{"max_total_minor": -100}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_max_total_positive"',
  'negative maximum total rejected');
select throws_ok($$ select pg_temp.trip('{"max_total_minor": 1000000000001}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_max_total_positive"',
  'maximum total above 10^12 rejected');
select throws_ok($$ select pg_temp.trip('{"currency": "gbp"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_currency_iso"',
  'lower-case currency rejected');
select throws_ok($$ select pg_temp.trip('{"status": "pending"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_status_known"',
  'unknown status rejected');
select throws_ok($$ select pg_temp.trip('{"status": "booking"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_booking_has_offer"',
  'booking without a selected offer rejected');
select throws_ok($$ select pg_temp.trip('{"last_error_code": "Provider down for jane@example.com"}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_last_error_code_format"',
  'free text (possible PII) in last_error_code rejected');
select throws_ok($$ select pg_temp.trip('{"check_count": -1}') $$, '23514',
  'new row for relation "trip_requests" violates check constraint "trip_requests_check_count_nonnegative"',
  'negative check_count rejected');
select throws_ok($$ select pg_temp.trip('{"owner_id": "cccccccc-0000-4000-8000-00000000000c"}') $$, '23503',
  null, 'owner must exist in auth.users');

-- flight_offers -------------------------------------------------------------------------------
create temp table fixture as select pg_temp.trip() as trip_a, pg_temp.trip() as trip_a2;
grant select on fixture to public;

select lives_ok($$ select pg_temp.offer((select trip_a from fixture), '{"provider_offer_id": "off_1"}') $$,
  'a valid offer is accepted');
select lives_ok(
  $$ select pg_temp.offer((select trip_a from fixture), pg_temp.dated('{"provider_offer_id": "off_2", "departing_at": "{{day+100}}T21:00:00", "arriving_at": "{{day+100}}T09:00:00", "expires_at": null, "raw": null, "carriers": "{NH,UA}"}')::jsonb) $$,
  'an offer arriving at an earlier local time (date line), without expiry or raw, is accepted');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"total_minor": 0}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_total_positive"',
  'zero total rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"total_minor": -5}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_total_positive"',
  'negative total rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"currency": "GB"}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_currency_iso"',
  'two-letter currency rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"cabin": "luxury"}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_cabin_known"',
  'unknown offer cabin rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"stops": -1}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_stops_range"',
  'negative stops rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"duration_minutes": 0}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_duration_positive"',
  'zero duration rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"carriers": "{}"}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_carriers_format"',
  'an offer without carriers rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"carriers": "{zz}"}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_carriers_format"',
  'lower-case carrier code rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"provider": "Duffel API"}') $$, '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_provider_format"',
  'provider must be a snake_case code');
select throws_ok(
  format($$ select pg_temp.offer((select trip_a from fixture), jsonb_build_object('raw', jsonb_build_object('blob', %L))) $$, repeat('x', 40000)),
  '23514',
  'new row for relation "flight_offers" violates check constraint "flight_offers_raw_bounded"',
  'an oversized raw offer rejected');
select throws_ok($$ select pg_temp.offer((select trip_a from fixture), '{"provider_offer_id": "off_1"}') $$, '23505',
  'duplicate key value violates unique constraint "flight_offers_trip_provider_offer_key"',
  'the same provider offer id twice for one trip rejected');
select lives_ok($$ select pg_temp.offer((select trip_a2 from fixture), '{"provider_offer_id": "off_1"}') $$,
  'the same provider offer id for another trip is accepted');
select throws_ok(
  $$ update public.trip_requests set status = 'watching',
       selected_offer_id = (select id from public.flight_offers where trip_id = (select trip_a2 from fixture))
     where id = (select trip_a from fixture) $$,
  '23503', null, 'a trip cannot select another trip''s offer');
select lives_ok(
  $$ update public.trip_requests set status = 'watching',
       selected_offer_id = (select id from public.flight_offers where trip_id = (select trip_a from fixture) and provider_offer_id = 'off_1')
     where id = (select trip_a from fixture) $$,
  'a trip can select its own offer');

-- pipeline_events -----------------------------------------------------------------------------
select lives_ok($$ select pg_temp.event((select trip_a from fixture)) $$, 'a valid event is accepted');
select throws_ok($$ select pg_temp.event((select trip_a from fixture), '{"stage": "Search Stage"}') $$, '23514',
  'new row for relation "pipeline_events" violates check constraint "pipeline_events_stage_format"',
  'stage must be a snake_case code');
select throws_ok($$ select pg_temp.event((select trip_a from fixture), '{"decision": "booked for Jane Doe"}') $$, '23514',
  'new row for relation "pipeline_events" violates check constraint "pipeline_events_decision_format"',
  'decision must be a snake_case code');
select throws_ok($$ select pg_temp.event((select trip_a from fixture), '{"reason_code": "jane@example.com"}') $$, '23514',
  'new row for relation "pipeline_events" violates check constraint "pipeline_events_reason_code_format"',
  'reason code cannot carry free text');
select throws_ok($$ select pg_temp.event((select trip_a from fixture), '{"detail": [1, 2]}') $$, '23514',
  'new row for relation "pipeline_events" violates check constraint "pipeline_events_detail_object"',
  'detail must be a JSON object');
select throws_ok($$ select pg_temp.event((select trip_a from fixture), '{"correlation_id": "has spaces"}') $$, '23514',
  'new row for relation "pipeline_events" violates check constraint "pipeline_events_correlation_id_format"',
  'correlation id must be an opaque token');

select * from finish();
rollback;
