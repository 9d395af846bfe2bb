-- Benchmark (a command, not a test): rows and bytes in public.flight_offers for ONE trip after
-- N searches (default 500) of 200 offers each, recorded through app.record_search exactly as the
-- monitor records them. Duffel offer ids change on every search, so each search brings 200 new
-- provider offer ids. Every raw body is about 4 KB of poorly compressible JSON (md5 strings in a
-- Duffel-shaped offer: slices, segments, conditions), the middle of the 2-16 KiB range the core
-- keeps. Each search is its own transaction (as in the monitor, so time passes between them); the
-- benchmark's user and trip are deleted at the end (and at the start, if a run was interrupted).
--
--   bash scripts/bench-offers.sh            # SEARCHES=500 OFFERS=200 by default
--
-- Prints, for the trip: rows and bytes (sum of pg_column_size over the rows, raw included as
-- stored: compressed where TOAST compressed it) right after the searches, and again after one
-- run of app.cleanup_offers() when that function exists (the cleanup job, normally hourly).
\set ON_ERROR_STOP on
\pset footer off
set client_min_messages = warning;
delete from auth.users where id = '00000000-0000-4000-8000-00000000be01';

insert into auth.users (id, aud, role, email, created_at, updated_at)
values ('00000000-0000-4000-8000-00000000be01', 'authenticated', 'authenticated',
  'bench@example.test', now(), now());

insert into public.trip_requests (
  id, owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency
) values (
  '00000000-0000-4000-8000-00000000be02', '00000000-0000-4000-8000-00000000be01', 'LHR', 'JFK',
  current_date + 90, 1, 'economy', 42000, 'GBP'
);

create function pg_temp.offer(p_search integer, p_n integer, p_depart date)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'provider_offer_id', format('off_%s_%s_%s', p_search, p_n, substr(md5(p_search || ':' || p_n), 1, 12)),
    'total_minor', 38000 + ((p_search * 7919 + p_n * 104729) % 30000),
    'currency', 'GBP',
    'cabin', 'economy',
    'stops', p_n % 2,
    'duration_minutes', 420 + p_n,
    'departing_at', to_char(p_depart, 'YYYY-MM-DD') || 'T09:00:00',
    'arriving_at', to_char(p_depart, 'YYYY-MM-DD') || 'T16:00:00',
    'carriers', jsonb_build_array('BA'),
    'expires_at', to_char((now() + interval '30 minutes') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'raw', jsonb_build_object(
      'id', format('off_%s_%s', p_search, p_n),
      'total_amount', '400.00', 'total_currency', 'GBP', 'base_amount', '310.00', 'tax_amount', '90.00',
      'owner', jsonb_build_object('iata_code', 'BA', 'name', 'British Airways', 'id', md5('owner' || p_n)),
      'conditions', jsonb_build_object(
        'refund_before_departure', jsonb_build_object('allowed', false, 'penalty_amount', null),
        'change_before_departure', jsonb_build_object('allowed', true, 'penalty_amount', '75.00')),
      'passengers', jsonb_build_array(jsonb_build_object('id', md5('pas' || p_search || p_n), 'type', 'adult')),
      'slices', (
        select jsonb_agg(jsonb_build_object(
          'id', md5('sli' || p_search || p_n || s),
          'fare_brand_name', 'Basic',
          'segments', (
            select jsonb_agg(jsonb_build_object(
              'id', md5('seg' || p_search || p_n || s || g),
              'aircraft', jsonb_build_object('name', 'Boeing 777-300', 'iata_code', '77W', 'id', md5('ac' || g)),
              'marketing_carrier_flight_number', (100 + g)::text,
              'operating_carrier', jsonb_build_object('iata_code', 'BA', 'id', md5('oc' || p_n)),
              'departing_at', to_char(p_depart, 'YYYY-MM-DD') || 'T09:00:00',
              'arriving_at', to_char(p_depart, 'YYYY-MM-DD') || 'T16:00:00',
              'origin', jsonb_build_object('iata_code', 'LHR', 'id', md5('o' || s || g)),
              'destination', jsonb_build_object('iata_code', 'JFK', 'id', md5('d' || s || g)),
              'passengers', jsonb_build_array(jsonb_build_object(
                'passenger_id', md5('pas' || p_search || p_n),
                'cabin_class', 'economy', 'fare_basis_code', upper(substr(md5('fb' || p_search || p_n || g), 1, 8)),
                'baggages', jsonb_build_array(jsonb_build_object('type', 'checked', 'quantity', 1)))),
              'stops', '[]'::jsonb))
            from generate_series(1, 2) g)))
        from generate_series(1, 2) s),
      'token', md5('tok' || p_search || p_n) || md5('tok2' || p_search || p_n)
    )
  )
$$;

create function pg_temp.search(p_search integer, p_offers integer)
returns void
language plpgsql
as $$
declare
  v_depart date := current_date + 90;
  v_offers jsonb;
begin
  select jsonb_agg(pg_temp.offer(p_search, n, v_depart) order by n) into v_offers
  from generate_series(1, p_offers) n;
  perform app.record_search('00000000-0000-4000-8000-00000000be02', jsonb_build_object(
    'provider', 'duffel',
    'offer_request_id', 'orq_bench_' || p_search,
    'offers_seen', p_offers,
    'offers', v_offers,
    'selected_provider_offer_id', v_offers -> 0 ->> 'provider_offer_id',
    'rejections', jsonb_build_object('over_budget', p_offers - 1),
    'decision', 'offer_selected',
    'next_check_at', to_char((now() + interval '2 hours') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  ));
end
$$;

\o /dev/null
select format('select pg_temp.search(%s, %s)', s, :offers) from generate_series(1, :searches) s \gexec
\o

select :'searches' as searches, :'offers' as offers_per_search, count(*) as rows,
  sum(pg_column_size(f.*)) as bytes, count(f.raw) as rows_with_raw,
  coalesce(sum(pg_column_size(f.raw)), 0) as raw_bytes
from public.flight_offers f where f.trip_id = '00000000-0000-4000-8000-00000000be02';

select exists (
  select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname = 'app' and p.proname = 'cleanup_offers'
) as has_cleanup \gset
\if :has_cleanup
select app.cleanup_offers(100000) -> 'counts' as cleaned \gset
\echo 'app.cleanup_offers():' :cleaned
select 'after app.cleanup_offers()' as "when", count(*) as rows, sum(pg_column_size(f.*)) as bytes,
  count(f.raw) as rows_with_raw, coalesce(sum(pg_column_size(f.raw)), 0) as raw_bytes
from public.flight_offers f where f.trip_id = '00000000-0000-4000-8000-00000000be02';
\endif

delete from auth.users where id = '00000000-0000-4000-8000-00000000be01';
