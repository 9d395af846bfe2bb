-- Issue 7 items 2 and 3 (migration 20261202000200): RLS and grants on consents and the Stripe
-- webhook tables, the payment-methods SQL API as the caller, auto-booking refused without a
-- default card (PF003) or a consent covering the trip (PF005), the monitor's claim handing out
-- the card only under consent, and stripe_event_record processing each event once.
-- Dates derive from now(), so the file does not depend on the calendar.
begin;
select plan(41);

create function pg_temp.act_as(uid uuid)
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object('sub', uid, 'role', 'authenticated',
    'aud', 'authenticated')::text, true);
end
$$;

create function pg_temp.act_as_service()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'service_role', true);
  perform set_config('request.jwt.claims', '{"role":"service_role"}', true);
end
$$;

create function pg_temp.act_as_postgres()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

create function pg_temp.trip(auto_book boolean, max_minor bigint default 42000, currency text default 'GBP')
returns jsonb
language sql
as $$
  select jsonb_build_object('origin', 'LHR', 'destination', 'JFK',
    'departure_date', to_char(now() + interval '60 days', 'YYYY-MM-DD'), 'adults', 1,
    'cabin', 'economy', 'nonstop_only', true, 'max_total_minor', max_minor, 'currency', currency,
    'auto_book', auto_book)
$$;

insert into auth.users (id, email) values
  ('a1100000-0000-4000-8000-00000000000a', 'pay-a@example.test'),
  ('b1100000-0000-4000-8000-00000000000b', 'pay-b@example.test');

-- Tables: RLS on, explicit grants -----------------------------------------------------------------
select ok((select bool_and(c.relrowsecurity) from pg_class c
           where c.oid in ('public.consents'::regclass, 'public.stripe_webhook_events'::regclass,
                           'public.operator_alerts'::regclass, 'public.stripe_disputes'::regclass)),
  'RLS is on for consents, stripe_webhook_events, operator_alerts, stripe_disputes');
select table_privs_are('public', 'consents', 'anon', array[]::text[], 'anon: nothing on consents');
select table_privs_are('public', 'consents', 'authenticated', array['SELECT'],
  'authenticated: SELECT only on consents');
select table_privs_are('public', 'stripe_webhook_events', 'authenticated', array[]::text[],
  'authenticated: nothing on stripe_webhook_events');
select table_privs_are('public', 'operator_alerts', 'authenticated', array[]::text[],
  'authenticated: nothing on operator_alerts');
select table_privs_are('public', 'stripe_disputes', 'anon', array[]::text[],
  'anon: nothing on stripe_disputes');
select table_privs_are('public', 'operator_alerts', 'service_role', array['SELECT', 'INSERT'],
  'service_role: select and insert on operator_alerts (update of resolved_at only)');

-- The payment-methods API as the caller ---------------------------------------------------------
select pg_temp.act_as('a1100000-0000-4000-8000-00000000000a');
select is(app.payment_profile_open('{"create": false}') -> 'profile' ->> 'customer', null,
  'no profile yet: an empty one, nothing written');
select is(app.payment_profile_open('{"create": true}') #>> '{profile,owner_id}',
  'a1100000-0000-4000-8000-00000000000a', 'setup writes the caller''s row first');
select is(app.payment_customer_record('{"customer": "cus_pgtapA"}') #>> '{profile,customer}',
  'cus_pgtapA', 'the customer is stored');
select is(app.payment_customer_record('{"customer": "cus_pgtapOther"}') #>> '{profile,customer}',
  'cus_pgtapA', 'the first stored customer wins');
select throws_ok($$ select app.create_trip(pg_temp.trip(true)) $$, 'PF003',
  'auto-booking needs a saved default card', 'no default card: an auto-book trip is refused');
select lives_ok($$ select app.create_trip(pg_temp.trip(false)) $$, 'a watch without auto-book is fine');
select is(app.payment_default_set('{"payment_method": "pm_pgtap1"}') #>> '{profile,default_payment_method}',
  'pm_pgtap1', 'the default card is set');
select throws_ok($$ select app.create_trip(pg_temp.trip(true)) $$, 'PF005',
  'auto-booking needs a consent covering this trip', 'a card without consent: refused');
select throws_ok($$ select app.consent_record('{"payment_method": "pm_other", "max_amount_minor": 50000,
    "currency": "GBP", "text": "t", "text_version": "v1"}') $$, 'PF004', 'the default card changed',
  'a consent for another card than the default is refused');
select is(app.consent_record('{"payment_method": "pm_pgtap1", "max_amount_minor": 50000,
    "currency": "GBP", "text": "I authorise...", "text_version": "v1"}') #>> '{consent,max_amount_minor}',
  '50000', 'the consent is recorded');
select is((select count(*)::int from public.consents), 1, 'the owner reads their own consent (RLS)');
select lives_ok($$ select app.create_trip(pg_temp.trip(true)) $$,
  'card and consent: the auto-book trip is created');
select throws_ok($$ select app.create_trip(pg_temp.trip(true, 60000)) $$, 'PF005', null,
  'a maximum above the consent is refused');
select throws_ok($$ select app.create_trip(pg_temp.trip(true, 42000, 'EUR')) $$, 'PF005', null,
  'another currency than the consent''s is refused');
select throws_ok($$ insert into public.consents (owner_id, payment_method_id, max_amount_minor,
    currency, text, text_version) values ('a1100000-0000-4000-8000-00000000000a', 'pm_pgtap1', 1,
    'GBP', 't', 'v') $$, '42501', null, 'consents are written only through consent_record');

-- Another user sees nothing of A's --------------------------------------------------------------
select pg_temp.act_as('b1100000-0000-4000-8000-00000000000b');
select is((select count(*)::int from public.consents), 0, 'B cannot read A''s consents');
select is((select count(*)::int from public.payment_profiles), 0, 'B cannot read A''s profile');
select throws_ok($$ select app.payment_default_set('{"payment_method": "pm_pgtap1"}') $$, 'P0002',
  null, 'B without a customer cannot set a default');
select throws_ok($$ select app.stripe_event_context('{"event_id": "evt_1"}') $$, '42501', null,
  'the webhook API is service only');

-- The monitor's claim and trips already auto-book -------------------------------------------------
select pg_temp.act_as_postgres();
select isnt((select app.monitor_claim_json(t) -> 'payment' from public.trip_requests t
             where t.owner_id = 'a1100000-0000-4000-8000-00000000000a' and t.auto_book),
  null, 'under consent the claim carries the card');
update public.trip_requests set max_total_minor = 40000
  where owner_id = 'a1100000-0000-4000-8000-00000000000a' and auto_book;
select pass('lowering the maximum of an auto-book trip needs nothing new');
select throws_ok($$ update public.trip_requests set max_total_minor = 90000
  where owner_id = 'a1100000-0000-4000-8000-00000000000a' and auto_book $$, 'PF005', null,
  'raising it above the consent is refused, for operators too');
select throws_ok($$ update public.consents set max_amount_minor = 1 $$, '55000', null,
  'a consent cannot be changed');

-- Webhook processing: each event once ------------------------------------------------------------
select pg_temp.act_as_service();
select is(app.stripe_event_record('{"event": {"id": "evt_pgtap1", "type": "payment_method.detached",
    "created": 1, "object_id": "pm_pgtap1"}, "outcome": "card_detached",
    "effects": [{"kind": "card_detached", "payment_method": "pm_pgtap1"}]}') ->> 'recorded', 'true',
  'a new event is recorded with its effects');
select is(app.stripe_event_record('{"event": {"id": "evt_pgtap1", "type": "payment_method.detached",
    "object_id": "pm_pgtap1"}, "outcome": "card_detached",
    "effects": [{"kind": "alert", "code": "should_not_happen"}]}') ->> 'recorded', 'false',
  'the same event again is not processed');
select is((select count(*)::int from public.operator_alerts where reason = 'should_not_happen'), 0,
  'and its effects are not applied');
select pg_temp.act_as_postgres();
select is((select stripe_payment_method_id from public.payment_profiles
           where owner_id = 'a1100000-0000-4000-8000-00000000000a'), null,
  'the detached card is no longer the default');
select is((select revoked_reason from public.consents
           where owner_id = 'a1100000-0000-4000-8000-00000000000a'), 'card_detached',
  'and its consent is revoked');
select is((select app.monitor_claim_json(t) ->> 'payment' from public.trip_requests t
           where t.owner_id = 'a1100000-0000-4000-8000-00000000000a' and t.auto_book),
  null, 'the claim no longer hands the card out: nothing is charged without consent');
select pg_temp.act_as_service();
select is(app.stripe_event_context('{"event_id": "evt_pgtap2", "payment_method": "pm_pgtap1"}') -> 'detached',
  'true'::jsonb, 'a late setup_intent.succeeded sees the card was detached');
select is(app.stripe_event_record('{"event": {"id": "evt_pgtap2", "type": "setup_intent.succeeded",
    "object_id": "seti_1"}, "outcome": "card_saved",
    "effects": [{"kind": "card_saved", "customer": "cus_pgtapA", "payment_method": "pm_pgtap1"}]}') ->> 'recorded',
  'true', 'an out-of-order card_saved is recorded');
select pg_temp.act_as_postgres();
select is((select stripe_payment_method_id from public.payment_profiles
           where owner_id = 'a1100000-0000-4000-8000-00000000000a'), null,
  'but a detached card is never saved again');
select pg_temp.act_as_service();
select lives_ok($$ select app.stripe_event_record('{"event": {"id": "evt_pgtap3", "type": "charge.dispute.created",
    "object_id": "dp_1"}, "outcome": "dispute_recorded",
    "effects": [{"kind": "dispute", "dispute_id": "dp_pgtap", "charge": "ch_1", "amount": 100, "currency": "gbp"},
                {"kind": "alert", "code": "dispute_created", "detail": {"dispute": "dp_pgtap"}}]}') $$,
  'a dispute and its alert are recorded');
select pg_temp.act_as_postgres();
select is((select currency from public.stripe_disputes where id = 'dp_pgtap'), 'GBP', 'the dispute row');

select * from finish();
rollback;
