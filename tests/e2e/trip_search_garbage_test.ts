/**
 * No input a caller can send makes trip-search answer 5xx: hand-picked nasty bodies and a seeded
 * stream of mutations of a valid body, each answered with a 4xx (or a success) and a stable code.
 */
import assert from "node:assert/strict";
import { callSearch, closeSql, e2eTest, newUser, randomRoute, tripBody } from "./helpers.ts";

const nasty: string[] = [
  "",
  " ",
  "null",
  "[]",
  '"text"',
  "123",
  "{",
  '{"origin":{}}',
  '{"trip_id":null}',
  '{"trip_id":"00000000-0000-0000-0000-000000000000"}',
  '{"trip_id":"5b0c3b8e-1d1b-4a53-9a56-3f1c7c2a9e11","origin":"LHR"}',
  '{"max_total_minor":1e400}',
  '{"max_total_minor":-0}',
  // 30 February of next year: never a date, whatever today is.
  `{"departure_date":"${new Date().getUTCFullYear() + 1}-02-30"}`,
  '{"origin":"\\ud800"}',
  '{"origin":"L\\u0000R"}',
  '{"adults":9007199254740993}',
  '{"child_ages":' + "[".repeat(5000) + "]".repeat(5000) + "}",
  "[".repeat(100_00),
  '{"origin":"LHR","origin":"JFK"}',
];

/** A deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(text: string, rand: () => number): string {
  const chars = [...text];
  const edits = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * chars.length);
    const pick = rand();
    if (pick < 0.4) chars.splice(at, 1);
    else if (pick < 0.8) chars.splice(at, 0, String.fromCharCode(Math.floor(rand() * 0x3000)));
    else chars[at] = '{}[]",:0-e.'[Math.floor(rand() * 11)];
  }
  return chars.join("");
}

e2eTest("hand-picked nasty bodies get 4xx with a stable code, never 5xx", async () => {
  const user = await newUser();
  for (const raw of nasty) {
    const res = await callSearch(null, user.jwt, { raw });
    assert.ok(res.status >= 400 && res.status < 500, `${res.status} for ${raw.slice(0, 60)}`);
    assert.match(String(res.json.code), /^[a-z_]+$/, `stable code for ${raw.slice(0, 60)}`);
  }
  // Raw bytes that are not UTF-8.
  const bytes = await fetch(`${Deno.env.get("SUPABASE_URL")}/functions/v1/trip-search`, {
    method: "POST",
    headers: { Authorization: `Bearer ${user.jwt}`, "Content-Type": "application/json" },
    body: new Uint8Array([0x7b, 0xff, 0xfe, 0x22, 0x7d]),
  });
  assert.equal(bytes.status, 400);
  assert.equal((await bytes.json()).code, "invalid_json");
});

e2eTest("300 seeded mutations of a valid body never get a 5xx", async () => {
  const rand = rng(20261122);
  const valid = JSON.stringify(tripBody(randomRoute()));
  let user = await newUser();
  for (let i = 0; i < 300; i++) {
    const raw = mutate(valid, rand);
    const res = await callSearch(null, user.jwt, { raw });
    assert.ok(res.status < 500, `case ${i}: ${res.status} ${JSON.stringify(res.json)} for ${raw}`);
    if (res.status === 429) user = await newUser(); // valid mutations count against the limit
  }
  await closeSql();
});
