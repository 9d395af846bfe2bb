/**
 * The token part of `bash scripts/stack.sh status`: makes sure the local test user exists in
 * `auth.users` (fixed uuid 00000000-0000-4000-8000-000000000001, traveller@example.test) and
 * prints `user id:` and `user jwt:` lines (a fresh one-hour HS256 access token for that user).
 */
import { connect, createUser, loadEnv, mintUserJwt, TEST_USER } from "./testkit.ts";

const env = loadEnv();
const sql = connect(env, 1);
try {
  await createUser(sql, TEST_USER.id, TEST_USER.email);
} catch (e) {
  console.error(`status: could not create the test user: ${e instanceof Error ? e.message : e}`);
  Deno.exitCode = 1;
} finally {
  await sql.end({ timeout: 2 });
}
console.log(`user id: ${TEST_USER.id}`);
console.log(`user jwt: ${await mintUserJwt(TEST_USER.id, { email: TEST_USER.email, env })}`);
