-- The local stand-ins from scripts/stack/sql/bootstrap.sql: Supabase roles, auth helpers, vault,
-- and the SQL half of pg_net. LOCAL ONLY: on a real Supabase project these objects are
-- Supabase's own (and pg_net's queue is processed by its C worker), so do not run this file there.
begin;
select plan(36);

-- Roles ----------------------------------------------------------------------------------------
select ok((select not rolcanlogin and not rolinherit and not rolbypassrls from pg_roles where rolname = 'anon'),
  'anon: nologin noinherit');
select ok((select not rolcanlogin and not rolinherit and not rolbypassrls from pg_roles where rolname = 'authenticated'),
  'authenticated: nologin noinherit');
select ok((select not rolcanlogin and not rolinherit and rolbypassrls from pg_roles where rolname = 'service_role'),
  'service_role: nologin noinherit bypassrls');
select ok((select rolcanlogin and not rolinherit from pg_roles where rolname = 'authenticator'),
  'authenticator: login noinherit');
select ok(pg_has_role('authenticator', 'anon', 'MEMBER') and pg_has_role('authenticator', 'authenticated', 'MEMBER')
  and pg_has_role('authenticator', 'service_role', 'MEMBER'), 'authenticator is a member of the three API roles');
select ok((select setconfig @> array['statement_timeout=3s'] from pg_db_role_setting where setrole = 'anon'::regrole),
  'anon has a 3s statement timeout');
select ok((select setconfig @> array['statement_timeout=8s'] from pg_db_role_setting where setrole = 'authenticated'::regrole),
  'authenticated has an 8s statement timeout');

-- auth -----------------------------------------------------------------------------------------
select is(auth.uid(), null, 'auth.uid() is null without claims');
select set_config('request.jwt.claims',
  '{"sub":"aaaaaaaa-0000-4000-8000-00000000000a","role":"authenticated","email":"a@example.test","aal":"aal1"}', true);
select is(auth.uid(), 'aaaaaaaa-0000-4000-8000-00000000000a'::uuid, 'auth.uid() reads sub from request.jwt.claims');
select is(auth.role(), 'authenticated', 'auth.role() reads role');
select is(auth.email(), 'a@example.test', 'auth.email() reads email');
select is(auth.jwt() ->> 'aal', 'aal1', 'auth.jwt() returns the whole claims object');
select set_config('request.jwt.claim.sub', 'bbbbbbbb-0000-4000-8000-00000000000b', true);
select is(auth.uid(), 'bbbbbbbb-0000-4000-8000-00000000000b'::uuid, 'the legacy request.jwt.claim.sub wins, as on Supabase');
select set_config('request.jwt.claim.sub', '', true);
select set_config('request.jwt.claims', '', true);
select is(auth.uid(), null, 'empty settings (after a PostgREST transaction) read as null');
select ok(has_function_privilege('anon', 'auth.uid()', 'EXECUTE') and has_schema_privilege('authenticated', 'auth', 'USAGE'),
  'API roles can use the auth helpers');
select ok(not has_table_privilege('authenticated', 'auth.users', 'SELECT'), 'authenticated cannot read auth.users');
select lives_ok($$ insert into auth.users (id, email) values ('cccccccc-0000-4000-8000-00000000000c', 'c@example.test') $$,
  'test users can be created with plain SQL');

-- vault ----------------------------------------------------------------------------------------
-- The stack seeds its own project_url; this test replaces it inside its transaction (rolled back).
delete from vault.secrets where name = 'project_url';
create temp table secret_ids as select vault.create_secret('https://example.test', 'project_url', 'the API') as id;
select is((select decrypted_secret from vault.decrypted_secrets where name = 'project_url'), 'https://example.test',
  'vault.create_secret + vault.decrypted_secrets');
select vault.update_secret((select id from secret_ids), 'http://127.0.0.1:54321');
select is((select decrypted_secret || '|' || description from vault.decrypted_secrets where name = 'project_url'),
  'http://127.0.0.1:54321|the API', 'vault.update_secret changes only what it is given');
select ok(not has_schema_privilege('anon', 'vault', 'USAGE') and not has_schema_privilege('authenticated', 'vault', 'USAGE'),
  'API roles cannot reach the vault');

-- pg_net (SQL half) ------------------------------------------------------------------------------
create temp table req as select net.http_post('http://127.0.0.1:54321/functions/v1/monitor') as id;
select is(
  (select jsonb_build_object('method', method, 'url', url, 'headers', headers, 'body', convert_from(body, 'UTF8'),
     'timeout_milliseconds', timeout_milliseconds) from net.http_request_queue where id = (select id from req)),
  '{"method": "POST", "url": "http://127.0.0.1:54321/functions/v1/monitor", "headers": {"Content-Type": "application/json"},
    "body": "{}", "timeout_milliseconds": 5000}'::jsonb,
  'http_post defaults: empty JSON body, JSON content type, 5000 ms');

create temp table req2 as select net.http_post(
  url := 'http://127.0.0.1:54321/functions/v1/monitor?x=1',
  body := '{"at": "now"}',
  params := '{"a b": "c&d/é"}',
  headers := '{"apikey": "sb_secret_x"}',
  timeout_milliseconds := 700
) as id;
select is(
  (select jsonb_build_object('url', url, 'headers', headers, 'body', convert_from(body, 'UTF8'),
     'timeout_milliseconds', timeout_milliseconds) from net.http_request_queue where id = (select id from req2)),
  '{"url": "http://127.0.0.1:54321/functions/v1/monitor?x=1&a%20b=c%26d%2F%C3%A9",
    "headers": {"apikey": "sb_secret_x", "Content-Type": "application/json"}, "body": "{\"at\": \"now\"}",
    "timeout_milliseconds": 700}'::jsonb,
  'http_post adds the missing Content-Type and appends url-encoded params');
select lives_ok($$ select net.http_post('http://x.test', headers := '{"content-type": "application/json"}') $$,
  'a lower-case application/json content type is accepted');
select throws_ok($$ select net.http_post('http://x.test', headers := '{"Content-Type": "text/plain"}') $$,
  'P0001', 'Content-Type header must be "application/json"', 'any other content type is rejected');
select throws_ok($$ select net.http_post('http://x.test', headers := '{"Content-Type": "application/json; charset=utf-8"}') $$,
  'P0001', 'Content-Type header must be "application/json"', 'the check is exact, as in pg_net');

create temp table req3 as select net.http_get('http://x.test/a', params := '{"q": "1"}') as id;
select is(
  (select jsonb_build_object('method', method, 'url', url, 'headers', headers, 'no_body', body is null)
   from net.http_request_queue where id = (select id from req3)),
  '{"method": "GET", "url": "http://x.test/a?q=1", "headers": {}, "no_body": true}'::jsonb,
  'http_get queues a GET without body');
create temp table req4 as select net.http_delete('http://x.test/a', body := '{"id": 1}') as id;
select is(
  (select method || ' ' || convert_from(body, 'UTF8') from net.http_request_queue where id = (select id from req4)),
  'DELETE {"id": 1}',
  'http_delete queues a DELETE with its optional body');
select has_function('net', 'http_post', array['text', 'jsonb', 'jsonb', 'jsonb', 'integer'], 'http_post has pg_net''s signature');
select has_function('net', 'http_delete', array['text', 'jsonb', 'jsonb', 'integer', 'jsonb'], 'http_delete has pg_net''s signature');
select has_function('net', 'http_get', array['text', 'jsonb', 'jsonb', 'integer'], 'http_get has pg_net''s signature');

select is((net._http_collect_response((select id from req))).status, 'ERROR'::net.request_status,
  'collecting a response that has not arrived reports ERROR');
insert into net._http_response (id, status_code, content_type, headers, content, timed_out)
values ((select id from req), 202, 'application/json', '{"x": "1"}', '{"ok":true}', false);
select is(net._http_collect_response((select id from req), async := false),
  ('SUCCESS', 'ok', (202, '{"x": "1"}'::jsonb, '{"ok":true}')::net.http_response)::net.http_response_result,
  'collecting an arrived response reports SUCCESS with status, headers and body');
insert into net._http_response (id, timed_out, error_msg) values ((select id from req2), true, 'Timeout of 700 ms reached');
select is((net._http_collect_response((select id from req2))).message, 'Timeout of 700 ms reached',
  'a failed request reports its error message');

select set_config('role', 'authenticated', true);
select lives_ok($$ select net.http_get('http://x.test') $$, 'usage on net is granted to PUBLIC, as pg_net does');
select set_config('role', 'postgres', true);

-- Extensions -----------------------------------------------------------------------------------
select ok(exists (select 1 from pg_extension where extname = 'pg_cron'), 'pg_cron is installed');
select is((select extnamespace::regnamespace::text from pg_extension where extname = 'pgtap'), 'extensions',
  'pgtap lives in schema extensions, as on Supabase');

select * from finish();
rollback;
