-- GDPR export (issue 8 item 4; migration 20261203000520_gdpr_export.sql): privacy_export pages
-- through every section for the caller only; every public table holding user-linked rows is
-- covered by a section (a new such table fails this file until the export covers it); another
-- user's rows never appear; bad arguments are 22023, no caller 28000.
begin;
select plan(16);

select vault.create_secret('pgtap-only-traveler-key-0123456789', 'traveler_data_key')
where not exists (select 1 from vault.secrets where name = 'traveler_data_key');

create function pg_temp.act_as(uid uuid) returns void language plpgsql as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object('sub', uid, 'role', 'authenticated',
    'aud', 'authenticated')::text, true);
end
$$;

-- The whole export of the current caller as {section: [items]}, page by page (limit 2).
create function pg_temp.export_all() returns jsonb language plpgsql as $$
declare
  v_args jsonb := '{"limit": 2}';
  v_page jsonb;
  v_out jsonb := '{}';
  v_pages int := 0;
begin
  loop
    v_page := app.privacy_export(v_args);
    v_pages := v_pages + 1;
    v_out := jsonb_set(v_out, array[v_page ->> 'section'],
      coalesce(v_out -> (v_page ->> 'section'), '[]') || (v_page -> 'items'));
    exit when v_page -> 'next' = 'null'::jsonb or v_pages > 200;
    v_args := (v_page -> 'next') - 'after' || jsonb_build_object('limit', 2)
      || case when v_page #>> '{next,after}' is null then '{}'::jsonb
              else jsonb_build_object('after', v_page #>> '{next,after}') end;
  end loop;
  return v_out || jsonb_build_object('_pages', v_pages);
end
$$;

-- Every public table with a column that links a row to a user, a trip, an attempt, a traveller,
-- a notification or a booking is either exported (by the section named) or deliberately left out
-- (with the reason).
create temp table coverage (tbl text primary key, section text, why_not text);
grant all on coverage to public;
insert into coverage values
  ('trip_requests', 'trips', null), ('travelers', 'profiles', null),
  ('trip_travelers', 'profiles', null), ('consents', 'consents', null),
  ('payment_profiles', 'payment_profile', null), ('flight_offers', 'offers', null),
  ('pipeline_events', 'decision_log', null), ('booking_attempts', 'payments', null),
  ('bookings', 'bookings', null), ('notifications', 'notifications', null),
  ('stripe_disputes', 'disputes', null), ('price_alerts', 'price_alerts', null),
  ('email_suppressions', 'suppressions', null), ('duffel_webhook_events', 'provider_events', null),
  ('operator_alerts', 'operator_alerts', null), ('erasure_requests', 'erasure', null),
  ('price_history', 'price_history', null);
select is(
  (select coalesce(array_agg(distinct c.table_name::text order by c.table_name::text), '{}')
   from information_schema.columns c
   where c.table_schema = 'public'
     and c.column_name in ('owner_id', 'user_id', 'trip_id', 'attempt_id', 'traveler_id', 'notification_id', 'booking_id')
     and c.table_name::text not in (select tbl from coverage)),
  '{}'::text[], 'every public table holding user-linked rows is covered by the export');

insert into auth.users (id, email) values
  ('a1720000-0000-4000-8000-00000000000a', 'export-a@example.test'),
  ('b1720000-0000-4000-8000-00000000000b', 'export-b@example.test');

create temp table k (name text primary key, id uuid);
grant all on k to public;

do $$
declare
  u uuid;
  v_trip uuid;
  v_att uuid;
  v_n int;
begin
  foreach u in array array['a1720000-0000-4000-8000-00000000000a', 'b1720000-0000-4000-8000-00000000000b']::uuid[] loop
    perform app.create_traveler(u, jsonb_build_object('title', 'ms', 'gender', 'f',
      'given_name', 'Export' || left(u::text, 3), 'family_name', 'Person', 'born_on', '1977-07-07',
      'email', left(u::text, 3) || '@example.test', 'phone_number', '+447700900400'));
    insert into public.payment_profiles (owner_id, stripe_customer_id) values (u, 'cus_X' || left(u::text, 3));
    insert into public.consents (owner_id, payment_method_id, max_amount_minor, currency, text, text_version)
    values (u, 'pm_X' || left(u::text, 3), 50000, 'GBP', 'consent text', 'v1');
    for v_n in 1..3 loop
      insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
      values (u, 'LHR', 'JFK', current_date + 60 + v_n, 1, 'economy', 42000, 'GBP') returning id into v_trip;
      insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
        duration_minutes, departing_at, arriving_at, carriers, expires_at)
      select v_trip, 'duffel', 'off_' || v_n || '_' || i, 39900 + i, 'GBP', 'economy', 0, 490,
        current_date + 60 + time '09:00', current_date + 60 + time '12:10', '{ZZ}', now() + interval '30 minutes'
      from generate_series(1, 3) i;
      insert into public.pipeline_events (trip_id, stage, decision, detail)
      values (v_trip, 'search', 'no_acceptable_offer', '{"offers_seen": 3, "best_total_minor": 39901}');
      insert into public.price_history (trip_id, decision, offers_seen, best_total_minor, currency)
      values (v_trip, 'no_acceptable_offer', 3, 39901, 'GBP');
      insert into public.notifications (trip_id, owner_id, template, dedupe_key)
      values (v_trip, u, 'price_alert', v_trip::text || '-pa');
      insert into public.price_alerts (trip_id, last_alert_minor, currency) values (v_trip, 39901, 'GBP');
      v_att := gen_random_uuid();
      insert into public.booking_attempts (id, trip_id, state, version, open, phase)
      values (v_att, v_trip, jsonb_build_object(
        'schema_version', 1, 'attempt_id', v_att, 'trip_id', v_trip, 'offer_id', 'off_0000test',
        'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
        'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', 1,
        'phase', jsonb_build_object('name', 'closed', 'end', 'booked'),
        'in_flight', false, 'tries', 0, 'not_before', null,
        'amount', jsonb_build_object('amount_minor', 39901, 'currency', 'GBP'), 'passenger_ids', '[]'::jsonb,
        'payment_intent', 'pi_X' || v_n, 'order', null, 'check_intent', false, 'key_generation', 0,
        'lookup_misses', 0, 'reason', null, 'started_at', now(), 'updated_at', now()), 1, false, 'closed');
      insert into public.bookings (trip_id, attempt_id, provider_order_id, booking_reference, amount_minor, currency)
      values (v_trip, v_att, 'ord_' || replace(v_trip::text, '-', ''), 'K9W6RR', 39901, 'GBP');
      insert into public.stripe_disputes (id, amount, currency, attempt_id, trip_id, event_id)
      values ('dp_' || replace(v_att::text, '-', ''), 39901, 'GBP', v_att, v_trip, 'evt_x');
      insert into public.duffel_webhook_events (id, type, kind, order_id, trip_id, outcome)
      values ('ev_' || replace(v_trip::text, '-', ''), 'order.created', 'order_created', 'ord_' || replace(v_trip::text, '-', ''), v_trip, 'recorded');
      insert into public.operator_alerts (trip_id, attempt_id, reason) values (v_trip, v_att, 'ledger_unclosable');
      insert into k values (left(u::text, 1) || v_n, v_trip);
    end loop;
    insert into public.email_suppressions (address_hash, reason, notification_id)
    values (app.email_hash(left(u::text, 3) || '@example.test'), 'bounced',
            (select n.id from public.notifications n where n.owner_id = u limit 1));
  end loop;
end
$$;

select pg_temp.act_as('a1720000-0000-4000-8000-00000000000a');
create temp table ex as select pg_temp.export_all() as doc;
grant all on ex to public;

select is((select doc -> 'account' -> 0 ->> 'email' from ex), 'export-a@example.test', 'the account');
select is((select doc -> 'profiles' -> 0 ->> 'given_name' from ex), 'Exporta17', 'profiles decrypted');
select is((select jsonb_array_length(doc -> 'trips') from ex), 3, 'every trip, across pages of 2');
select is((select jsonb_array_length(doc -> 'offers') from ex), 9, 'every offer kept');
select is((select count(*)::int from ex, jsonb_array_elements(doc -> 'price_history') e
           where (e ->> 'best_total_minor')::int = 39901), 3, 'the price history');
select ok((select bool_and(jsonb_array_length(doc -> c.section) > 0) from ex, coverage c where c.section <> 'erasure'),
  'every covered section holds the caller''s rows');
select is((select jsonb_array_length(doc -> 'payments') from ex), 3, 'payments: amounts, currency, status, Stripe ids');
select is((select doc -> 'payments' -> 0 ->> 'payment_intent' from ex) ~ '^pi_X', true, 'with the PaymentIntent');
select ok((select (doc ->> '_pages')::int > 15 from ex), 'many pages: nothing is read whole');
select ok((select position('b1720000' in doc::text) = 0 and position('Exportb17' in doc::text) = 0
                  and position('cus_Xb17' in doc::text) = 0
           from ex), 'nothing of the other user');
select ok((select bool_and(position(k.id::text in ex.doc::text) = 0) from ex, k where k.name like 'b%'),
  'none of the other user''s trips');
select ok((select position('address_hash' in doc::text) = 0 and position('request_enc' in doc::text) = 0 from ex),
  'no hashes or ciphertexts');

select throws_ok($$ select app.privacy_export('{"section": "secrets"}') $$, '22023', null, 'unknown section');
select throws_ok($$ select app.privacy_export('{"section": "trips", "after": "x; drop table"}') $$, '22023', null,
  'a bad cursor');
select set_config('request.jwt.claims', '{"role": "authenticated"}', true);
select throws_ok($$ select app.privacy_export('{}') $$, '28000', null, 'no caller, no export');

select * from finish();
rollback;
