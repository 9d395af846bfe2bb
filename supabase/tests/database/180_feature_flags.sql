-- Feature flags, evaluation and gates (migration 20261203000601_feature_flag_evaluation.sql,
-- issue 9 item 1): app.flag_bucket on the shared vectors (the copy between the markers below is
-- tests/vectors/flag_buckets.json verbatim; the Rust test flags::tests checks that it still is),
-- raising a rollout never moves a user out, allow/deny lists, the kill switch, the trip gate
-- (PFF01) and app.monitor_flags. Every date derives from now().
begin;
select plan(24);

-- vectors:begin
create temp table vectors as select $vectors${
  "hash": "bucket = big-endian u32 of the first 4 bytes of SHA-256(utf8(flag + ':' + lower-case user uuid)) mod 10000; in when bucket < rollout_bp",
  "generated_by": "python3 hashlib (independent of both the Rust and the SQL implementation)",
  "buckets": [
    {
      "flag": "auto_booking",
      "user": "00000000-0000-0000-0000-000000000000",
      "bucket": 8518
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "00000000-0000-0000-0000-000000000000",
      "bucket": 509
    },
    {
      "flag": "x",
      "user": "00000000-0000-0000-0000-000000000000",
      "bucket": 8944
    },
    {
      "flag": "auto_booking",
      "user": "ffffffff-ffff-ffff-ffff-ffffffffffff",
      "bucket": 6886
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "ffffffff-ffff-ffff-ffff-ffffffffffff",
      "bucket": 3070
    },
    {
      "flag": "x",
      "user": "ffffffff-ffff-ffff-ffff-ffffffffffff",
      "bucket": 6140
    },
    {
      "flag": "auto_booking",
      "user": "6f1c2b9e-0d3a-4c5b-8e7f-a1b2c3d4e5f6",
      "bucket": 303
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "6f1c2b9e-0d3a-4c5b-8e7f-a1b2c3d4e5f6",
      "bucket": 6196
    },
    {
      "flag": "x",
      "user": "6f1c2b9e-0d3a-4c5b-8e7f-a1b2c3d4e5f6",
      "bucket": 9437
    },
    {
      "flag": "auto_booking",
      "user": "4462ebfc-5f91-4ef0-9cfb-ac6e7687a66e",
      "bucket": 5747
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "ad38835e-ddd6-4f55-afa7-3207237751aa",
      "bucket": 1991
    },
    {
      "flag": "x",
      "user": "76b67451-80b6-4386-969c-803601a5ba50",
      "bucket": 1613
    },
    {
      "flag": "auto_booking",
      "user": "558298e2-14b0-44d7-9acd-8acde5f6db1d",
      "bucket": 3301
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "b339a476-9ddc-46f8-afb6-fbfe8de4ab47",
      "bucket": 8
    },
    {
      "flag": "x",
      "user": "2b5ebaa0-6107-4dc3-ba6a-ce6c0a78250f",
      "bucket": 6024
    },
    {
      "flag": "auto_booking",
      "user": "f3868254-73b7-4490-b23b-2cc4b4174a67",
      "bucket": 1083
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "2b1e1885-283b-43a6-ac2e-a417b99de255",
      "bucket": 5621
    },
    {
      "flag": "x",
      "user": "21e6a46f-1c67-4ea9-8d24-3a163cee5e2c",
      "bucket": 7154
    },
    {
      "flag": "auto_booking",
      "user": "fdb119a9-ec80-4bdf-9f29-65b3819ad93b",
      "bucket": 5482
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "b03da701-c632-476a-9036-3c5f972651da",
      "bucket": 5654
    },
    {
      "flag": "x",
      "user": "e323bb2a-bf00-488d-8a22-e4c76237dbe6",
      "bucket": 3715
    },
    {
      "flag": "auto_booking",
      "user": "3478442b-4a8a-4593-ab40-a9b81a070205",
      "bucket": 1114
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "cb01c357-b9c7-4435-b96b-cb8fac9abb0c",
      "bucket": 3464
    },
    {
      "flag": "x",
      "user": "c5c7d186-1674-418d-a3bb-41b36bf82959",
      "bucket": 417
    },
    {
      "flag": "auto_booking",
      "user": "6583d614-35bb-4c11-a950-27004448a6a1",
      "bucket": 751
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "0b0ecf26-cf3c-47e5-9777-039e47fbb3b4",
      "bucket": 7340
    },
    {
      "flag": "x",
      "user": "01597ac1-e2eb-47c8-b573-f6c533115519",
      "bucket": 1902
    },
    {
      "flag": "auto_booking",
      "user": "e553fb51-0e06-4cd4-a943-98c5e11e99fb",
      "bucket": 3987
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "239edd3a-7de0-4208-9886-c5d060fa1c95",
      "bucket": 6080
    },
    {
      "flag": "x",
      "user": "bc79ce03-6cba-4cf1-bc9a-8df50602fe0c",
      "bucket": 5374
    },
    {
      "flag": "auto_booking",
      "user": "f6c986f2-1caf-407a-99c9-8c23e80a86cf",
      "bucket": 7597
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "c3ad4d99-1f09-46cb-80fd-ed6598cae043",
      "bucket": 7665
    },
    {
      "flag": "x",
      "user": "da298ade-e532-4b4e-b29a-86139425b3e2",
      "bucket": 4530
    },
    {
      "flag": "auto_booking",
      "user": "e4794195-021c-46ff-9489-14ef33fb4b4f",
      "bucket": 7881
    },
    {
      "flag": "auto_booking_kill_switch",
      "user": "eaeb999b-8a2e-447e-a218-4e8215607df9",
      "bucket": 7791
    },
    {
      "flag": "x",
      "user": "92aeb20c-15b7-495f-8034-a6a704789365",
      "bucket": 1341
    }
  ]
}
$vectors$::jsonb as doc;
-- vectors:end

select is((select count(*)::int from vectors, jsonb_array_elements(doc -> 'buckets')), 36,
  'all shared vectors are here');
select is((
  select count(*)::int from vectors, jsonb_array_elements(doc -> 'buckets') v
  where app.flag_bucket(v ->> 'flag', (v ->> 'user')::uuid) <> (v ->> 'bucket')::int), 0,
  'SQL buckets every shared vector as Rust does');
select is(app.flag_bucket('auto_booking', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'),
  app.flag_bucket('auto_booking', 'ffffffff-ffff-ffff-ffff-ffffffffffff'), 'uuid case does not matter');
select ok((select bool_and(app.flag_bucket('x', gen_random_uuid()) between 0 and 9999)
  from generate_series(1, 500)), 'buckets are in 0..9999');

-- 4000 users; who is in at 5 %, 20 %, 50 % of `auto_booking`.
create temp table users as select gen_random_uuid() as id from generate_series(1, 4000);
create temp table inside (bp int, id uuid);
create function pg_temp.rollout(bp int) returns void language plpgsql as $$
begin
  perform app.set_feature_flag(jsonb_build_object('name', 'auto_booking', 'actor', 'pgtap',
    'reason', 'rollout test', 'rollout_bp', bp));
  insert into inside select bp, u.id from users u where app.flag_allows('auto_booking', u.id);
end $$;
select pg_temp.rollout(500);
select pg_temp.rollout(2000);
select pg_temp.rollout(5000);
select is((select count(*)::int from inside a where a.bp = 500
  and not exists (select 1 from inside b where b.bp = 2000 and b.id = a.id)), 0,
  'nobody in at 5 % is out at 20 %');
select is((select count(*)::int from inside a where a.bp = 2000
  and not exists (select 1 from inside b where b.bp = 5000 and b.id = a.id)), 0,
  'nobody in at 20 % is out at 50 %');
select ok((select count(*) from inside where bp = 2000) between 650 and 950,
  'about 20 % of 4000 are in at 2000 bp');
select ok((select count(*) from inside where bp = 5000) between 1800 and 2200,
  'about 50 % are in at 5000 bp');
select is((select count(*)::int from inside where bp = 2000 and app.flag_bucket('auto_booking', id) >= 2000), 0,
  'in means bucket < rollout_bp');

-- Lists, disabling, the kill switch.
insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-000000000180', 'user-180@example.test'),
  ('aaaaaaaa-0000-4000-8000-000000000181', 'user-181@example.test');
select app.set_feature_flag('{"name": "auto_booking", "actor": "pgtap", "reason": "t", "rollout_bp": 0,
  "allow_users": ["aaaaaaaa-0000-4000-8000-000000000180"]}');
select ok(app.flag_allows('auto_booking', 'aaaaaaaa-0000-4000-8000-000000000180'), 'the allow list is in at 0 bp');
select ok(not app.flag_allows('auto_booking', 'aaaaaaaa-0000-4000-8000-000000000181'), 'others are out at 0 bp');
select app.set_feature_flag('{"name": "auto_booking", "actor": "pgtap", "reason": "t", "rollout_bp": 10000,
  "deny_users": ["aaaaaaaa-0000-4000-8000-000000000180"]}');
select ok(not app.flag_allows('auto_booking', 'aaaaaaaa-0000-4000-8000-000000000180'), 'deny wins over allow and 100 %');
select ok(app.auto_booking_allowed('aaaaaaaa-0000-4000-8000-000000000181'), 'at 100 % others may auto-book');
select app.set_feature_flag('{"name": "auto_booking_kill_switch", "actor": "pgtap", "reason": "t", "enabled": true}');
select ok(not app.auto_booking_allowed('aaaaaaaa-0000-4000-8000-000000000181'), 'the kill switch overrides the rollout');
select ok(not app.flag_allows('no_such_flag', 'aaaaaaaa-0000-4000-8000-000000000181'), 'a missing flag is off');

-- The trip gate: creating or turning on auto-book while off for the owner is PFF01; the
-- consent trigger (PF003) comes after it.
select throws_ok($$ insert into public.trip_requests (owner_id, origin, destination, departure_date, adults,
    cabin, max_total_minor, currency, auto_book)
  values ('aaaaaaaa-0000-4000-8000-000000000181', 'LHR', 'JFK', current_date + 60, 1, 'economy', 42000, 'GBP', true) $$,
  'PFF01', 'auto-booking is not available', 'creating an auto-book trip under the kill switch is refused');
insert into public.trip_requests (id, owner_id, origin, destination, departure_date, adults, cabin, max_total_minor, currency)
values ('bbbbbbbb-0000-4000-8000-000000000180', 'aaaaaaaa-0000-4000-8000-000000000181', 'LHR', 'JFK',
  current_date + 60, 1, 'economy', 42000, 'GBP');
select pass('a watch without auto-book is created under the kill switch');
select throws_ok($$ update public.trip_requests set auto_book = true where id = 'bbbbbbbb-0000-4000-8000-000000000180' $$,
  'PFF01', null, 'turning auto-book on under the kill switch is refused');
select lives_ok($$ update public.trip_requests set auto_book = false, cabin = 'premium_economy'
  where id = 'bbbbbbbb-0000-4000-8000-000000000180' $$, 'other changes pass the gate');
select app.set_feature_flag('{"name": "auto_booking_kill_switch", "actor": "pgtap", "reason": "t", "enabled": false}');
select throws_ok($$ update public.trip_requests set auto_book = true where id = 'bbbbbbbb-0000-4000-8000-000000000180' $$,
  'PF003', null, 'with the flag on for the owner the gate passes (the consent rule answers next)');

-- The monitor's snapshot and who may read it.
select is((select jsonb_agg(f ->> 'name' order by f ->> 'name') from jsonb_array_elements(app.monitor_flags('{}') -> 'flags') f),
  '["auto_booking", "auto_booking_kill_switch"]'::jsonb, 'monitor_flags lists every flag');
select is((select f from jsonb_array_elements(app.monitor_flags('{}') -> 'flags') f where f ->> 'name' = 'auto_booking'),
  jsonb_build_object('name', 'auto_booking', 'enabled', true, 'rollout_bp', 10000, 'allow_users',
    '["aaaaaaaa-0000-4000-8000-000000000180"]'::jsonb, 'deny_users', '["aaaaaaaa-0000-4000-8000-000000000180"]'::jsonb),
  'the snapshot carries what evaluation needs');
select ok(not has_function_privilege('authenticated', 'app.monitor_flags(jsonb)', 'execute')
  and has_function_privilege('service_role', 'app.monitor_flags(jsonb)', 'execute'), 'monitor_flags is service only');
select ok(not has_function_privilege('authenticated', 'app.flag_allows(text, uuid)', 'execute')
  and not has_function_privilege('anon', 'app.auto_booking_allowed(uuid)', 'execute'),
  'evaluation with the lists is service only');

select * from finish();
rollback;
