-- The monitor's group commit carries the money steps (migration 20261205000500): app.monitor_batch
-- runs monitor_begin_attempt, monitor_save_attempt and monitor_flag_attempt, each in its own
-- savepoint with the answer a call of its own gives; a money step that raises is rolled back alone
-- (a begin before it in the same batch stays); a lost compare-and-set is answered, not raised;
-- reads are still refused. Migration 20261205000501: a call waiting on a lock for more than 2 s
-- fails alone (55P03) while the rest of its batch commits, and app.set_feature_flag queues on the
-- flags table (EXCLUSIVE) so that begins holding the flags FOR SHARE cannot starve the kill switch.
begin;
select plan(22);

-- Dates relative to the transaction's clock: pg_temp.day(n) is current_date + n, pg_temp.at(i)
-- now() + i as RFC 3339 UTC.
create function pg_temp.day(n int) returns date language sql stable as $$ select current_date + n $$;
create function pg_temp.at(i interval) returns text language sql stable
as $$ select to_char((now() + i) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

insert into auth.users (id, email) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'batch-a@example.test');
select vault.create_secret('pgtap-only-traveler-key-0123456789', 'traveler_data_key')
where not exists (select 1 from vault.secrets where name = 'traveler_data_key');

-- A trip in `status` with a selected offer (off_<n>), due now.
create function pg_temp.trip(status text, adults int default 1, child_ages smallint[] default '{}')
returns uuid
language plpgsql
as $$
declare
  t uuid;
  o uuid;
begin
  insert into public.trip_requests (owner_id, origin, destination, departure_date, adults, child_ages, cabin, max_total_minor, currency)
  values ('aaaaaaaa-0000-4000-8000-00000000000a', 'LHR', 'JFK', pg_temp.day(100), adults, child_ages, 'economy', 42000, 'GBP')
  returning id into t;
  insert into public.flight_offers (trip_id, provider, provider_offer_id, total_minor, currency, cabin, stops,
    duration_minutes, departing_at, arriving_at, carriers, expires_at)
  values (t, 'duffel', 'off_0000test', 39900, 'GBP', 'economy', 0, 490, pg_temp.day(100) + time '09:00', pg_temp.day(100) + time '12:10', '{ZZ}',
    pg_temp.at('30 minutes')::timestamptz)
  returning id into o;
  if status <> 'searching' then
    update public.trip_requests set status = 'watching', selected_offer_id = o, next_check_at = now() where id = t;
  end if;
  return t;
end
$$;

-- An AttemptState (booking_core::saga::AttemptState JSON) with `extra` merged over it.
create function pg_temp.state(attempt uuid, trip uuid, version int, phase jsonb, extra jsonb default '{}')
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'schema_version', 1, 'attempt_id', attempt, 'trip_id', trip, 'offer_id', 'off_0000test',
    'max_total', jsonb_build_object('amount_minor', 42000, 'currency', 'GBP'),
    'customer', 'cus_test', 'payment_method', 'pm_test', 'seed', 7, 'version', version, 'phase', phase,
    'in_flight', false, 'tries', 0, 'not_before', null, 'amount', null, 'passenger_ids', '[]'::jsonb,
    'payment_intent', null, 'order', null, 'check_intent', false, 'key_generation', 0, 'lookup_misses', 0,
    'reason', null, 'started_at', pg_temp.at('0'), 'updated_at', pg_temp.at('0')
  ) || extra
$$;

create function pg_temp.begin_args(trip uuid, attempt uuid, trip_version bigint default null)
returns jsonb
language sql
as $$
  select jsonb_build_object(
    'trip_id', trip,
    'trip_version', coalesce(trip_version, (select version from public.trip_requests where id = trip)),
    'state', pg_temp.state(attempt, trip, 1, '{"name": "reprice"}'))
$$;

create function pg_temp.save_args(attempt uuid, expected int, state jsonb, effects jsonb default '[]')
returns jsonb
language sql
as $$
  select jsonb_build_object('attempt_id', attempt, 'expected_version', expected, 'state', state, 'effects', effects)
$$;

create function pg_temp.batch(calls jsonb) returns jsonb language sql
as $$ select app.monitor_batch(jsonb_build_object('calls', calls)) $$;

create temp table t (k text primary key, id uuid);
create temp table got (k text primary key, j jsonb);
grant all on t, got to public;
insert into t values ('main', pg_temp.trip('watching')), ('stale', pg_temp.trip('watching')),
  ('wait', pg_temp.trip('watching')), ('lw', pg_temp.trip('watching')),
  ('a3', '25425425-0000-4000-8000-000000000003'),
  ('a1', '25425425-0000-4000-8000-000000000001'), ('a2', '25425425-0000-4000-8000-000000000002');

select set_config('role', 'service_role', true);

-- A call waiting on a lock fails alone after lock_timeout (2 s) ----------------------------------------
-- First: later begins of this transaction hold the flags FOR SHARE until its end.
select set_config('role', 'postgres', true);
-- PostgreSQL's timers (lock_timeout, statement_timeout) do not fire reliably under libfaketime
-- (scripts/test-future.sh exports FAKETIME to everything it starts, psql too): there the lock wait
-- is left to the real clock's run, which scripts/test.sh does.
select exists (select 1 from pg_available_extensions where name = 'dblink') as lock_test \gset
\getenv faketime FAKETIME
\if :{?faketime}
\set lock_test false
\endif
\if :lock_test
create extension if not exists dblink with schema extensions;
select extensions.dblink_connect('holder', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
  current_setting('port'), current_database()));
-- Without the lock_timeout the batch would wait for the holder forever: fail after 10 s instead.
select set_config('statement_timeout', '10s', true);
select extensions.dblink_exec('holder', 'begin');
-- Another session holds the auto_booking flag row (as app.set_feature_flag does while it changes
-- it); NOWAIT: if this transaction held it already, fail here rather than wait for ourselves.
select n from extensions.dblink('holder',
  $$ select 1 from public.feature_flags where name = 'auto_booking' for update nowait $$) as x(n int);
select set_config('role', 'service_role', true);
insert into got select 'locked', pg_temp.batch(jsonb_build_array(
  jsonb_build_object('function', 'monitor_begin_attempt',
    'args', pg_temp.begin_args((select id from t where k = 'lw'), (select id from t where k = 'a3'))),
  jsonb_build_object('function', 'monitor_reschedule', 'args', jsonb_build_object(
    'trip_id', (select id from t where k = 'wait'), 'next_check_at', pg_temp.at('2 hours'), 'decision', 'wait'))
));
select set_config('statement_timeout', '0', true);
select extensions.dblink_exec('holder', 'rollback');
select extensions.dblink_disconnect('holder');
select is((select j -> 'results' -> 0 from got where k = 'locked'), '{"ok": false, "sqlstate": "55P03"}'::jsonb,
  'a begin that waits on the flags for more than lock_timeout fails alone with 55P03');
select is((select j -> 'results' -> 1 -> 'ok' from got where k = 'locked'), 'true'::jsonb,
  'and the rest of its batch commits');
select is((select status from public.trip_requests where id = (select id from t where k = 'lw')), 'watching',
  'the timed-out begin wrote nothing');
\else
select skip('no dblink, or the clock is faked (FAKETIME, where PostgreSQL timers do not fire reliably): the lock wait is checked on the real clock', 3);
\endif
select set_config('role', 'service_role', true);

-- One batch: a begin, a stale begin, a save that raises, a reschedule ------------------------------
insert into got select 'b1', pg_temp.batch(jsonb_build_array(
  jsonb_build_object('function', 'monitor_begin_attempt',
    'args', pg_temp.begin_args((select id from t where k = 'main'), (select id from t where k = 'a1'))),
  jsonb_build_object('function', 'monitor_begin_attempt',
    'args', pg_temp.begin_args((select id from t where k = 'stale'), (select id from t where k = 'a2'), 1)),
  jsonb_build_object('function', 'monitor_save_attempt',
    'args', pg_temp.save_args((select id from t where k = 'a1'), 1,
      pg_temp.state((select id from t where k = 'a1'), (select id from t where k = 'main'), 2, '{"name": "authorize"}'),
      jsonb_build_array(jsonb_build_object('kind', 'refund', 'trip_id', (select id from t where k = 'main'))))),
  jsonb_build_object('function', 'monitor_reschedule', 'args', jsonb_build_object(
    'trip_id', (select id from t where k = 'wait'), 'next_check_at', pg_temp.at('1 hour'), 'decision', 'wait'))
));
select is((select j -> 'results' -> 0 from got where k = 'b1'), '{"ok": true, "result": {"started": true}}'::jsonb,
  'a begin in a batch: started, as a call of its own answers');
select is((select j -> 'results' -> 1 from got where k = 'b1'),
  '{"ok": true, "result": {"started": false, "reason": "trip_changed"}}'::jsonb,
  'a stale begin in a batch: trip_changed (an answer, not an error)');
select is((select j -> 'results' -> 2 from got where k = 'b1'), '{"ok": false, "sqlstate": "22023"}'::jsonb,
  'a save that raises is answered with its SQLSTATE');
select is((select j -> 'results' -> 3 -> 'ok' from got where k = 'b1'), 'true'::jsonb,
  'and the call after it still runs');
select is((select status from public.trip_requests where id = (select id from t where k = 'main')), 'booking',
  'the begin stays: the trip is booking');
select is((select phase || ' v' || version from public.booking_attempts where id = (select id from t where k = 'a1')),
  'reprice v1', 'the failed save rolled back alone: the attempt is as the begin wrote it');
select is((select count(*)::int from public.booking_attempts where trip_id = (select id from t where k = 'stale')), 0,
  'the stale begin inserted nothing');

-- A second batch: the save that wins, one that lost the compare-and-set, a flag ---------------------
insert into got select 'b2', pg_temp.batch(jsonb_build_array(
  jsonb_build_object('function', 'monitor_save_attempt',
    'args', pg_temp.save_args((select id from t where k = 'a1'), 1,
      pg_temp.state((select id from t where k = 'a1'), (select id from t where k = 'main'), 2, '{"name": "authorize"}',
        '{"in_flight": true, "tries": 1}'))),
  jsonb_build_object('function', 'monitor_save_attempt',
    'args', pg_temp.save_args((select id from t where k = 'a1'), 1,
      pg_temp.state((select id from t where k = 'a1'), (select id from t where k = 'main'), 2, '{"name": "order"}')))
));
select is((select j -> 'results' from got where k = 'b2'),
  '[{"ok": true, "result": {"saved": true}}, {"ok": true, "result": {"saved": false}}]'::jsonb,
  'the expected version saves; the same compare-and-set again loses, answered saved false');
select is((select phase || ' v' || version || ' ' || (state ->> 'in_flight')
   from public.booking_attempts where id = (select id from t where k = 'a1')),
  'authorize v2 true', 'the winning state is stored');

insert into got select 'b3', pg_temp.batch(jsonb_build_array(
  jsonb_build_object('function', 'monitor_flag_attempt', 'args', jsonb_build_object(
    'attempt_id', (select id from t where k = 'a1'), 'expected_version', 2, 'reason', 'ledger_unclosable', 'sqlstate', '23505'))
));
select is((select j -> 'results' from got where k = 'b3'), '[{"ok": true, "result": {"flagged": true}}]'::jsonb,
  'a flag in a batch: flagged');
select is((select status from public.trip_requests where id = (select id from t where k = 'main')), 'needs_operator',
  'the flagged trip needs an operator');
select is((select count(*)::int from public.operator_alerts where attempt_id = (select id from t where k = 'a1')), 1,
  'with one operator alert');

-- A flag change queues on the flags table -------------------------------------------------------------
select ok((select proconfig @> '{lock_timeout=2s}' from pg_proc where oid = 'app.monitor_batch(jsonb)'::regprocedure),
  'app.monitor_batch runs with lock_timeout 2s (the 55P03 above is its own, not the session''s)');
select ok((select proconfig @> '{lock_timeout=10s}' from pg_proc where oid = 'app.set_feature_flag(jsonb)'::regprocedure),
  'a flag change waits at most 10 s for the flags table');
select ok((select position('lock table public.feature_flags in exclusive mode' in prosrc) between 1
     and position('app.set_feature_flag_unqueued' in prosrc)
   from pg_proc where oid = 'app.set_feature_flag(jsonb)'::regprocedure),
  'app.set_feature_flag locks the table before it changes anything');
select ok(not has_function_privilege('service_role', 'app.set_feature_flag_unqueued(jsonb)', 'execute'),
  'the unqueued body is reachable only through app.set_feature_flag');
select app.set_feature_flag(jsonb_build_object('name', 'auto_booking', 'actor', 'pgtap', 'reason', 'lock order',
  'description', (select description from public.feature_flags where name = 'auto_booking')));
select ok(exists (select 1 from pg_locks where locktype = 'relation' and pid = pg_backend_pid()
    and relation = 'public.feature_flags'::regclass and mode = 'ExclusiveLock' and granted),
  'app.set_feature_flag takes the flags table EXCLUSIVE (later FOR SHARE begins queue behind it)');
select set_config('role', 'service_role', true);

-- Reads and the executor's own calls are never batched ------------------------------------------------
select throws_ok($$ select pg_temp.batch('[{"function": "monitor_passengers", "args": {}}]') $$,
  '22023', 'function monitor_passengers cannot be batched', 'the travellers read is not batched');
select throws_ok($$ select pg_temp.batch('[{"function": "monitor_claim", "args": {}}]') $$,
  '22023', 'function monitor_claim cannot be batched', 'nor is the claim');

select set_config('role', 'postgres', true);
select * from finish();
rollback;
