-- Feature flags schema (issue 9, item 1; 20261202000500_feature_flags_schema.sql): the two tables
-- are service-only, the seeded flags exist, app.set_feature_flag changes a flag and audits it in
-- the same transaction, and refuses bad arguments with 22023 and unknown flags with P0002.
begin;
select plan(16);

select ok(
  (select relrowsecurity from pg_class where oid = 'public.feature_flags'::regclass),
  'RLS is on for feature_flags'
);
select ok(
  (select relrowsecurity from pg_class where oid = 'public.feature_flag_audit'::regclass),
  'RLS is on for feature_flag_audit'
);
select ok(not has_table_privilege('authenticated', 'public.feature_flags', 'select'),
  'travellers cannot read flags directly');
select ok(not has_table_privilege('service_role', 'public.feature_flags', 'update'),
  'even the service changes flags only through app.set_feature_flag');
select ok(not has_function_privilege('authenticated', 'app.set_feature_flag(jsonb)', 'execute'),
  'travellers cannot change flags');

select is(
  (select jsonb_build_object('enabled', enabled, 'rollout_bp', rollout_bp, 'lifetime', lifetime)
     from public.feature_flags where name = 'auto_booking'),
  '{"enabled": true, "rollout_bp": 10000, "lifetime": "temporary"}'::jsonb,
  'auto_booking is seeded on at 100 %'
);
select is(
  (select enabled from public.feature_flags where name = 'auto_booking_kill_switch'),
  false,
  'the kill switch is seeded off'
);

select is(
  (app.set_feature_flag('{"name": "auto_booking", "actor": "op-1", "reason": "ramp to 5 %",
     "rollout_bp": 500, "allow_users": ["aaaaaaaa-0000-4000-8000-00000000000a",
     "aaaaaaaa-0000-4000-8000-00000000000a"]}'::jsonb)) - 'updated_at',
  jsonb_build_object('name', 'auto_booking', 'enabled', true, 'rollout_bp', 500,
    'allow_users', '["aaaaaaaa-0000-4000-8000-00000000000a"]'::jsonb, 'deny_users', '[]'::jsonb,
    'lifetime', 'temporary', 'updated_by', 'op-1',
    'description', 'Creating or enabling auto-book, and beginning a booking attempt.'),
  'set_feature_flag changes only what it is given (and deduplicates the lists)'
);
select is(
  (select jsonb_build_object('by', changed_by, 'reason', reason, 'before', before -> 'rollout_bp',
     'after', after -> 'rollout_bp') from public.feature_flag_audit where flag = 'auto_booking'),
  '{"by": "op-1", "reason": "ramp to 5 %", "before": 10000, "after": 500}'::jsonb,
  'the change is audited with who, why, before and after'
);

select throws_ok(
  $$ select app.set_feature_flag('{"name": "nope", "actor": "op-1", "reason": "x"}') $$,
  'P0002', NULL, 'an unknown flag is P0002'
);
select throws_ok(
  $$ select app.set_feature_flag('{"name": "auto_booking", "actor": "op-1", "reason": "x", "rollout_bp": 10001}') $$,
  '22023', NULL, 'a rollout above 10000 bp is refused'
);
select throws_ok(
  $$ select app.set_feature_flag('{"name": "auto_booking", "actor": "op-1", "reason": "x", "rollout_bp": 2.5}') $$,
  '22023', NULL, 'a fractional rollout is refused'
);
select throws_ok(
  $$ select app.set_feature_flag('{"name": "auto_booking", "actor": "op-1", "reason": ""}') $$,
  '22023', NULL, 'a change needs a reason'
);
select throws_ok(
  $$ select app.set_feature_flag('{"name": "auto_booking", "actor": "op 1; drop", "reason": "x"}') $$,
  '22023', NULL, 'the actor must be an id'
);
select throws_ok(
  $$ select app.set_feature_flag('{"name": "auto_booking", "actor": "op-1", "reason": "x", "allow_users": ["not-a-uuid"]}') $$,
  '22023', NULL, 'user ids must be UUIDs'
);
select is(
  (select count(*)::int from public.feature_flag_audit),
  1,
  'refused changes leave no audit row'
);

select * from finish();
rollback;
