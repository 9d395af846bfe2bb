-- Issue 8 item 1 (migration 20261203000401_store_less.sql): app.record_search stores the
-- selected offer with raw, the first offers_kept_per_search alternatives and the cheapest offer
-- without raw, and one price_history point per search; the traveller reads the history through
-- app.trips_get / trips_list (and RLS), and price alerts carry the previous low
-- (20261203000402). Every date derives from now().
begin;
select plan(24);

create function pg_temp.day(n int) returns date language sql stable as $$ select current_date + n $$;
create function pg_temp.at(i interval) returns text language sql stable
as $$ select to_char((now() + i) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

insert into auth.users (id, email) values
  ('16016016-0000-4000-8000-000000000001', 'user-160a@example.test'),
  ('16016016-0000-4000-8000-000000000002', 'user-160b@example.test');

create function pg_temp.act_as(uid uuid)
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims',
    jsonb_build_object('sub', uid, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
end
$$;

-- A search result; offers as [provider_offer_id, total_minor, currency?] in the core's order.
create function pg_temp.result(offers jsonb, selected text, offers_seen int default null)
returns jsonb
language sql
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'provider', 'duffel',
    'offer_request_id', 'orq_160',
    'offers_seen', coalesce(offers_seen, jsonb_array_length(offers)),
    'offers', coalesce((
      select jsonb_agg(jsonb_build_object(
        'provider_offer_id', o ->> 0, 'total_minor', (o ->> 1)::bigint, 'currency', coalesce(o ->> 2, 'GBP'),
        'cabin', 'economy', 'stops', 0, 'duration_minutes', 490,
        'departing_at', pg_temp.day(100) + time '09:00', 'arriving_at', pg_temp.day(100) + time '12:10',
        'carriers', jsonb_build_array('ZZ'), 'expires_at', pg_temp.at('30 minutes'),
        'raw', jsonb_build_object('id', o ->> 0, 'pad', repeat('x', 200))
      ) order by n)
      from jsonb_array_elements(offers) with ordinality as e(o, n)
    ), '[]'::jsonb),
    'selected_provider_offer_id', selected,
    'rejections', '{}'::jsonb,
    'decision', case when selected is null then 'no_acceptable_offer' else 'offer_selected' end,
    'next_check_at', pg_temp.at('1 hour')
  ))
$$;

create temp table k (name text primary key, id uuid);
grant all on k to public;
with x as (
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('16016016-0000-4000-8000-000000000001', 'LHR', 'JFK', pg_temp.day(100), 1, 'economy', 42000, 'GBP')
  returning id)
insert into k select 'trip', id from x;

-- Search 1: 12 offers; the selected one first, the cheapest in GBP last, a cheaper one in USD.
select lives_ok($$ select app.record_search((select id from k where name = 'trip'), pg_temp.result(
  '[["s1_sel", 41000], ["s1_a1", 45000], ["s1_a2", 46000], ["s1_a3", 47000], ["s1_a4", 48000],
    ["s1_a5", 49000], ["s1_a6", 50000], ["s1_a7", 51000], ["s1_usd", 30000, "USD"], ["s1_a8", 52000],
    ["s1_a9", 53000], ["s1_cheap", 39000]]', 's1_sel', 229)) $$, 'a search of 12 offers is recorded');

select set_eq(
  $$ select provider_offer_id from public.flight_offers where trip_id = (select id from k where name = 'trip') $$,
  array['s1_sel', 's1_a1', 's1_a2', 's1_a3', 's1_a4', 's1_a5', 's1_cheap'],
  'stored: the selected offer, the first 5 alternatives in the core''s order and the cheapest in the trip''s currency');
select is(
  (select array_agg(provider_offer_id) from public.flight_offers
   where trip_id = (select id from k where name = 'trip') and raw is not null),
  array['s1_sel'], 'only the selected offer keeps its raw body');
select is((select raw ->> 'id' from public.flight_offers where provider_offer_id = 's1_sel'), 's1_sel',
  'the selected offer''s raw body is the provider''s');
select is(
  (select (detail ->> 'offers_stored')::int from public.pipeline_events
   where trip_id = (select id from k where name = 'trip') order by id desc limit 1),
  7, 'the search event counts the offers stored');
select is(
  (select best_total_minor from public.pipeline_events e, lateral (select (e.detail ->> 'best_total_minor')::bigint) b(best_total_minor)
   where e.trip_id = (select id from k where name = 'trip') order by e.id desc limit 1),
  39000::bigint, 'the event''s best price still names a stored offer');
select results_eq(
  $$ select decision, offers_seen, best_total_minor, selected_total_minor, currency, observed_at = now()
     from public.price_history where trip_id = (select id from k where name = 'trip') $$,
  $$ values ('offer_selected'::text, 229, 39000::bigint, 41000::bigint, 'GBP'::text, true) $$,
  'one price history point: decision, offers seen, best GBP total of ALL offers, selected total, time');

-- Search 2: fewer alternatives kept; the old selection is now an alternative and loses its raw.
update public.pipeline_settings set offers_kept_per_search = 1;
select lives_ok($$ select app.record_search((select id from k where name = 'trip'), pg_temp.result(
  '[["s2_sel", 40000], ["s1_sel", 41500], ["s2_a2", 43000], ["s2_a3", 44000]]', 's2_sel', 4)) $$,
  'a second search is recorded');
select set_eq(
  $$ select provider_offer_id from public.flight_offers
     where trip_id = (select id from k where name = 'trip') and updated_at = now() and provider_offer_id like 's2%' $$,
  array['s2_sel'], 'with offers_kept_per_search = 1 only the selected one of the new ids ...');
select is((select raw from public.flight_offers where provider_offer_id = 's1_sel'), null,
  '... and the first alternative (the old selection, now without raw) are stored');
select is((select total_minor from public.flight_offers where provider_offer_id = 's1_sel'), 41500::bigint,
  'an alternative seen again is updated in place');

update public.pipeline_settings set offers_kept_per_search = 0;
select lives_ok($$ select app.record_search((select id from k where name = 'trip'), pg_temp.result(
  '[["s3_a1", 99000], ["s3_a2", 98000]]', null, 2)) $$, 'a search with nothing acceptable');
select set_eq(
  $$ select provider_offer_id from public.flight_offers
     where trip_id = (select id from k where name = 'trip') and provider_offer_id like 's3%' $$,
  array['s3_a2'], 'with no selection and 0 alternatives, only the cheapest offer is stored');
update public.pipeline_settings set offers_kept_per_search = 5;

select lives_ok($$ select app.record_search((select id from k where name = 'trip'), pg_temp.result('[]', null, 0)) $$,
  'an empty search');
select results_eq(
  $$ select decision, offers_seen, best_total_minor, selected_total_minor from public.price_history
     where trip_id = (select id from k where name = 'trip') order by id $$,
  $$ values ('offer_selected'::text, 229, 39000::bigint, 41000::bigint), ('offer_selected', 4, 40000, 40000),
       ('no_acceptable_offer', 2, 98000, null), ('no_acceptable_offer', 0, null, null) $$,
  'every search is a price point, with or without offers');
select lives_ok($$ select app.record_search_failure((select id from k where name = 'trip'), 'provider_unavailable',
  now() + interval '5 minutes') $$, 'a failed search');
select is((select count(*)::int from public.price_history where trip_id = (select id from k where name = 'trip')), 4,
  'a failed search saw no price: no point');

-- The traveller reads the history; another user does not.
select pg_temp.act_as('16016016-0000-4000-8000-000000000001');
select is(
  (select jsonb_path_query_array(app.trips_get(jsonb_build_object('trip_id', (select id from k where name = 'trip'))),
     '$.trip.prices[*].best_total_minor')),
  '[39000, 40000, 98000, null]'::jsonb, 'trips_get shows the price history, oldest first');
select is(
  (select jsonb_path_query_array(app.trips_list('{}'), '$.trips[0].prices[*].offers_seen')),
  '[229, 4, 2, 0]'::jsonb, 'trips_list shows it too');
select is((select count(*)::int from public.price_history), 4, 'the owner reads their points (RLS)');
select pg_temp.act_as('16016016-0000-4000-8000-000000000002');
select is((select count(*)::int from public.price_history), 0, 'another user reads none');
select throws_ok($$ insert into public.price_history (trip_id, decision, offers_seen, currency)
  values ((select id from k where name = 'trip'), 'offer_selected', 1, 'GBP') $$,
  '42501', null, 'users cannot write price history');
reset role;

-- Price alerts carry the previous low of the history (a watch without auto-book alerts).
select lives_ok($$ select app.record_search((select id from k where name = 'trip'), pg_temp.result(
  '[["s5_sel", 37000], ["s5_a1", 45000]]', 's5_sel', 2)) $$, 'a cheaper search');
select is(
  (select payload from public.notifications
   where trip_id = (select id from k where name = 'trip') and template = 'price_alert' and payload ->> 'amount_minor' = '37000'),
  '{"amount_minor": 37000, "currency": "GBP", "target_minor": 42000, "previous_low_minor": 39000, "previous_checks": 4}'::jsonb,
  'the price alert names the lowest price before it and how many checks that covers');

select * from finish();
rollback;
