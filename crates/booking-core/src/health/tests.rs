use serde_json::json;

use super::*;
use crate::error::TransportFailure;

fn healthy() -> Snapshot {
    serde_json::from_value(json!({
        "monitor_enabled": true, "heartbeat_age_s": 20, "schedule_interval_s": 30,
        "due_backlog": 3, "due_oldest_age_s": 40, "stuck_attempts": 0, "needs_operator": 0,
        "outbox_backlog": 0, "outbox_oldest_age_s": null, "outbox_dead_24h": 0,
        "alert_backlog": 0, "alert_dead": 0,
        "money_held": [{"currency":"GBP","amount_minor":42000,"attempts":1,"oldest_age_s":90}]
    }))
    .unwrap()
}

fn failing(r: &Reply) -> Vec<String> {
    serde_json::from_value(r.body["failing"].clone()).unwrap()
}

#[test]
fn all_passing_is_200_without_numbers_unless_detail() {
    let r = answer(Some(&healthy()), true, false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    assert!(failing(&r).is_empty());
    assert_eq!(r.body["checks"].as_object().unwrap().len(), CHECKS.len());
    assert!(
        r.body.get("detail").is_none(),
        "numbers only with the token"
    );
    let r = answer(Some(&healthy()), true, true);
    assert_eq!(
        r.body["detail"]["money_held"]["held"][0]["amount_minor"],
        42000
    );
    assert_eq!(r.body["detail"]["heartbeat"]["max_age_s"], 150);
}

#[test]
fn each_check_fails_on_its_own() {
    let mut cases: Vec<(Snapshot, &str)> = Vec::new();
    let mut s = healthy();
    s.heartbeat_age_s = Some(151);
    cases.push((s, "heartbeat"));
    let mut s = healthy();
    s.heartbeat_age_s = None;
    cases.push((s, "heartbeat"));
    let mut s = healthy();
    s.due_oldest_age_s = Some(MAX_BACKLOG_AGE_S + 1);
    cases.push((s, "due_backlog"));
    let mut s = healthy();
    s.stuck_attempts = 1;
    cases.push((s, "stuck_attempts"));
    let mut s = healthy();
    s.outbox_oldest_age_s = Some(MAX_BACKLOG_AGE_S + 1);
    cases.push((s, "outbox"));
    let mut s = healthy();
    s.outbox_dead_24h = 2;
    cases.push((s, "dead_letters"));
    let mut s = healthy();
    s.alert_dead = 1;
    cases.push((s, "dead_letters"));
    let mut s = healthy();
    s.money_held[0].oldest_age_s = MAX_HOLD_AGE_S + 1;
    cases.push((s, "money_held"));
    for (s, check) in cases {
        let r = answer(Some(&s), true, false);
        assert_eq!((r.status, failing(&r)), (503, vec![check.to_owned()]));
        assert_eq!(r.body["checks"][check], "fail");
    }
    let r = answer(Some(&healthy()), false, false);
    assert_eq!((r.status, failing(&r)), (503, vec!["redis".to_owned()]));
}

#[test]
fn a_database_outage_fails_database_and_leaves_its_checks_unknown() {
    let r = answer(None, true, true);
    assert_eq!(r.status, 503);
    assert_eq!(r.body["checks"]["database"], "fail");
    assert_eq!(r.body["checks"]["heartbeat"], "unknown");
    assert_eq!(failing(&r).len(), CHECKS.len() - 1);
}

fn run(snapshot: Input<'_>, ping: Input<'_>) -> Reply {
    let now = Timestamp::from_unix_ms(0);
    let mut d = HealthDriver::new(false);
    let Command::Sql { id, function, .. } = d.poll(now) else {
        panic!("sql first")
    };
    assert_eq!(function, SqlFunction::HealthSnapshot);
    assert_eq!(
        d.poll(now).id(),
        Some(id),
        "the same command until answered"
    );
    d.handle(now, id, snapshot).unwrap();
    let Command::Http { id, request } = d.poll(now) else {
        panic!("then the ping")
    };
    assert_eq!(request.service, Service::Upstash);
    assert_eq!(request.body.as_deref(), Some(r#"["PING"]"#));
    assert!(d
        .handle(now, id + 1, Input::Transport(TransportFailure::Timeout))
        .is_err());
    d.handle(now, id, ping).unwrap();
    match d.poll(now) {
        Command::Done { result } => result,
        other => panic!("expected done, got {other:?}"),
    }
}

#[test]
fn the_driver_reads_the_snapshot_then_pings() {
    let snap = serde_json::to_string(&json!({
        "heartbeat_age_s": 5, "schedule_interval_s": 60, "due_backlog": 0, "due_oldest_age_s": null,
        "stuck_attempts": 0, "outbox_backlog": 0, "outbox_oldest_age_s": null, "outbox_dead_24h": 0
    }))
    .unwrap();
    let pong = Input::Http {
        status: 200,
        body: br#"{"result":"PONG"}"#,
    };
    assert_eq!(run(Input::Sql(&snap), pong).status, 200);
    let r = run(
        Input::Sql(&snap),
        Input::Http {
            status: 500,
            body: br#"{"error":"ERR connection refused"}"#,
        },
    );
    assert_eq!((r.status, failing(&r)), (503, vec!["redis".to_owned()]));
    let r = run(
        Input::Sql(&snap),
        Input::Transport(TransportFailure::Network),
    );
    assert_eq!(failing(&r), vec!["redis".to_owned()]);
    let r = run(
        Input::SqlError("08006"),
        Input::Http {
            status: 200,
            body: br#"{"result":"PONG"}"#,
        },
    );
    assert_eq!(r.body["checks"]["database"], "fail");
    let r = run(
        Input::Sql("{\"garbage\":1}"),
        Input::Http {
            status: 200,
            body: br#"{"result":"PONG"}"#,
        },
    );
    assert_eq!(
        r.body["checks"]["database"], "fail",
        "an unreadable snapshot fails database"
    );
}
