/**
 * Pure builders of Duffel v2 offer and offer-request objects (reference:
 * contracts-providers.md §1.1–§1.2), used by the fake Duffel server and importable by benchmarks:
 *
 * ```ts
 * import { generateOfferRequestBody } from "../tests/fakes/duffel_offers.ts";
 * const bytes = new TextEncoder().encode(generateOfferRequestBody(1000));
 * ```
 *
 * No clock, no randomness outside a seeded generator: the same inputs give the same bytes.
 *
 * Realism notes. Offers carry the full v2 shape (ids `off_`/`pas_`/`sli_`/`seg_`, decimal-string
 * money with the currency's ISO 4217 exponent, owner, passengers, conditions,
 * payment_requirements, slices with segments, ISO 8601 durations, local times without offset,
 * marketing/operating carriers, segment `stops`, per-segment passenger cabin and baggage).
 * Connections are modelled as extra segments (a 1-stop slice has 2 segments, each with `stops:[]`),
 * as Duffel does; arrival local times apply a fixed (DST-free) UTC offset per airport, so
 * `arriving_at - departing_at` differs from `duration` across time zones, as on the real API.
 * Generated offers are about 2–3 KB each; real ones are about 6 KB (more services and
 * loyalty data), so byte sizes in benchmarks are an under-estimate.
 *
 * This module re-exports the pieces in `./duffel/`: `catalog.ts` (airports, carriers, cabins),
 * `offer_spec.ts` (scriptable specs, generated specs), `offer_builder.ts` (offer and offer-request
 * objects) and `generate.ts` (whole answers of any size).
 *
 * @module
 */

export { CABIN_CLASSES } from "./duffel/catalog.ts";
export {
  generateSpecs,
  type OfferSpec,
  OfferSpecError,
  type ResolvedOffer,
  resolveSpec,
  type SearchContext,
  type SearchPassenger,
  type SearchSlice,
} from "./duffel/offer_spec.ts";
export {
  buildOffer,
  buildOfferRequest,
  isoDuration,
  place,
  searchPassengers,
  setOfferTotal,
} from "./duffel/offer_builder.ts";
export {
  generateOfferRequest,
  generateOfferRequestBody,
  type GenerateOptions,
} from "./duffel/generate.ts";
