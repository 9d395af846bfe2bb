/**
 * The side-by-side benchmark in quick mode (no timing): on generated bodies and the real-shape
 * Duffel body, `JSON.parse`, the TypeScript baseline (scripts/bench/ts_search.ts) and the wasm
 * core's search module run on the same bytes, and the baseline and the core select the same
 * offer, store the same number and count the same rejections.
 */
import assert from "node:assert/strict";
import { bodies, checkAgreement, runners } from "../../scripts/bench/side_by_side.ts";

Deno.test("benchmark quick mode: TypeScript baseline and wasm core select the same offer", async () => {
  const r = await runners();
  for (const body of bodies([10, 100, 1000])) {
    const outcome = checkAgreement(r, body);
    assert.ok(outcome.stored > 0 && outcome.stored <= 200, body.label);
  }
});
