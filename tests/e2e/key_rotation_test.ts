/**
 * End-to-end: rotating the traveller data key (issue 8 item 5) under the running stack. A new
 * Vault key is used by the `travelers` function for new profiles at once, profiles under the old
 * key keep decrypting through the function, the bounded job moves every row, and a key no row
 * uses retires. The test then rotates back the same way (the old key made newest again) and
 * retires its own key, so the shared stack ends with the key it started with (also when it fails).
 */
import assert from "node:assert/strict";
import { closeSql, e2eTest, newUser, sql } from "./helpers.ts";
import { TRAVELLER } from "./personal_data.ts";
import { call } from "./user_fn_helpers.ts";

async function keyOf(travelerId: string): Promise<string> {
  const [row] = await sql()`select data_key from public.travelers where id = ${travelerId}`;
  return row.data_key;
}

/**
 * Runs the re-encryption job until a run moves nothing (profiles frozen by another test's open
 * attempt stay where they are: the job skips them and moves them once the attempt closes).
 */
async function reencryptAll(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const [row] = await sql()`select app.data_key_reencrypt(500) as r`;
    if (row.r.travelers + row.r.notifications === 0) return;
  }
  throw new Error("re-encryption did not finish");
}

async function retire(name: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    try {
      await sql()`select app.data_key_retire(${name})`;
      return;
    } catch (err) {
      // A row written under it meanwhile (another test's traveller): move it, try again.
      if ((err as { code?: string }).code !== "55006") throw err;
      await reencryptAll();
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`could not retire ${name}`);
}

/** Makes `oldKey` current again, moves every row back to it and retires `name`. */
async function rotateBack(oldKey: string, name: string): Promise<void> {
  await sql()`update vault.secrets set created_at = now() where name = ${oldKey}`;
  await reencryptAll();
  await retire(name);
}

e2eTest(
  "a new data key is used at once, both keys decrypt, the job moves rows, the old retires",
  async () => {
    const user = await newUser();
    const before = await call("travelers", { action: "create", traveler: TRAVELLER }, user.jwt);
    assert.equal(before.status, 201);
    const beforeId: string = before.json.traveler.id;
    const oldKey = await keyOf(beforeId);
    const [{ current }] = await sql()`select app.traveler_data_key_id() as current`;
    assert.equal(oldKey, current, "written under the current key");

    const name = `traveler_data_key_e2e${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const secret = crypto.randomUUID() + crypto.randomUUID();
    await sql()`select vault.create_secret(${secret}, ${name}, 'e2e rotation key')`;
    const listed = async () =>
      ((await call("travelers", { action: "list" }, user.jwt)).json.travelers as {
        given_name: string;
      }[]).map((t) => t.given_name).sort();
    try {
      const after = await call("travelers", {
        action: "create",
        traveler: { ...TRAVELLER, given_name: "Rotated" },
      }, user.jwt);
      assert.equal(after.status, 201);
      assert.equal(await keyOf(after.json.traveler.id), name, "new writes use the new key at once");
      assert.deepEqual(await listed(), ["Rotated", TRAVELLER.given_name], "both keys decrypt");
      await assert.rejects(sql()`select app.data_key_retire(${oldKey})`, /still encrypts/);
      await reencryptAll();
      assert.equal(await keyOf(beforeId), name, "the job moved the old row");
      assert.deepEqual(await listed(), ["Rotated", TRAVELLER.given_name]);
    } catch (err) {
      await rotateBack(oldKey, name).catch(() => {});
      throw err;
    }

    // Back to the stack's own key: make it the newest again, move everything, retire ours.
    await rotateBack(oldKey, name);
    const [{ back }] = await sql()`select app.traveler_data_key_id() as back`;
    assert.equal(back, oldKey);
    assert.equal(await keyOf(beforeId), oldKey, "moved back");
    assert.deepEqual(await listed(), ["Rotated", TRAVELLER.given_name], "still readable");
    const [usage] = await sql()`select app.data_key_usage() as u`;
    assert.equal(usage.u.keys[name], undefined, "the retired key is gone");
    assert.equal(usage.u.current, oldKey);
  },
);

e2eTest("(close the database pool)", async () => {
  await closeSql();
});
