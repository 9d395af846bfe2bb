//! Profiling driver for the search hot path: `search_profile <body.json> [iterations] [json|plain]`
//! runs `process_search_response_json` (or `process_search_response`) on the body, for
//! `valgrind --tool=callgrind` or `perf` (see docs/benchmarks.md).

use booking_core::search;
use booking_core::time::Timestamp;
use booking_core::trip::Trip;

const TRIP: &str = r#"{"id":"5b0c3b8e-1d1b-4a53-9a56-3f1c7c2a9e11","owner_id":"00000000-0000-4000-8000-000000000001",
"origin":"LHR","destination":"JFK","departure_date":"2027-03-12","return_date":null,"adults":1,"child_ages":[],
"cabin":"economy","nonstop_only":false,"max_total_minor":60000,"currency":"GBP","auto_book":false,
"status":"searching","selected_offer_id":null,"next_check_at":null,"check_count":0,"last_error_code":null,
"version":1,"created_at":"2027-03-01T10:00:00.000Z","updated_at":"2027-03-01T10:00:00.000Z"}"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let body = std::fs::read(&args[1]).expect("body file");
    let iterations: usize = args.get(2).map_or(1, |n| n.parse().expect("iterations"));
    let plain = args.get(3).is_some_and(|m| m == "plain");
    let now = Timestamp::parse_rfc3339("2027-03-01T10:05:00Z").expect("now");
    let start = std::time::Instant::now();
    let mut total = 0;
    for _ in 0..iterations {
        let trip = Trip::from_json(TRIP.as_bytes()).expect("trip");
        if plain {
            let r = search::process_search_response(&trip, 201, &body, now).expect("search");
            total += r.offers.len();
        } else {
            let (r, json) =
                search::process_search_response_json(&trip, 201, &body, now).expect("search");
            total += r.offers.len() + json.len();
        }
    }
    let per = start.elapsed() / u32::try_from(iterations).unwrap_or(1);
    println!("{total} {per:?} per run");
}
