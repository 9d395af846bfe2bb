/**
 * The side-by-side search benchmark's parts, shared by the command (`scripts/bench.ts`) and its
 * quick mode in the test suite (tests/shims/bench_quick_test.ts): the bodies, the three
 * implementations on the same bytes (`JSON.parse` alone, the TypeScript baseline, the wasm core's
 * search module) and the check that the TypeScript baseline and the core agree.
 *
 * @module
 */
import { generateOfferRequestBody } from "../../tests/fakes/duffel_offers.ts";
import { realShapeBody } from "./real_shape.ts";
import { type TsCriteria, tsSearch } from "./ts_search.ts";

const root = new URL("../../", import.meta.url);

/** The search module's files (scripts/build-wasm.sh). */
export const searchWasm = new URL(
  "supabase/functions/_shared/wasm/search/booking_wasm_bg.wasm",
  root,
);
const searchGlue = new URL("supabase/functions/_shared/wasm/search/booking_wasm.js", root);

/** The bench's clock and trip (LHR-JFK economy, GBP 600 maximum). */
export const NOW_MS = Date.parse("2027-03-01T10:05:00Z");
export const CRITERIA: TsCriteria = {
  currency: "GBP",
  max_total_minor: 60000,
  cabin: "economy",
  nonstop_only: false,
};
const TRIP = JSON.stringify({
  id: "5b0c3b8e-1d1b-4a53-9a56-3f1c7c2a9e11",
  owner_id: "00000000-0000-4000-8000-000000000001",
  origin: "LHR",
  destination: "JFK",
  departure_date: "2027-03-12",
  return_date: null,
  adults: 1,
  child_ages: [],
  cabin: CRITERIA.cabin,
  nonstop_only: CRITERIA.nonstop_only,
  max_total_minor: CRITERIA.max_total_minor,
  currency: CRITERIA.currency,
  auto_book: false,
  status: "searching",
  selected_offer_id: null,
  next_check_at: null,
  check_count: 0,
  last_error_code: null,
  version: 1,
  created_at: "2027-03-01T10:00:00.000Z",
  updated_at: "2027-03-01T10:00:00.000Z",
});

/** One benchmark body. */
export interface Body {
  label: string;
  offers: number;
  bytes: Uint8Array;
}

/** Generated bodies of `sizes` offers, then the real-shape (or recorded) body. */
export function bodies(sizes: number[]): Body[] {
  const enc = new TextEncoder();
  const out: Body[] = sizes.map((n) => ({
    label: `${n} generated`,
    offers: n,
    bytes: enc.encode(generateOfferRequestBody(n, { seed: "bench" })),
  }));
  const recorded = Deno.env.get("BENCH_DUFFEL_BODY");
  const text = recorded ? Deno.readTextFileSync(recorded) : realShapeBody();
  out.push({
    label: recorded ? "recorded Duffel body" : "real-shape Duffel body",
    offers: (JSON.parse(text).data?.offers ?? []).length,
    bytes: enc.encode(text),
  });
  return out;
}

/** What each implementation reports, for the agreement check. */
export interface Outcome {
  selected: string | null;
  stored: number;
  seen: number;
  malformed: number;
  rejections: string;
}

interface CoreSummary {
  ok: boolean;
  result_json: string;
  selected_provider_offer_id: string | null;
  offers_seen: number;
  offers_stored: number;
  malformed: number;
  rejections: Record<string, number>;
  error?: unknown;
}

type Glue = {
  initSync(i: { module: WebAssembly.Module | BufferSource }): unknown;
  process_search_response(trip: string, status: number, body: Uint8Array, now: number): unknown;
};

/** The three implementations, ready to run on bytes. */
export interface Runners {
  parse(bytes: Uint8Array): unknown;
  ts(bytes: Uint8Array): Outcome;
  core(bytes: Uint8Array): Outcome;
}

/** Loads the search module and returns the runners. */
export async function runners(): Promise<Runners> {
  const glue = (await import(searchGlue.href)) as Glue;
  glue.initSync({ module: Deno.readFileSync(searchWasm) });
  const key = (r: Record<string, number>) =>
    JSON.stringify(Object.keys(r).sort().map((k) => [k, r[k]]));
  return {
    parse: (bytes) => JSON.parse(new TextDecoder().decode(bytes)),
    ts: (bytes) => {
      const r = tsSearch(bytes, CRITERIA, NOW_MS);
      return {
        selected: r.selected_provider_offer_id,
        stored: r.offers_stored,
        seen: r.offers_seen,
        malformed: r.malformed,
        rejections: key(r.rejections),
      };
    },
    core: (bytes) => {
      const r = glue.process_search_response(TRIP, 201, bytes, NOW_MS) as CoreSummary;
      if (!r.ok) throw new Error(`the core refused the body: ${JSON.stringify(r.error)}`);
      return {
        selected: r.selected_provider_offer_id,
        stored: r.offers_stored,
        seen: r.offers_seen,
        malformed: r.malformed,
        rejections: key(r.rejections),
      };
    },
  };
}

/** Throws unless the TypeScript baseline and the core agree on `body` (and it parses). */
export function checkAgreement(r: Runners, body: Body): Outcome {
  r.parse(body.bytes);
  const ts = r.ts(body.bytes);
  const core = r.core(body.bytes);
  if (JSON.stringify(ts) !== JSON.stringify(core)) {
    throw new Error(
      `${body.label}: TypeScript and core disagree: ${JSON.stringify(ts)} vs ${
        JSON.stringify(core)
      }`,
    );
  }
  if (core.selected === null) throw new Error(`${body.label}: nothing selected; a useless body`);
  return core;
}
