-- The outbox dispatcher's SQL API (migration 20261202000300): notify_claim's lease, the stored
-- request of a `sending` row, notify_finish (sent, retry, dead), resend_event once per svix-id
-- and in any order, suppression by keyed hash, grants, the price-alert and watch_expired
-- triggers. Dates from now(); claims name their notification so other due rows do not matter.
begin;
select plan(33);

insert into auth.users (id, email) values ('eeeeeeee-0000-4000-8000-0000000000e1', 'owner@example.test');
create temp table ids (name text primary key, id uuid);

with t as (
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
  values ('eeeeeeee-0000-4000-8000-0000000000e1', 'LHR', 'JFK', current_date + 60, 1, 'economy', 42000, 'GBP')
  returning id
) insert into ids select 'trip', id from t;
insert into ids select 'traveler', app.create_traveler('eeeeeeee-0000-4000-8000-0000000000e1',
  '{"title":"ms","gender":"f","given_name":"Ada","family_name":"<b>Lovelace</b>","born_on":"1985-12-10","email":"Ada@Example.test","phone_number":"+442071234567"}');
insert into public.trip_travelers (trip_id, owner_id, traveler_id, position)
select (select id from ids where name = 'trip'), 'eeeeeeee-0000-4000-8000-0000000000e1',
  (select id from ids where name = 'traveler'), 1;

create function pg_temp.enqueue(tag text) returns uuid language sql as $$
  insert into public.notifications (trip_id, owner_id, template, dedupe_key)
  select id, 'eeeeeeee-0000-4000-8000-0000000000e1', 'could_not_book', 'pgtap-120-' || tag
  from ids where name = 'trip' returning id
$$;
insert into ids values ('n1', pg_temp.enqueue('n1'));

-- Claim and lease -------------------------------------------------------------------------------
create temp table c as
select app.notify_claim(jsonb_build_object('notification_id', (select id from ids where name = 'n1'))) as r;
select is(jsonb_array_length((select r -> 'notifications' from c)), 1, 'the due notification is claimed');
select is((select r #>> '{notifications,0,recipient}' from c), 'Ada@Example.test', 'the recipient is decrypted for the service');
select is((select r #>> '{notifications,0,passengers,0,family_name}' from c), '<b>Lovelace</b>', 'passengers'' names, raw (the core escapes)');
select is((select (r #>> '{notifications,0,attempts}')::int from c), 1, 'a claim counts an attempt');
select ok((select next_attempt_at > now() + interval '60 seconds' from public.notifications where id = (select id from ids where name = 'n1')), 'the claim is a lease');
select is(jsonb_array_length(app.notify_claim(jsonb_build_object('notification_id', (select id from ids where name = 'n1'))) -> 'notifications'), 0, 'a leased row is not claimed again');
select ok((select r -> 'settings' ? 'app_base_url' and r -> 'settings' ? 'max_attempts' from c), 'settings for the core');

-- Sending: the exact request is stored, encrypted ------------------------------------------------
select is(app.notify_sending(jsonb_build_object('id', (select id from ids where name = 'n1'),
  'body', '{"to":["Ada@Example.test"],"subject":"s","text":"t"}')), '{"ok": true}'::jsonb, 'notify_sending');
select is((select status from public.notifications where id = (select id from ids where name = 'n1')), 'sending', 'status sending');
select ok((select position('Ada' in encode(request_enc, 'escape')) = 0 from public.notifications where id = (select id from ids where name = 'n1')), 'the stored request is encrypted');
select ok((select recipient_hash ~ '^[0-9a-f]{64}$' and recipient_hash <> encode(extensions.digest('ada@example.test', 'sha256'), 'hex')
  from public.notifications where id = (select id from ids where name = 'n1')), 'the recipient hash is keyed, not a plain digest');
update public.notifications set next_attempt_at = now() - interval '1 second' where id = (select id from ids where name = 'n1');
create temp table c2 as
select app.notify_claim(jsonb_build_object('notification_id', (select id from ids where name = 'n1'))) as r;
select is((select r #>> '{notifications,0,stored_request}' from c2), '{"to":["Ada@Example.test"],"subject":"s","text":"t"}', 'a sending row comes back with its stored request');
select is((select r #> '{notifications,0,recipient}' from c2), 'null'::jsonb, 'and no recipient to render for');
select is((select (r #>> '{notifications,0,attempts}')::int from c2), 2, 'the second claim is attempt 2');

-- An event that arrives before the send is marked sent ---------------------------------------
select is(app.resend_event('{"svix_id":"msg_pgtap_1","type":"email.delivered","email_id":"em-pgtap-1"}'),
  '{"matched": false, "duplicate": false}'::jsonb, 'an early event is kept');
select is(app.notify_finish(jsonb_build_object('id', (select id from ids where name = 'n1'), 'outcome', 'sent', 'message_id', 'em-pgtap-1')),
  '{"ok": true}'::jsonb, 'notify_finish sent');
select is((select delivery from public.notifications where id = (select id from ids where name = 'n1')), 'delivered', 'the early event is applied when sent');
select ok((select request_enc is null and sent_at is not null from public.notifications where id = (select id from ids where name = 'n1')), 'sent clears the stored request');
select is(app.notify_finish(jsonb_build_object('id', (select id from ids where name = 'n1'), 'outcome', 'sent', 'message_id', 'em-pgtap-1')),
  '{"ok": true}'::jsonb, 'a repeated sent is idempotent');
select is(app.notify_finish(jsonb_build_object('id', (select id from ids where name = 'n1'), 'outcome', 'dead', 'reason', 'x')),
  '{"ok": false}'::jsonb, 'a final row does not change');

-- Bounce: suppression, once per svix-id, worst state wins ------------------------------------
select is(app.resend_event('{"svix_id":"msg_pgtap_2","type":"email.bounced","email_id":"em-pgtap-1"}'),
  '{"matched": true, "duplicate": false}'::jsonb, 'a bounce is matched');
select is(app.resend_event('{"svix_id":"msg_pgtap_2","type":"email.bounced","email_id":"em-pgtap-1"}'),
  '{"matched": false, "duplicate": true}'::jsonb, 'a redelivery is a duplicate');
select is((select delivery from public.notifications where id = (select id from ids where name = 'n1')), 'bounced', 'bounced beats delivered');
select is((select count(*)::int from public.email_suppressions s join public.notifications n on n.recipient_hash = s.address_hash
  where n.id = (select id from ids where name = 'n1')), 1, 'the address is suppressed by its hash');
insert into ids values ('n2', pg_temp.enqueue('n2'));
select is((app.notify_claim(jsonb_build_object('notification_id', (select id from ids where name = 'n2'))) #>> '{notifications,0,suppressed}')::boolean,
  true, 'the next claim to that address (any case) says suppressed');

-- Retry and dead letters ---------------------------------------------------------------------------
select is(app.notify_finish(jsonb_build_object('id', (select id from ids where name = 'n2'), 'outcome', 'retry',
  'next_attempt_at', to_char((now() + interval '5 minutes') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'error_code', 'resend_rate_limited')),
  '{"ok": true}'::jsonb, 'retry');
select is((select status || '/' || last_error_code from public.notifications where id = (select id from ids where name = 'n2')), 'pending/resend_rate_limited', 'retry keeps the row pending with the code');
select app.notify_finish(jsonb_build_object('id', (select id from ids where name = 'n2'), 'outcome', 'dead', 'reason', 'too_many_attempts', 'error_code', 'resend_rate_limited'));
select is((select status || '/' || dead_reason from public.notifications where id = (select id from ids where name = 'n2')), 'dead/too_many_attempts', 'dead with an operator-visible reason');
select throws_ok($$select app.notify_finish('{"id":"eeeeeeee-0000-4000-8000-0000000000e1","outcome":"sent"}')$$, 'P0002', null, 'unknown notification');

-- Grants ------------------------------------------------------------------------------------------
set local role authenticated;
select throws_ok($$select app.notify_claim('{}')$$, '42501', null, 'users cannot claim the outbox');
select throws_ok($$select count(*) from public.email_suppressions$$, '42501', null, 'users cannot read suppressions');
reset role;

-- Price alerts and watch_expired -------------------------------------------------------------------
insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
  duration_minutes, departing_at, arriving_at, carriers, expires_at)
select id, 'duffel', 'off_pgtap_120', 40000, 'GBP', 'economy', 0, 490, (current_date + 60) + time '09:00',
  (current_date + 60) + time '12:10', '{ZZ}', now() + interval '30 minutes'
from ids where name = 'trip';
update public.trip_requests t set status = 'watching',
  selected_offer_id = (select o.id from public.flight_offers o where o.provider_offer_id = 'off_pgtap_120')
where t.id = (select id from ids where name = 'trip');
update public.trip_requests set check_count = check_count + 1 where id = (select id from ids where name = 'trip');
update public.flight_offers set total_minor = 39000 where provider_offer_id = 'off_pgtap_120';
update public.trip_requests set check_count = check_count + 1 where id = (select id from ids where name = 'trip');
update public.flight_offers set total_minor = 37000 where provider_offer_id = 'off_pgtap_120';
update public.trip_requests set check_count = check_count + 1 where id = (select id from ids where name = 'trip');
select is((select array_agg((payload ->> 'amount_minor')::int order by created_at, (payload ->> 'amount_minor')::int desc) from public.notifications
  where trip_id = (select id from ids where name = 'trip') and template = 'price_alert'), array[40000, 37000],
  'alerted at the first price and after a 5 % drop, not at 2.5 % or twice for one price');
update public.trip_requests set status = 'expired', next_check_at = null, last_error_code = 'departure_too_close'
where id = (select id from ids where name = 'trip');
select is((select payload ->> 'reason' from public.notifications where trip_id = (select id from ids where name = 'trip') and template = 'watch_expired'),
  'departure_too_close', 'an expired watch enqueues watch_expired');

select * from finish();
rollback;
