-- Review of the GDPR erasure (migration 20261203000900_erasure_review_fixes.sql): a customer
-- created while the erasure waits is read again by the scrub and deleted (scenario A); no new
-- payment profile, customer, default card, traveller or consent while it runs (scenario B: a
-- still-valid JWT after the scrub); the Stripe webhook is not refused; the scrub's flag edits
-- are audited without the user id; a Stripe refusal is recorded and alerted; a stalled erasure
-- is alerted and resumed by the erasure-resume job.
begin;
select plan(33);

create function pg_temp.act_as(uid uuid) returns void language plpgsql as $$
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object('sub', uid, 'role', 'authenticated',
    'aud', 'authenticated')::text, true);
end
$$;
create function pg_temp.act_as_service() returns void language plpgsql as $$
begin
  perform set_config('role', 'service_role', true);
  perform set_config('request.jwt.claims', '{"role":"service_role"}', true);
end
$$;
create function pg_temp.act_as_postgres() returns void language plpgsql as $$
begin
  perform set_config('role', 'postgres', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

create function pg_temp.state(attempt uuid, trip uuid) returns jsonb
language sql as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000test',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_Other220', 'payment_method', 'pm_test', 'seed', 7, 'version', 1,
    'phase', '{"name": "order"}'::jsonb,
    'in_flight', false, 'tries', 0, 'not_before', null,
    'amount', jsonb_build_object('amount_minor', 41240, 'currency', 'GBP'), 'passenger_ids', '[]'::jsonb,
    'payment_intent', 'pi_Held220', 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', now(), 'updated_at', now())
$$;

create temp table k (name text primary key, id uuid);
grant all on k to public;

insert into auth.users (id, email) values
  ('a2200000-0000-4000-8000-00000000000a', 'erase-220@example.test');

-- A profile row written (payment_profile_open) but no customer yet, a trip with an OPEN attempt
-- (authorized, not captured), and the user on a flag's allow list.
do $$
declare
  a constant uuid := 'a2200000-0000-4000-8000-00000000000a';
  v_trip uuid;
  v_offer uuid;
  v_att uuid := gen_random_uuid();
begin
  insert into public.payment_profiles (owner_id) values (a);
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values (a, 'LHR', 'JFK', current_date + 60, 1, 'economy', 42000, 'GBP') returning id into v_trip;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (v_trip, 'duffel', 'off_0000test', 39900, 'GBP', 'economy', 0, 490, current_date + 60 + time '09:00',
    current_date + 60 + time '12:10', '{ZZ}', now() + interval '30 minutes')
  returning id into v_offer;
  update public.trip_requests set status = 'watching', selected_offer_id = v_offer where id = v_trip;
  update public.trip_requests set status = 'booking' where id = v_trip;
  insert into public.booking_attempts (id, trip_id, state, version, open, phase)
  values (v_att, v_trip, pg_temp.state(v_att, v_trip), 1, true, 'order');
  insert into k values ('trip', v_trip), ('attempt', v_att);
end
$$;
update public.feature_flags set allow_users = array['a2200000-0000-4000-8000-00000000000a'::uuid]
where name = 'auto_booking';

-- Privileges -------------------------------------------------------------------------------------
select function_privs_are('app', 'erasure_stripe_refused', array['jsonb'], 'authenticated', array[]::text[],
  'authenticated cannot record a Stripe refusal');
select function_privs_are('app', 'erasure_stripe_refused', array['jsonb'], 'service_role', array['EXECUTE'],
  'the service records a Stripe refusal');

-- The erasure waits on the open attempt; it copied no customer (none yet) -------------------------
select pg_temp.act_as('a2200000-0000-4000-8000-00000000000a');
select is(app.privacy_erase('{}') #>> '{erasure,step}', 'waiting', 'the erasure waits on the open attempt');
select pg_temp.act_as_postgres();
select is((select stripe_customer_id from public.erasure_requests where user_id = 'a2200000-0000-4000-8000-00000000000a'),
  null, 'no customer at the start');
insert into k select 'erasure', id from public.erasure_requests where user_id = 'a2200000-0000-4000-8000-00000000000a';

-- While it runs: nothing new -------------------------------------------------------------------
select pg_temp.act_as('a2200000-0000-4000-8000-00000000000a');
select throws_ok($$ select app.payment_profile_open('{"create": true}') $$, 'PF010', null,
  'payment_profile_open {create} is refused while the erasure runs');
select lives_ok($$ select app.payment_profile_open('{"create": false}') $$, 'reading the profile still works');
select throws_ok($$ select app.travelers_create('{"traveler": {"title": "ms", "gender": "f", "given_name": "Late",
  "family_name": "Comer", "born_on": "1980-02-03", "email": "late@example.test", "phone_number": "+447700900220"}}') $$,
  'PF010', null, 'no new traveller profile while the erasure runs');
-- The customer Stripe created for the setup begun before the erasure (scenario A): recorded,
-- so the scrub finds it (refusing it would orphan it at Stripe).
select lives_ok($$ select app.payment_customer_record('{"customer": "cus_Late220"}') $$,
  'recording the customer Stripe already created passes');
select throws_ok($$ select app.payment_default_set('{"payment_method": "pm_Late220"}') $$, 'PF010', null,
  'the user cannot set a default card while the erasure runs');
-- The Stripe webhook (no caller) is not refused: the scrub deletes the row anyway.
select pg_temp.act_as_service();
select lives_ok($$ update public.payment_profiles set stripe_payment_method_id = 'pm_Webhook220'
  where owner_id = 'a2200000-0000-4000-8000-00000000000a' $$, 'the webhook''s card write passes');
select pg_temp.act_as_postgres();
select pg_temp.act_as('a2200000-0000-4000-8000-00000000000a');
select throws_ok($$ select app.consent_record('{"payment_method": "pm_Webhook220", "max_amount_minor": 100,
  "currency": "GBP", "text": "I allow it", "text_version": "v1"}') $$, 'PF010', null,
  'no consent while the erasure runs');
select pg_temp.act_as_postgres();
update public.payment_profiles set stripe_payment_method_id = null where owner_id = 'a2200000-0000-4000-8000-00000000000a';

-- The attempt closes; the scrub reads the customer again ---------------------------------------
update public.booking_attempts set open = false, phase = 'closed', version = 2,
  state = jsonb_set(jsonb_set(state, '{phase}', '{"name": "closed", "end": "released"}'), '{version}', '2')
where id = (select id from k where name = 'attempt');
select pg_temp.act_as_service();
select is(app.erasure_advance(jsonb_build_object('erasure_id', (select id from k where name = 'erasure'), 'step', 'waiting'))
  #>> '{erasure,step}', 'scrub', 'the erasure goes on once the attempt closed');
create temp table s2 as
select app.erasure_advance(jsonb_build_object('erasure_id', (select id from k where name = 'erasure'), 'step', 'scrub'))
  -> 'erasure' as st;
grant all on s2 to public;
select is((select st ->> 'step' from s2), 'stripe', 'the scrub goes to the stripe step (the customer it read again)');
select is((select st ->> 'stripe_customer' from s2), 'cus_Late220', 'the customer created while waiting is the one to delete');
select pg_temp.act_as_postgres();
select is((select count(*)::int from public.payment_profiles where owner_id = 'a2200000-0000-4000-8000-00000000000a'), 0,
  'the payment profile is gone');

-- Scenario B: after the scrub, the still-valid JWT sets up a card again ------------------------
select pg_temp.act_as('a2200000-0000-4000-8000-00000000000a');
select throws_ok($$ select app.payment_profile_open('{"create": true}') $$, 'PF010', null,
  'after the scrub no new profile');
select throws_ok($$ select app.payment_customer_record('{"customer": "cus_Again220"}') $$, 'PF010', null,
  'after the scrub no new customer is recorded');
select pg_temp.act_as_postgres();
select is((select count(*)::int from public.payment_profiles where owner_id = 'a2200000-0000-4000-8000-00000000000a'), 0,
  'still no payment profile');

-- Finding 5: the flag edit is audited, without the user id --------------------------------------
select is((select count(*)::int from public.feature_flag_audit
           where flag = 'auto_booking' and changed_by = 'erasure' and reason = 'gdpr erasure'), 1,
  'the scrub wrote one audit row for the flag it edited');
select ok((select bool_and(before::text not like '%a2200000-0000-4000-8000-00000000000a%'
                       and after::text not like '%a2200000-0000-4000-8000-00000000000a%')
           from public.feature_flag_audit where flag = 'auto_booking'),
  'no audit row names the user');
select ok((select before -> 'allow_users' ? (select tombstone_id::text from public.erasure_requests where id = (select id from k where name = 'erasure'))
           and after -> 'allow_users' = '[]'::jsonb
           from public.feature_flag_audit where changed_by = 'erasure' and flag = 'auto_booking'),
  'before names the tombstone, after the list without it');
select is((select updated_by from public.feature_flags where name = 'auto_booking'), 'erasure', 'the flag says who changed it');

-- Finding 4: a Stripe refusal is recorded and alerted --------------------------------------------
select pg_temp.act_as_service();
select throws_ok($$ select app.erasure_stripe_refused(jsonb_build_object('erasure_id', (select id from k where name = 'erasure'), 'status', 404)) $$,
  '22023', null, 'a 404 is not a refusal');
select throws_ok($$ select app.erasure_stripe_refused('{"erasure_id": "00000000-0000-4000-8000-000000000000", "status": 400}') $$,
  'P0002', null, 'an unknown erasure is P0002');
select is(app.erasure_stripe_refused(jsonb_build_object('erasure_id', (select id from k where name = 'erasure'), 'status', 400))
  #>> '{erasure,step}', 'stripe', 'a refusal leaves the step');
select pg_temp.act_as_postgres();
select is((select stripe_refused_status from public.erasure_requests where id = (select id from k where name = 'erasure')), 400,
  'the refusal is on the row');
update public.pipeline_settings set heartbeat_at = now();
select pg_temp.act_as_service();
select app.alerts_evaluate('{}');
select pg_temp.act_as_postgres();
select is((select count(*)::int from public.operator_alerts where rule = 'erasure_stripe_refused' and resolved_at is null
           and incident_key = (select id::text from k where name = 'erasure')), 1, 'erasure_stripe_refused fires');
select is((select count(*)::int from public.operator_alerts where rule = 'erasure_stalled' and resolved_at is null), 0,
  'a young erasure is not stalled');

-- ... and a stalled one too, and the job resumes it ----------------------------------------------
update public.erasure_requests set created_at = now() - interval '25 hours' where id = (select id from k where name = 'erasure');
select pg_temp.act_as_service();
select app.alerts_evaluate('{}');
select pg_temp.act_as_postgres();
select is((select detail ->> 'step' from public.operator_alerts where rule = 'erasure_stalled' and resolved_at is null
           and incident_key = (select id::text from k where name = 'erasure')), 'stripe', 'erasure_stalled fires after 24 hours');
select ok((select detail::text not like '%a2200000%' from public.operator_alerts where rule = 'erasure_stalled' and resolved_at is null),
  'the alert names no user');

select ok((select command like '%/functions/v1/privacy-operator%' and command like '%erasure_resume_due%'
                  and schedule = '*/10 * * * *'
           from cron.job where jobname = 'erasure-resume'), 'the erasure-resume job posts to privacy-operator every 10 minutes');
-- A refused erasure is retried hourly, others after 5 idle minutes.
alter table public.erasure_requests disable trigger erasure_requests_touch_updated_at;
update public.erasure_requests set updated_at = now() - interval '10 minutes', stripe_refused_at = now() - interval '10 minutes'
where id = (select id from k where name = 'erasure');
select is((select count(*)::int from app.erasure_resume_due(20) d where d = 'a2200000-0000-4000-8000-00000000000a'), 0,
  'a refusal 10 minutes ago is not retried yet');
update public.erasure_requests set stripe_refused_at = now() - interval '2 hours'
where id = (select id from k where name = 'erasure');
select is((select count(*)::int from app.erasure_resume_due(20) d where d = 'a2200000-0000-4000-8000-00000000000a'), 1,
  'an idle erasure is due for resuming');
alter table public.erasure_requests enable trigger erasure_requests_touch_updated_at;

select * from finish();
rollback;
