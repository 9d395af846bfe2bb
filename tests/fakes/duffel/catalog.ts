/**
 * Reference data behind the fake Duffel's offers: airports (with fixed UTC offsets), connection
 * hubs, carriers, aircraft, cabin classes and the fixed price factors used by generated offers.
 * Constant tables only, so generated offers stay deterministic.
 *
 * @module
 */

/** One airport the fake knows; unknown IATA codes get a generic place with UTC time. */
export interface Airport {
  name: string;
  city: string;
  country: string;
  timeZone: string;
  utcOffsetMinutes: number;
}

/** The airports the fake knows by IATA code, with a fixed (DST-free) UTC offset each. */
export const AIRPORTS: Readonly<Record<string, Airport>> = {
  LHR: {
    name: "Heathrow Airport",
    city: "London",
    country: "GB",
    timeZone: "Europe/London",
    utcOffsetMinutes: 0,
  },
  LGW: {
    name: "Gatwick Airport",
    city: "London",
    country: "GB",
    timeZone: "Europe/London",
    utcOffsetMinutes: 0,
  },
  STN: {
    name: "Stansted Airport",
    city: "London",
    country: "GB",
    timeZone: "Europe/London",
    utcOffsetMinutes: 0,
  },
  MAN: {
    name: "Manchester Airport",
    city: "Manchester",
    country: "GB",
    timeZone: "Europe/London",
    utcOffsetMinutes: 0,
  },
  DUB: {
    name: "Dublin Airport",
    city: "Dublin",
    country: "IE",
    timeZone: "Europe/Dublin",
    utcOffsetMinutes: 0,
  },
  JFK: {
    name: "John F. Kennedy International Airport",
    city: "New York",
    country: "US",
    timeZone: "America/New_York",
    utcOffsetMinutes: -300,
  },
  EWR: {
    name: "Newark Liberty International Airport",
    city: "New York",
    country: "US",
    timeZone: "America/New_York",
    utcOffsetMinutes: -300,
  },
  BOS: {
    name: "Logan International Airport",
    city: "Boston",
    country: "US",
    timeZone: "America/New_York",
    utcOffsetMinutes: -300,
  },
  PVD: {
    name: "T. F. Green International Airport",
    city: "Providence",
    country: "US",
    timeZone: "America/New_York",
    utcOffsetMinutes: -300,
  },
  ORD: {
    name: "O'Hare International Airport",
    city: "Chicago",
    country: "US",
    timeZone: "America/Chicago",
    utcOffsetMinutes: -360,
  },
  LAX: {
    name: "Los Angeles International Airport",
    city: "Los Angeles",
    country: "US",
    timeZone: "America/Los_Angeles",
    utcOffsetMinutes: -480,
  },
  SFO: {
    name: "San Francisco International Airport",
    city: "San Francisco",
    country: "US",
    timeZone: "America/Los_Angeles",
    utcOffsetMinutes: -480,
  },
  CDG: {
    name: "Paris Charles de Gaulle Airport",
    city: "Paris",
    country: "FR",
    timeZone: "Europe/Paris",
    utcOffsetMinutes: 60,
  },
  AMS: {
    name: "Amsterdam Airport Schiphol",
    city: "Amsterdam",
    country: "NL",
    timeZone: "Europe/Amsterdam",
    utcOffsetMinutes: 60,
  },
  FRA: {
    name: "Frankfurt Airport",
    city: "Frankfurt",
    country: "DE",
    timeZone: "Europe/Berlin",
    utcOffsetMinutes: 60,
  },
  MAD: {
    name: "Adolfo Suárez Madrid–Barajas Airport",
    city: "Madrid",
    country: "ES",
    timeZone: "Europe/Madrid",
    utcOffsetMinutes: 60,
  },
  KEF: {
    name: "Keflavík International Airport",
    city: "Reykjavík",
    country: "IS",
    timeZone: "Atlantic/Reykjavik",
    utcOffsetMinutes: 0,
  },
  IST: {
    name: "Istanbul Airport",
    city: "Istanbul",
    country: "TR",
    timeZone: "Europe/Istanbul",
    utcOffsetMinutes: 180,
  },
  DXB: {
    name: "Dubai International Airport",
    city: "Dubai",
    country: "AE",
    timeZone: "Asia/Dubai",
    utcOffsetMinutes: 240,
  },
  DOH: {
    name: "Hamad International Airport",
    city: "Doha",
    country: "QA",
    timeZone: "Asia/Qatar",
    utcOffsetMinutes: 180,
  },
  KWI: {
    name: "Kuwait International Airport",
    city: "Kuwait City",
    country: "KW",
    timeZone: "Asia/Kuwait",
    utcOffsetMinutes: 180,
  },
  HND: {
    name: "Haneda Airport",
    city: "Tokyo",
    country: "JP",
    timeZone: "Asia/Tokyo",
    utcOffsetMinutes: 540,
  },
  NRT: {
    name: "Narita International Airport",
    city: "Tokyo",
    country: "JP",
    timeZone: "Asia/Tokyo",
    utcOffsetMinutes: 540,
  },
  SIN: {
    name: "Singapore Changi Airport",
    city: "Singapore",
    country: "SG",
    timeZone: "Asia/Singapore",
    utcOffsetMinutes: 480,
  },
  RAI: {
    name: "Nelson Mandela International Airport",
    city: "Praia",
    country: "CV",
    timeZone: "Atlantic/Cape_Verde",
    utcOffsetMinutes: -60,
  },
};

/** Connection points for offers with stops (never the slice's own origin or destination). */
export const HUBS = ["AMS", "CDG", "FRA", "DUB", "KEF", "MAD", "IST", "DOH", "DXB", "BOS", "ORD"];

/** Carrier names by IATA code; generated offers pick among these. */
export const CARRIERS: Readonly<Record<string, string>> = {
  ZZ: "Duffel Airways",
  BA: "British Airways",
  AA: "American Airlines",
  VS: "Virgin Atlantic",
  AF: "Air France",
  KL: "KLM",
  LH: "Lufthansa",
  EK: "Emirates",
  JL: "Japan Airlines",
  KU: "Kuwait Airways",
};

/** Aircraft assigned to segments in rotation. */
export const AIRCRAFT = [
  { iata_code: "789", name: "Boeing 787-9" },
  { iata_code: "77W", name: "Boeing 777-300ER" },
  { iata_code: "359", name: "Airbus A350-900" },
  { iata_code: "32N", name: "Airbus A320neo" },
];

/** Cabin classes Duffel accepts. */
export const CABIN_CLASSES = ["first", "business", "premium_economy", "economy"] as const;

/** Price multiplier of each cabin over economy for generated offers. */
export const CABIN_FACTOR: Readonly<Record<string, number>> = {
  economy: 1,
  premium_economy: 1.7,
  business: 3.5,
  first: 6,
};

/** Rough GBP → currency rates for generated prices (fixed, so output is deterministic). */
export const GBP_RATES: Readonly<Record<string, number>> = {
  GBP: 1,
  USD: 1.27,
  EUR: 1.17,
  CHF: 1.12,
  JPY: 190,
  KWD: 0.39,
  BHD: 0.48,
  AED: 4.66,
  ISK: 175,
};
