/**
 * The made-up personal data the travelers/trips end-to-end tests send (never real people).
 * tests/e2e/zz_log_scan_test.ts checks that none of these values (nor the monitor tests'
 * PASSENGER) appears in any log line the stack wrote.
 */
export const TRAVELLER = {
  title: "ms",
  gender: "f",
  given_name: "Zoë",
  family_name: "Quixley-Ørn",
  born_on: "1984-05-17",
  email: "zoe.quixley@example.test",
  phone_number: "+442079460123",
};

/** A child traveller (born_on set per test from the trip's dates). */
export const CHILD = {
  title: "miss",
  gender: "f",
  given_name: "Pippa",
  family_name: "Quixley",
  born_on: "2019-01-01",
  email: "zoe.quixley@example.test",
  phone_number: "+442079460123",
};

/**
 * The person the privacy end-to-end test creates, books, exports and erases
 * (tests/e2e/privacy_test.ts): after the erasure none of these values may remain anywhere in the
 * database, in Redis or in a log line (tests/e2e/privacy_scan.ts, zz_log_scan_test.ts). The birth
 * date is one no other row can hold by chance.
 */
export const ERASED_PERSON = {
  title: "dr",
  gender: "m",
  given_name: "Evander",
  family_name: "Forgetsby-Nakamura",
  born_on: "1931-08-14",
  email: "evander.forgetsby@example.test",
  phone_number: "+442079460777",
};

/** The erased person's values a scan looks for (not title or gender). */
export const ERASED_VALUES: string[] = Object.entries(ERASED_PERSON)
  .filter(([k]) => !["title", "gender"].includes(k))
  .map(([, v]) => v);
