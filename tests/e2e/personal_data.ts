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
