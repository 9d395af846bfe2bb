use chrono::NaiveDate;
use serde_json::{json, Value};

use super::profile::{age_on, check_ages, is_e164, is_email, name_problem, TripSlots};
use super::*;
use crate::engine::SqlRole;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000); // 2026-09-21
const TRIP: &str = "0b0f0c1e-8d5a-4c53-9a53-7b1e2f3a4b5c";
const T1: &str = "11111111-2222-4333-8444-555555555551";
const T2: &str = "11111111-2222-4333-8444-555555555552";

fn date(s: &str) -> NaiveDate {
    parse_iso_date(s).unwrap()
}

fn profile() -> Value {
    json!({"title":"ms","gender":"f","given_name":"Zoë","family_name":"O'Brien-Łukasz",
        "born_on":"1987-07-24","email":"zoe@example.com","phone_number":"+442080160509"})
}

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn codes(reply: &Reply) -> Vec<(String, String)> {
    reply.body["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap().to_owned(),
                        e["code"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn refused(v: Value) -> Reply {
    parse_request(&body(v), NOW).expect_err("refused")
}

#[test]
fn names_follow_duffels_character_set() {
    for ok in [
        "Tony", "Zoë", "O'Brien", "Jean-Luc", "Łukasz", "Ñúñez", "Mary Ann", "Straße",
    ] {
        assert_eq!(name_problem(ok), None, "{ok}");
    }
    for bad in [
        "Æsa",
        "Œdipe",
        "Þór",
        "Guðrún",
        "李",
        "Ivan Петров",
        "A.B",
        "X1",
        "-Al",
        "",
        " Al",
    ] {
        assert!(name_problem(bad).is_some(), "{bad}");
    }
    assert_eq!(
        name_problem("Abcdefghijklmnopqrstu").map(|p| p.0),
        Some("name_too_long"),
        "21 characters"
    );
    assert_eq!(
        name_problem("Ábcdefghijklmnopqrst"),
        None,
        "20 characters, one of them two bytes"
    );
}

#[test]
fn phones_are_e164_and_emails_plausible() {
    assert!(is_e164("+442080160509"));
    assert!(is_e164("+1234567"));
    assert!(!is_e164("+123456"), "too short");
    assert!(!is_e164("+1234567890123456"), "16 digits");
    assert!(!is_e164("442080160509"), "no plus");
    assert!(
        !is_e164("+0442080160509"),
        "country codes do not start with 0"
    );
    assert!(!is_e164("+44 20 8016 0509"), "no spaces");
    assert!(is_email("a.b+c@mail.example.co.uk"));
    for bad in [
        "a@b",
        "@example.com",
        "a@@example.com",
        "a b@example.com",
        "a@-x.com",
        "a..b@x.com",
        "a@x..com",
    ] {
        assert!(!is_email(bad), "{bad}");
    }
}

#[test]
fn ages_are_whole_years_on_the_date() {
    assert_eq!(age_on(date("2000-02-29"), date("2018-02-28")), 17);
    assert_eq!(age_on(date("2000-02-29"), date("2018-03-01")), 18);
    assert_eq!(age_on(date("2026-09-22"), date("2026-09-21")), -1);
}

#[test]
fn a_valid_profile_is_stored_with_its_passenger_type() {
    let Ok(TravelersAction::Create(p)) =
        parse_request(&body(json!({"action":"create","traveler":profile()})), NOW)
    else {
        panic!("valid")
    };
    let stored = serde_json::to_value(&*p).unwrap();
    assert_eq!(stored["passenger_type"], "adult");
    assert_eq!(stored["born_on"], "1987-07-24");
    assert_eq!(stored["identity_document"], Value::Null);
    assert!(
        !format!("{p:?}").contains("Zo"),
        "Debug shows no personal data"
    );

    let mut child = profile();
    child["born_on"] = json!("2025-01-01");
    child["identity_document"] = json!({"type":"passport","unique_identifier":"19KL56147",
        "issuing_country_code":"GB","expires_on":"2030-01-01"});
    let Ok(TravelersAction::Create(p)) =
        parse_request(&body(json!({"action":"create","traveler":child})), NOW)
    else {
        panic!("valid")
    };
    assert_eq!(p.passenger_type, "infant_without_seat");
    assert_eq!(
        serde_json::to_value(&*p).unwrap()["identity_document"]["type"],
        "passport"
    );
}

#[test]
fn every_bad_field_is_named_without_its_value() {
    let reply = refused(json!({"action":"create","traveler":{
        "title":"sir","gender":"x","given_name":"李","family_name":"Abcdefghijklmnopqrstuvw",
        "born_on":"2026-09-22","email":"nope","phone_number":"020 8016 0509","nickname":"z",
        "identity_document":{"type":"visa","unique_identifier":"12-34","issuing_country_code":"gb",
            "expires_on":"2026-09-20"}}}));
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["code"], "validation_failed");
    let got = codes(&reply);
    for (f, c) in [
        ("traveler.title", "invalid_title"),
        ("traveler.gender", "invalid_gender"),
        ("traveler.given_name", "invalid_name"),
        ("traveler.family_name", "name_too_long"),
        ("traveler.born_on", "born_in_future"),
        ("traveler.email", "invalid_email"),
        ("traveler.phone_number", "invalid_phone"),
        ("traveler.nickname", "unknown_field"),
        ("traveler.identity_document.type", "invalid_document_type"),
        (
            "traveler.identity_document.unique_identifier",
            "invalid_document_number",
        ),
        (
            "traveler.identity_document.issuing_country_code",
            "invalid_country",
        ),
        ("traveler.identity_document.expires_on", "document_expired"),
    ] {
        assert!(
            got.contains(&(f.to_owned(), c.to_owned())),
            "{f} {c} in {got:?}"
        );
    }
    let text = reply.body.to_string();
    for secret in ["李", "nope", "020 8016", "12-34"] {
        assert!(!text.contains(secret), "the answer never echoes {secret}");
    }
    let reply = refused(json!({"action":"create","traveler":{"title":"mr"}}));
    assert!(codes(&reply).contains(&("traveler.born_on".into(), "required".into())));
    let mut old = profile();
    old["born_on"] = json!("1900-01-01");
    assert!(codes(&refused(json!({"action":"create","traveler":old})))
        .contains(&("traveler.born_on".into(), "born_too_long_ago".into())));
}

#[test]
fn bodies_and_actions_are_checked() {
    assert_eq!(refused(json!({})).body["fields"][0]["code"], "required");
    assert_eq!(
        refused(json!({"action":"fly"})).body["fields"][0]["code"],
        "invalid_action"
    );
    assert_eq!(
        refused(json!({"action":"list","x":1})).body["fields"][0]["code"],
        "unknown_field"
    );
    assert_eq!(
        refused(json!({"action":"delete","traveler_id":"nope"})).body["fields"][0]["code"],
        "invalid_id"
    );
    let reply = parse_request(br#"{"action":"list","action":"list"}"#, NOW).unwrap_err();
    assert_eq!(reply.body["code"], "duplicate_key");
    let reply = parse_request(b"[", NOW).unwrap_err();
    assert_eq!(reply.body["code"], "invalid_json");
    let reply = refused(json!({"action":"attach","trip_id":TRIP,"traveler_ids":[T1,T1]}));
    assert_eq!(
        codes(&reply),
        vec![("traveler_ids[1]".into(), "duplicate_traveler".into())]
    );
    let reply = refused(json!({"action":"attach","trip_id":TRIP,"traveler_ids":[]}));
    assert_eq!(codes(&reply)[0].1, "out_of_range");
}

#[test]
fn slot_ages_are_checked_on_the_last_travel_date() {
    let slots = TripSlots {
        adults: 1,
        child_ages: vec![1, 7],
        last_travel_date: date("2027-03-20"),
    };
    assert!(check_ages(
        &slots,
        &[date("1987-07-24"), date("2026-01-01"), date("2019-06-01")]
    )
    .is_empty());
    let errors = check_ages(
        &slots,
        &[date("2010-07-24"), date("2025-01-01"), date("2019-06-01")],
    );
    let got: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        got,
        vec![
            ("traveler_ids[0]", "adult_too_young"),
            ("traveler_ids[1]", "age_mismatch")
        ]
    );
    assert!(
        !errors[1].message.contains("2025"),
        "no birth date in the message"
    );
}

fn sql(d: &mut TravelersDriver) -> (u32, SqlFunction, Value) {
    match d.poll(NOW) {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => {
            assert_eq!(role, SqlRole::User);
            (id, function, args.to_value())
        }
        other => panic!("expected sql, got {other:?}"),
    }
}

fn done(d: &mut TravelersDriver) -> Reply {
    match d.poll(NOW) {
        Command::Done { result } => result,
        other => panic!("expected done, got {other:?}"),
    }
}

fn attach_driver() -> TravelersDriver {
    driver(
        &body(json!({"action":"attach","trip_id":TRIP,"traveler_ids":[T1,T2]})),
        NOW,
    )
    .unwrap()
}

fn check_answer(status: &str, born2: &str) -> String {
    json!({"trip":{"id":TRIP,"status":status,"adults":1,"child_ages":[7],
        "departure_date":"2027-03-12","return_date":"2027-03-20"},
        "travelers":[{"id":T1,"born_on":"1987-07-24","version":3},{"id":T2,"born_on":born2,"version":1}]})
    .to_string()
}

#[test]
fn attach_checks_ages_then_attaches_with_the_versions_it_checked() {
    let mut d = attach_driver();
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::TravelersAttachCheck);
    assert_eq!(args["traveler_ids"], json!([T1, T2]));
    assert_eq!(sql(&mut d).0, id, "the same command until its outcome");
    d.handle(NOW, id, Input::Sql(&check_answer("watching", "2019-06-01")))
        .unwrap();
    let (id, f, args) = sql(&mut d);
    assert_eq!(f, SqlFunction::TravelersAttach);
    assert_eq!(
        args["travelers"],
        json!([{"id":T1,"version":3},{"id":T2,"version":1}])
    );
    d.handle(NOW, id, Input::Sql(r#"{"attached":true}"#))
        .unwrap();
    let reply = done(&mut d);
    assert_eq!((reply.status, reply.outcome.as_str()), (200, "attached"));
    assert_eq!(reply.body["traveler_ids"], json!([T1, T2]));
}

#[test]
fn attach_refusals() {
    let run = |answer: &str, second: Option<&str>| {
        let mut d = attach_driver();
        let (id, ..) = sql(&mut d);
        d.handle(NOW, id, Input::Sql(answer)).unwrap();
        if let Some(second) = second {
            let (id, ..) = sql(&mut d);
            d.handle(NOW, id, Input::Sql(second)).unwrap();
        }
        done(&mut d)
    };
    let r = run(&check_answer("watching", "2020-06-01"), None);
    assert_eq!(
        (r.status, codes(&r)),
        (400, vec![("traveler_ids[1]".into(), "age_mismatch".into())])
    );
    let r = run(&check_answer("booking", "2019-06-01"), None);
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("trip_busy"))
    );
    let r = run(r#"{"trip":null,"travelers":[]}"#, None);
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("not_found"))
    );
    let missing = json!({"trip":{"id":TRIP,"status":"watching","adults":1,"child_ages":[7],
        "departure_date":"2027-03-12","return_date":null},
        "travelers":[{"id":T1,"born_on":"1987-07-24","version":3}]})
    .to_string();
    let r = run(&missing, None);
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (404, Some("no such traveller"))
    );
    let wrong = json!({"trip":{"id":TRIP,"status":"watching","adults":2,"child_ages":[7],
        "departure_date":"2027-03-12","return_date":null},"travelers":[]})
    .to_string();
    assert_eq!(codes(&run(&wrong, None))[0].1, "wrong_count");
    let r = run(
        &check_answer("watching", "2019-06-01"),
        Some(r#"{"attached":false,"reason":"traveler_changed"}"#),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("traveler_changed"))
    );
    let r = run(
        &check_answer("watching", "2019-06-01"),
        Some(r#"{"attached":false,"reason":"trip_busy"}"#),
    );
    assert_eq!(r.body["code"], "trip_busy");
}

#[test]
fn crud_answers_and_sql_errors() {
    let one = |v: Value, answer: Input<'_>| {
        let mut d = driver(&body(v), NOW).unwrap();
        let (id, f, _) = sql(&mut d);
        d.handle(NOW, id, answer).unwrap();
        (f, done(&mut d))
    };
    let (f, r) = one(json!({"action":"list"}), Input::Sql(r#"{"travelers":[]}"#));
    assert_eq!((f, r.status), (SqlFunction::TravelersList, 200));
    let (f, r) = one(
        json!({"action":"create","traveler":profile()}),
        Input::Sql(r#"{"traveler":{"id":"x"}}"#),
    );
    assert_eq!((f, r.status), (SqlFunction::TravelersCreate, 201));
    let (f, r) = one(
        json!({"action":"update","traveler_id":T1,"traveler":profile()}),
        Input::Sql(r#"{"traveler":null}"#),
    );
    assert_eq!((f, r.status), (SqlFunction::TravelersUpdate, 404));
    let (f, r) = one(
        json!({"action":"delete","traveler_id":T1}),
        Input::Sql(r#"{"deleted":true}"#),
    );
    assert_eq!(
        (f, r.status, r.body["traveler_id"].as_str()),
        (SqlFunction::TravelersDelete, 200, Some(T1))
    );
    let (_, r) = one(
        json!({"action":"delete","traveler_id":T1}),
        Input::Sql(r#"{"deleted":false}"#),
    );
    assert_eq!(r.status, 404);
    let (_, r) = one(
        json!({"action":"delete","traveler_id":T1}),
        Input::SqlError("55006"),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("traveler_in_use"))
    );
    let (_, r) = one(
        json!({"action":"create","traveler":profile()}),
        Input::SqlError("54000"),
    );
    assert_eq!(r.body["code"], "too_many_travelers");
    let (_, r) = one(
        json!({"action":"create","traveler":profile()}),
        Input::SqlError("PF010"),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("erasure_in_progress"))
    );
    let (_, r) = one(json!({"action":"list"}), Input::SqlError("28000"));
    assert_eq!(r.status, 401);
    let (_, r) = one(json!({"action":"list"}), Input::SqlError("08006"));
    assert_eq!(r.status, 503);
    let mut d = driver(&body(json!({"action":"list"})), NOW).unwrap();
    let (id, ..) = sql(&mut d);
    assert!(
        d.handle(NOW, id + 1, Input::Sql("{}")).is_err(),
        "stale id refused"
    );
}
