-- The SQL API of docs/contracts.md: app.create_trip, app.get_trip, app.record_search,
-- app.record_search_failure.
begin;
select plan(57);

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

insert into auth.users (id, email) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'user-a@example.test');
-- Auto-booking needs a default card and a consent covering the trip (20261202000200).
insert into public.payment_profiles (owner_id, stripe_customer_id, stripe_payment_method_id)
values ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_taaaaaaaa00004000800000000000000a', 'pm_card_visa');
insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
values ('aaaaaaaa-0000-4000-8000-00000000000a', 'pm_card_visa', 1000000000000, 'GBP', 'pgTAP consent', 'test');

create function pg_temp.act_as(uid uuid)
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object('sub', uid, 'role', 'authenticated')::text, true);
end
$$;

-- A search result per the contract; offers given as (provider_offer_id, total_minor) pairs.
create function pg_temp.result(
  offers jsonb,
  selected text,
  rejections jsonb default '{"expired": 0, "currency_mismatch": 0, "over_budget": 0, "cabin_mismatch": 0, "too_many_stops": 0}',
  offers_seen int default 229
)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'provider', 'duffel',
    'offer_request_id', 'orq_0000AEdGRhtp5AUUdJqMxa',
    'offers_seen', offers_seen,
    'offers', coalesce((
      select jsonb_agg(jsonb_build_object(
        'provider_offer_id', o ->> 0, 'total_minor', (o ->> 1)::bigint, 'currency', 'GBP',
        'cabin', 'economy', 'stops', 0, 'duration_minutes', 490,
        'departing_at', pg_temp.day(100) + time '09:00', 'arriving_at', pg_temp.day(100) + time '12:10',
        'carriers', jsonb_build_array('ZZ'), 'expires_at', pg_temp.at('30 minutes'),
        'raw', jsonb_build_object('id', o ->> 0)
      ) order by n)
      from jsonb_array_elements(offers) with ordinality as e(o, n)
    ), '[]'::jsonb),
    'selected_provider_offer_id', selected,
    'rejections', rejections,
    'decision', case when selected is null then 'no_acceptable_offer' else 'offer_selected' end,
    'next_check_at', pg_temp.at('1 hour')
  )
$$;

create temp table v (k text primary key, j jsonb);
grant all on v to public;

select pg_temp.act_as('aaaaaaaa-0000-4000-8000-00000000000a');

-- create_trip ----------------------------------------------------------------------------------
insert into v values ('trip', app.create_trip(pg_temp.dated(
  '{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","return_date":null,
    "adults":1,"child_ages":[],"cabin":"economy","nonstop_only":true,
    "max_total_minor":42000,"currency":"GBP","auto_book":true}')::jsonb));

select is(
  (select j - 'id' - 'created_at' - 'updated_at' from v where k = 'trip'),
  pg_temp.dated('{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","return_date":null,
    "adults":1,"child_ages":[],"cabin":"economy","nonstop_only":true,
    "max_total_minor":42000,"currency":"GBP","auto_book":true,
    "owner_id":"aaaaaaaa-0000-4000-8000-00000000000a","status":"searching","selected_offer_id":null,
    "next_check_at":null,"check_count":0,"last_error_code":null,"version":1}')::jsonb,
  'create_trip stores the request for the caller and returns the trip row');
select matches((select j ->> 'created_at' from v where k = 'trip'), '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$',
  'timestamps are RFC 3339 UTC with milliseconds');
select is((select owner_id::text from public.trip_requests where id = (select (j ->> 'id')::uuid from v where k = 'trip')),
  'aaaaaaaa-0000-4000-8000-00000000000a', 'the stored owner is auth.uid()');

select is(
  app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"CDG","departure_date":"{{day+100}}","return_date":"{{day+107}}",
    "adults":2,"child_ages":[0,7],"cabin":"business","max_total_minor":150000,"currency":"EUR"}')::jsonb)
    - 'id' - 'created_at' - 'updated_at' - 'owner_id' - 'status' - 'selected_offer_id' - 'next_check_at'
    - 'check_count' - 'last_error_code' - 'version',
  pg_temp.dated('{"origin":"LHR","destination":"CDG","departure_date":"{{day+100}}","return_date":"{{day+107}}",
    "adults":2,"child_ages":[0,7],"cabin":"business","nonstop_only":false,"max_total_minor":150000,
    "currency":"EUR","auto_book":false}')::jsonb,
  'optional fields default (nonstop_only, auto_book false) and child ages keep their order');

select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP","pets":2}')::jsonb) $$,
  '22023', 'unknown field: pets', 'unknown fields are rejected');
select throws_ok($$ select app.create_trip(pg_temp.dated('{"destination":"JFK","departure_date":"{{day+100}}","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP"}')::jsonb) $$,
  '22023', 'field origin is required', 'a missing required field is rejected');
select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":null,"destination":"JFK","departure_date":"{{day+100}}","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP"}')::jsonb) $$,
  '22023', 'field origin is required', 'a null required field is rejected');
select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","adults":"1","cabin":"economy","max_total_minor":42000,"currency":"GBP"}')::jsonb) $$,
  '22023', 'field adults must be a JSON number', 'JSON types are checked');
select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP","auto_book":"yes"}')::jsonb) $$,
  '22023', 'field auto_book must be a JSON boolean', 'booleans must be JSON booleans');
select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","adults":1,"cabin":"economy","max_total_minor":420.5,"currency":"GBP"}')::jsonb) $$,
  '22023', 'field max_total_minor must be an integer', 'money must be integer minor units');
select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","adults":1,"child_ages":[3.5],"cabin":"economy","max_total_minor":42000,"currency":"GBP"}')::jsonb) $$,
  '22023', 'field child_ages must be an array of integers', 'child ages must be integers');
select throws_ok($$ select app.create_trip(format('{"origin":"LHR","destination":"JFK","departure_date":"%s","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP"}', to_char(pg_temp.day(100), 'DD/MM/YYYY'))::jsonb) $$,
  '22007', 'field departure_date must be an ISO date (YYYY-MM-DD)', 'dates must be ISO');
select throws_ok($$ select app.create_trip(format('{"origin":"LHR","destination":"JFK","departure_date":"%s-02-30","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP"}', to_char(pg_temp.day(365), 'YYYY'))::jsonb) $$,
  '22008', null, 'impossible dates are rejected');
select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"LHR","departure_date":"{{day+100}}","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP"}')::jsonb) $$,
  '23514', 'new row for relation "trip_requests" violates check constraint "trip_requests_origin_ne_destination"',
  'table constraints re-validate the values');
select throws_ok($$ select app.create_trip('[1]') $$, '22023', 'trip request must be a JSON object',
  'the request must be an object');

select pg_temp.act_as('cccccccc-0000-4000-8000-00000000000c');
select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP"}')::jsonb) $$,
  '28000', 'not authenticated: unknown user', 'a user id that is not in auth.users is refused');
select set_config('request.jwt.claims', '{"role":"authenticated"}', true);
select throws_ok($$ select app.create_trip(pg_temp.dated('{"origin":"LHR","destination":"JFK","departure_date":"{{day+100}}","adults":1,"cabin":"economy","max_total_minor":42000,"currency":"GBP"}')::jsonb) $$,
  '28000', 'not authenticated: no user id in the JWT claims', 'a caller without a user id is refused');
select pg_temp.act_as('aaaaaaaa-0000-4000-8000-00000000000a');

-- get_trip -------------------------------------------------------------------------------------
select is(app.get_trip((select (j ->> 'id')::uuid from v where k = 'trip')), (select j from v where k = 'trip'),
  'get_trip returns the same trip row as create_trip');

-- record_search: first search ------------------------------------------------------------------
select set_config('app.correlation_id', 'req_01J9ZQ', true);
insert into v values ('s1', app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_1", 22178], ["off_2", 30000]]', 'off_1')));

select is((select j #>> '{trip,status}' from v where k = 's1'), 'watching', 'a recorded search moves the trip to watching');
select is((select j #>> '{trip,version}' from v where k = 's1'), '2', 'version is bumped');
select is((select j #>> '{trip,check_count}' from v where k = 's1'), '1', 'check_count is incremented');
select is((select j #>> '{trip,next_check_at}' from v where k = 's1'), pg_temp.at('1 hour'), 'next_check_at is set');
select is((select j #>> '{selected_offer,provider_offer_id}' from v where k = 's1'), 'off_1', 'the selected offer is returned');
select is((select j #>> '{trip,selected_offer_id}' from v where k = 's1'), (select j #>> '{selected_offer,id}' from v where k = 's1'),
  'the trip points at the selected offer');
select is(
  (select (j -> 'selected_offer') - 'id' - 'trip_id' - 'created_at' - 'updated_at' from v where k = 's1'),
  pg_temp.dated('{"provider":"duffel","provider_offer_id":"off_1","total_minor":22178,"currency":"GBP","cabin":"economy",
    "stops":0,"duration_minutes":490,"departing_at":"{{day+100}}T09:00:00","arriving_at":"{{day+100}}T12:10:00",
    "carriers":["ZZ"],"expires_at":"{{now+30 minutes}}","raw":{"id":"off_1"}}')::jsonb,
  'the offer row round-trips the contract''s offer fields');
select is((select count(*) from public.flight_offers where trip_id = (select (j ->> 'id')::uuid from v where k = 'trip')),
  2::bigint, 'both offers are stored');
select results_eq(
  $$ select stage, decision, reason_code, correlation_id, (detail ->> 'offers_stored')::int, detail ->> 'offer_request_id'
     from public.pipeline_events where trip_id = (select (j ->> 'id')::uuid from v where k = 'trip') $$,
  $$ values ('search', 'offer_selected', 'acceptable_offer_found', 'req_01J9ZQ', 2, 'orq_0000AEdGRhtp5AUUdJqMxa') $$,
  'a pipeline event records the search decision');

-- record_search: the same offer again at a new price ------------------------------------------
insert into v values ('s2', app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_1", 21000], ["off_3", 25000]]', 'off_1')));
select is((select count(*) from public.flight_offers where trip_id = (select (j ->> 'id')::uuid from v where k = 'trip')),
  3::bigint, 'the same provider offer id twice gives one row');
select is((select total_minor from public.flight_offers where provider_offer_id = 'off_1'), 21000::bigint,
  'the upsert updates the price');
select is((select j #>> '{selected_offer,id}' from v where k = 's2'), (select j #>> '{selected_offer,id}' from v where k = 's1'),
  'the offer keeps its id across searches');
select is((select j #>> '{selected_offer,total_minor}' from v where k = 's2'), '21000', 'the returned selected offer has the new price');
select is((select j #>> '{trip,version}' from v where k = 's2'), '3', 'version is bumped again');
select is((select j #>> '{trip,check_count}' from v where k = 's2'), '2', 'check_count is incremented again');

-- record_search: duplicates within one result keep the first (best-ranked) -----------------------
select lives_ok($$ select app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_4", 19000], ["off_4", 99000]]', 'off_4')) $$, 'a result repeating an offer id is accepted');
select is((select total_minor from public.flight_offers where provider_offer_id = 'off_4'), 19000::bigint,
  'the first occurrence of a repeated offer id wins');

-- record_search: nothing acceptable ------------------------------------------------------------
insert into v values ('s3', app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_5", 90000]]', null, '{"expired": 2, "currency_mismatch": 0, "over_budget": 5, "cabin_mismatch": 5, "too_many_stops": 1}')));
select is((select j -> 'selected_offer' from v where k = 's3'), 'null'::jsonb, 'no acceptable offer returns selected_offer null');
select is((select j #>> '{trip,selected_offer_id}' from v where k = 's3'), null, 'and clears the trip''s selection');
select is((select reason_code from public.pipeline_events order by id desc limit 1), 'cabin_mismatch',
  'the reason is the most frequent rejection (ties alphabetical)');

select lives_ok($$ select app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[]', null, '{}', 0)) $$, 'an empty result is accepted');
select is((select reason_code from public.pipeline_events order by id desc limit 1), 'no_offers_returned',
  'an empty result is recorded as no_offers_returned');

-- record_search: bad input changes nothing -----------------------------------------------------
insert into v values ('before', app.get_trip((select (j ->> 'id')::uuid from v where k = 'trip')));
select throws_ok($$ select app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_6", 20000], ["off_7", 0]]', 'off_6')) $$,
  '23514', 'new row for relation "flight_offers" violates check constraint "flight_offers_total_positive"',
  'an invalid offer fails the whole call');
select is(app.get_trip((select (j ->> 'id')::uuid from v where k = 'trip')), (select j from v where k = 'before'),
  '... and leaves the trip as it was');
select is((select count(*) from public.flight_offers where provider_offer_id = 'off_6'), 0::bigint,
  '... and stores none of its offers');
select throws_ok($$ select app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_1", 20000]]', 'off_9')) $$,
  '22023', 'selected_provider_offer_id is not among the offers', 'the selected offer must be in the result');
select throws_ok($$ select app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_1", 20000]]', null) || '{"decision": "offer_selected"}') $$,
  '22023', 'decision and selected_provider_offer_id disagree', 'decision and selection must agree');
select throws_ok($$ select app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  jsonb_set(pg_temp.result('[["off_1", 20000]]', 'off_1'), '{offers,0,departing_at}', pg_temp.dated('"{{day+100}}T09:00:00Z"')::jsonb)) $$,
  '22023', 'every offer must be an object with local departing_at / arriving_at (no offset)',
  'offer times must be local (no offset)');
select throws_ok($$ select app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result((select jsonb_agg(jsonb_build_array('off_' || i, 1000 + i)) from generate_series(1, 201) i), null)) $$,
  '22023', 'field offers holds more than 200 offers', 'at most 200 offers');
select throws_ok($$ select app.record_search(gen_random_uuid(), pg_temp.result('[]', null)) $$,
  'P0002', 'trip not found', 'a missing trip is not found');

-- record_search_failure ------------------------------------------------------------------------
insert into v values ('new', app.create_trip(pg_temp.dated('{"origin":"MAN","destination":"DUB","departure_date":"{{day+150}}","adults":1,"cabin":"economy","max_total_minor":9000,"currency":"GBP"}')::jsonb));
insert into v values ('f1', app.record_search_failure((select (j ->> 'id')::uuid from v where k = 'new'),
  'provider_unavailable', pg_temp.at('5 minutes')::timestamptz));
select is(
  (select (j -> 'trip') - 'id' - 'created_at' - 'updated_at' - 'owner_id' - 'origin' - 'destination' - 'departure_date'
     - 'return_date' - 'adults' - 'child_ages' - 'cabin' - 'nonstop_only' - 'max_total_minor' - 'currency' - 'auto_book'
   from v where k = 'f1'),
  pg_temp.dated('{"status":"searching","selected_offer_id":null,"next_check_at":"{{now+5 minutes}}","check_count":0,
    "last_error_code":"provider_unavailable","version":2}')::jsonb,
  'a failed first search keeps searching, records the error and the next check, bumps version');
select is((select j -> 'selected_offer' from v where k = 'f1'), 'null'::jsonb, 'no selected offer yet');
select results_eq(
  $$ select decision, reason_code from public.pipeline_events where trip_id = (select (j ->> 'id')::uuid from v where k = 'new') $$,
  $$ values ('search_failed', 'provider_unavailable') $$,
  'the failure is logged as an event');
select throws_ok($$ select app.record_search_failure((select (j ->> 'id')::uuid from v where k = 'new'), 'Provider down!', now()) $$,
  '23514', 'new row for relation "trip_requests" violates check constraint "trip_requests_last_error_code_format"',
  'error codes must be snake_case');

insert into v values ('s4', app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_1", 20500]]', 'off_1')));
insert into v values ('f2', app.record_search_failure((select (j ->> 'id')::uuid from v where k = 'trip'), 'provider_bad_response', null));
select is((select j #>> '{trip,status}' from v where k = 'f2'), 'watching', 'a failure keeps watching');
select is((select j #>> '{selected_offer,provider_offer_id}' from v where k = 'f2'), 'off_1', 'and returns the current selected offer');
insert into v values ('s5', app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'),
  pg_temp.result('[["off_1", 20500]]', 'off_1')));
select is((select j #>> '{trip,last_error_code}' from v where k = 's5'), null, 'a later successful search clears last_error_code');

-- Results are refused once the trip has moved on -------------------------------------------------
select set_config('role', 'service_role', true);
update public.trip_requests set status = 'booking' where id = (select (j ->> 'id')::uuid from v where k = 'trip');
select throws_ok($$ select app.record_search((select (j ->> 'id')::uuid from v where k = 'trip'), pg_temp.result('[]', null)) $$,
  '55000', 'trip is booking; search results are not accepted', 'a search cannot pull a trip out of booking');
select throws_ok($$ select app.record_search_failure((select (j ->> 'id')::uuid from v where k = 'trip'), 'provider_unavailable', now()) $$,
  '55000', 'trip is booking; search results are not accepted', 'nor can a search failure');

select * from finish();
rollback;
