-- Identity documents and infants (issue 6, defect 4; 20261201000400_traveler_documents.sql):
-- app.create_traveler takes an optional identity document, stored encrypted apart from `pii`;
-- app.monitor_passengers returns it; the claim's selected offer carries the raw offer's
-- passenger facts (ids, types, ages, passenger_identity_documents_required). Dates derive from
-- now().
begin;
select plan(14);

insert into auth.users (id, email) values ('dddddddd-0000-4000-8000-00000000000d', 'user-d@example.test');
select vault.create_secret('pgtap-only-traveler-key-0123456789', 'traveler_data_key')
where not exists (select 1 from vault.secrets where name = 'traveler_data_key');

create temp table k (name text primary key, id uuid);
grant all on k to public;

-- A family trip (1 adult, an infant of 1) a month from now, with a selected offer whose raw
-- Duffel offer requires documents; and a trip whose offer kept no raw offer.
do $$
declare
  v_trip uuid;
  v_plain uuid;
  v_offer uuid;
  v_day date := (now() + interval '30 days')::date;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, child_ages, cabin, max_total_minor, currency)
  values ('dddddddd-0000-4000-8000-00000000000d', 'LHR', 'CDG', v_day, 1, '{1}', 'economy', 90000, 'GBP')
  returning id into v_trip;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at, raw)
  values (v_trip, 'duffel', 'off_0000fam', 80000, 'GBP', 'economy', 0, 75, v_day + time '09:00', v_day + time '11:15',
    '{ZZ}', now() + interval '30 minutes',
    '{"id": "off_0000fam", "passenger_identity_documents_required": true,
      "supported_passenger_identity_document_types": ["passport"],
      "passengers": [{"id": "pas_0000ad", "type": "adult", "age": null, "given_name": null},
                     {"id": "pas_0000in", "type": "infant_without_seat", "age": 1}]}')
  returning id into v_offer;
  update public.trip_requests set status = 'watching', selected_offer_id = v_offer, next_check_at = now() where id = v_trip;

  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('dddddddd-0000-4000-8000-00000000000d', 'LHR', 'JFK', v_day, 1, 'economy', 90000, 'GBP')
  returning id into v_plain;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (v_plain, 'duffel', 'off_0000pln', 40000, 'GBP', 'economy', 0, 490, v_day + time '09:00', v_day + time '12:10',
    '{ZZ}', now() + interval '30 minutes')
  returning id into v_offer;
  update public.trip_requests set status = 'watching', selected_offer_id = v_offer, next_check_at = now() + interval '1 hour'
  where id = v_plain;
  insert into k values ('fam', v_trip), ('plain', v_plain);
end
$$;

-- The adult with a passport (expiry two years ahead), the infant without one.
insert into k
select 'adult', app.create_traveler('dddddddd-0000-4000-8000-00000000000d', jsonb_build_object(
  'title', 'ms', 'gender', 'f', 'given_name', 'Amelia', 'family_name', 'Earhart', 'born_on', '1987-07-24',
  'email', 'a@example.test', 'phone_number', '+442080160509',
  'identity_document', jsonb_build_object('type', 'passport', 'unique_identifier', '19KL56147',
    'issuing_country_code', 'GB', 'expires_on', to_char(now() + interval '2 years', 'YYYY-MM-DD'))));
insert into k
select 'infant', app.create_traveler('dddddddd-0000-4000-8000-00000000000d', jsonb_build_object(
  'title', 'miss', 'gender', 'f', 'given_name', 'Ada', 'family_name', 'Earhart',
  'born_on', to_char(now() - interval '14 months', 'YYYY-MM-DD'),
  'email', 'a@example.test', 'phone_number', '+442080160509', 'passenger_type', 'infant_without_seat',
  'identity_document', null));
insert into public.trip_travelers (trip_id, owner_id, traveler_id, position) values
  ((select id from k where name = 'fam'), 'dddddddd-0000-4000-8000-00000000000d', (select id from k where name = 'adult'), 1),
  ((select id from k where name = 'fam'), 'dddddddd-0000-4000-8000-00000000000d', (select id from k where name = 'infant'), 2);

-- Storage ------------------------------------------------------------------------------------------
select ok((select identity_document is not null and get_byte(identity_document, 0) in (140, 141, 195)
           and position('19KL56147' in encode(identity_document, 'escape')) = 0
           from public.travelers where id = (select id from k where name = 'adult')),
  'the document is stored encrypted (an OpenPGP message, no plaintext number)');
select ok((select position('19KL56147' in encode(pii, 'escape')) = 0 from public.travelers where id = (select id from k where name = 'adult')),
  'the number is not in pii either');
select is((select identity_document from public.travelers where id = (select id from k where name = 'infant')), null,
  'identity_document null: none on file');
select throws_ok($$ update public.travelers set identity_document = convert_to('{"type":"passport","unique_identifier":"X"}', 'UTF8')
  where id = (select id from k where name = 'infant') $$,
  '23514', null, 'plaintext cannot be stored in identity_document');

-- create_traveler validation -------------------------------------------------------------------------
create function pg_temp.with_doc(doc jsonb) returns uuid language sql as $$
  select app.create_traveler('dddddddd-0000-4000-8000-00000000000d', jsonb_build_object(
    'title', 'mr', 'gender', 'm', 'given_name', 'Bert', 'family_name', 'Hinkler', 'born_on', '1980-01-01',
    'email', 'b@example.test', 'phone_number', '+442080160509', 'identity_document', doc))
$$;
select throws_ok($$ select pg_temp.with_doc('{"type": "visa", "unique_identifier": "X1", "issuing_country_code": "GB", "expires_on": "2099-01-01"}') $$,
  '22023', 'field identity_document.type must be passport, tax_id, known_traveler_number or passenger_redress_number',
  'an unknown document type is refused');
select throws_ok($$ select pg_temp.with_doc('{"type": "passport", "unique_identifier": "X1 2", "issuing_country_code": "GB", "expires_on": "2099-01-01"}') $$,
  '22023', 'field identity_document.unique_identifier must be 1 to 32 letters or digits',
  'a bad number is refused, naming the field and not the value');
select throws_ok($$ select pg_temp.with_doc('{"type": "passport", "unique_identifier": "X1", "issuing_country_code": "gbr", "expires_on": "2099-01-01"}') $$,
  '22023', 'field identity_document.issuing_country_code must be an ISO 3166-1 alpha-2 code', 'a bad country is refused');
select throws_ok($$ select pg_temp.with_doc('{"type": "passport", "unique_identifier": "X1", "issuing_country_code": "GB", "expires_on": "2099-02-30"}') $$,
  '22023', 'field identity_document.expires_on must be an ISO date (YYYY-MM-DD)', 'an impossible expiry date is refused');
select throws_ok($$ select pg_temp.with_doc('{"type": "passport", "unique_identifier": "X1", "issuing_country_code": "GB", "expires_on": "2099-01-01", "nationality": "GB"}') $$,
  '22023', 'unknown field: identity_document.nationality', 'unknown document fields are refused');

select set_config('role', 'service_role', true);

-- monitor_passengers ----------------------------------------------------------------------------------
select is(app.monitor_passengers(jsonb_build_object('trip_id', (select id from k where name = 'fam'))) #> '{passengers,0,identity_document}',
  jsonb_build_object('type', 'passport', 'unique_identifier', '19KL56147', 'issuing_country_code', 'GB',
    'expires_on', to_char(now() + interval '2 years', 'YYYY-MM-DD')),
  'monitor_passengers returns the adult''s document, decrypted');
select is(app.monitor_passengers(jsonb_build_object('trip_id', (select id from k where name = 'fam'))) #> '{passengers,1}' ? 'identity_document',
  false, 'and no identity_document key for the infant without one');

-- The claim carries the raw offer's passenger facts -------------------------------------------------------
create temp table got as
select c from jsonb_array_elements(app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 60,
  'trip_id', (select id from k where name = 'fam'))) -> 'trips') as c;
select is((select c #> '{selected_offer,raw}' from got),
  '{"passengers": [{"id": "pas_0000ad", "type": "adult", "age": null},
                   {"id": "pas_0000in", "type": "infant_without_seat", "age": 1}],
    "passenger_identity_documents_required": true,
    "supported_passenger_identity_document_types": ["passport"]}'::jsonb,
  'the claim''s selected offer: passengers (id, type, age only) and the document requirement');
select is((select c #>> '{selected_offer,provider_offer_id}' from got), 'off_0000fam', 'the rest of the selected offer is unchanged');
select is((select c -> 'selected_offer' ? 'raw'
  from jsonb_array_elements(app.monitor_claim(jsonb_build_object('limit', 1, 'lease_seconds', 60,
    'trip_id', (select id from k where name = 'plain'))) -> 'trips') as c),
  false, 'an offer without a stored raw offer has no raw in the claim');

select * from finish();
rollback;
