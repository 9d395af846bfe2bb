use serde_json::{json, Value};

use super::*;
use crate::engine::SqlRole;

const NOW: Timestamp = Timestamp::from_unix_ms(1_790_000_000_000);

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn run(v: Value, answer: Input<'_>) -> (SqlFunction, Value, Reply) {
    let mut d = driver(&body(v)).unwrap();
    let (id, function, args) = match d.poll(NOW) {
        Command::Sql {
            id,
            function,
            role,
            args,
        } => {
            assert_eq!(
                role,
                SqlRole::User,
                "as the caller, so the database checks the role"
            );
            (id, function, args)
        }
        other => panic!("expected sql, got {other:?}"),
    };
    d.handle(NOW, id, answer).unwrap();
    match d.poll(NOW) {
        Command::Done { result } => (function, args.to_value(), result),
        other => panic!("expected done, got {other:?}"),
    }
}

fn refused(v: Value) -> Vec<String> {
    let r = driver(&body(v)).unwrap_err();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "validation_failed");
    r.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["field"].as_str().unwrap(),
                f["code"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn operators_come_from_app_metadata_only() {
    assert!(is_operator(&json!({"app_metadata": {"role": "operator"}})));
    assert!(is_operator(
        &json!({"app_metadata": {"roles": ["support", "operator"]}})
    ));
    for claims in [
        json!({}),
        json!({"app_metadata": null}),
        json!({"app_metadata": ["operator"]}),
        json!({"app_metadata": {"roles": "operator"}}),
        json!({"app_metadata": {"role": "Operator"}}),
        json!({"app_metadata": {"roles": ["operators"]}}),
        json!({"user_metadata": {"role": "operator", "roles": ["operator"]}}),
        json!({"role": "operator"}),
    ] {
        assert!(!is_operator(&claims), "{claims}");
    }
}

#[test]
fn each_action_is_one_sql_call_with_its_arguments() {
    let ok = Input::Sql(r#"{"monitor": {"enabled": true}}"#);
    let (f, args, r) = run(json!({"action": "overview"}), ok);
    assert_eq!((f, args), (SqlFunction::OpsOverview, json!({})));
    assert_eq!((r.status, r.outcome.as_str()), (200, "overview"));
    assert_eq!(r.body, json!({"monitor": {"enabled": true}}));

    let (f, args, _) = run(json!({"action": "overview", "stuck_minutes": 30}), ok);
    assert_eq!(
        (f, args),
        (SqlFunction::OpsOverview, json!({"stuck_minutes": 30}))
    );
    let (f, args, _) = run(json!({"action": "metrics", "hours": 6}), ok);
    assert_eq!(
        (f, args),
        (SqlFunction::PipelineMetrics, json!({"hours": 6}))
    );

    let (f, args, r) = run(
        json!({"action": "pause_monitor", "reason": "incident 42"}),
        ok,
    );
    assert_eq!(f, SqlFunction::OpsSetMonitor);
    assert_eq!(args, json!({"enabled": false, "reason": "incident 42"}));
    assert_eq!(r.outcome, "monitor_paused");
    let (_, args, r) = run(json!({"action": "resume_monitor", "reason": "fixed"}), ok);
    assert_eq!(args, json!({"enabled": true, "reason": "fixed"}));
    assert_eq!(r.outcome, "monitor_resumed");

    let (f, args, r) = run(
        json!({"action": "set_flag", "name": "auto_booking", "rollout_bp": 500, "reason": "5 %"}),
        ok,
    );
    assert_eq!(f, SqlFunction::OpsSetFlag);
    assert_eq!(
        args,
        json!({"name": "auto_booking", "rollout_bp": 500, "reason": "5 %"})
    );
    assert_eq!(r.outcome, "flag_set");
    let (_, args, _) = run(
        json!({"action": "set_flag", "name": "auto_booking_kill_switch", "enabled": true, "reason": "stop"}),
        Input::Sql("{}"),
    );
    assert_eq!(
        args,
        json!({"name": "auto_booking_kill_switch", "enabled": true, "reason": "stop"})
    );
}

#[test]
fn the_action_decides_enabled_never_the_body() {
    assert_eq!(
        refused(json!({"action": "resume_monitor", "reason": "r", "enabled": false})),
        ["enabled:unknown_field"]
    );
}

#[test]
fn bad_bodies_are_refused_with_field_codes() {
    assert_eq!(refused(json!({})), ["action:required"]);
    assert_eq!(
        refused(json!({"action": "drop"})),
        ["action:invalid_action"]
    );
    assert_eq!(refused(json!({"action": 1})), ["action:invalid_action"]);
    assert_eq!(
        refused(json!({"action": "overview", "x": 1})),
        ["x:unknown_field"]
    );
    assert_eq!(
        refused(json!({"action": "overview", "stuck_minutes": 0})),
        ["stuck_minutes:out_of_range"]
    );
    assert_eq!(
        refused(json!({"action": "metrics", "hours": 169})),
        ["hours:out_of_range"]
    );
    assert_eq!(
        refused(json!({"action": "metrics", "hours": 1.5})),
        ["hours:out_of_range"]
    );
    assert_eq!(
        refused(json!({"action": "pause_monitor"})),
        ["reason:required"]
    );
    assert_eq!(
        refused(json!({"action": "pause_monitor", "reason": "  "})),
        ["reason:invalid_reason"]
    );
    let long = "x".repeat(MAX_REASON_CHARS + 1);
    assert_eq!(
        refused(json!({"action": "pause_monitor", "reason": long})),
        ["reason:invalid_reason"]
    );
    assert_eq!(
        refused(json!({"action": "set_flag", "name": "auto_booking", "reason": "r"})),
        ["rollout_bp:nothing_to_change"]
    );
    assert_eq!(
        refused(
            json!({"action": "set_flag", "name": "Auto", "rollout_bp": 10001, "enabled": "yes"})
        ),
        [
            "name:invalid_flag_name",
            "rollout_bp:out_of_range",
            "enabled:invalid_type",
            "reason:required"
        ]
    );
    for raw in [
        &b"{"[..],
        b"[]",
        b"null",
        b"\xff",
        br#"{"action":"overview","action":"metrics"}"#,
    ] {
        let r = driver(raw).unwrap_err();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(raw));
        assert!(["invalid_json", "duplicate_key"].contains(&r.body["code"].as_str().unwrap()));
    }
}

#[test]
fn database_refusals_map_to_stable_codes() {
    let cases = [
        ("42501", 403, "operator_required"),
        ("P0002", 404, "unknown_flag"),
        ("22023", 400, "validation_failed"),
        ("08006", 503, "database_unavailable"),
        ("55P03", 503, "database_busy"),
        ("XX000", 500, "internal"),
    ];
    for (sqlstate, status, code) in cases {
        let (_, _, r) = run(json!({"action": "overview"}), Input::SqlError(sqlstate));
        assert_eq!(
            (r.status, r.body["code"].as_str().unwrap()),
            (status, code),
            "{sqlstate}"
        );
    }
    let (_, _, r) = run(json!({"action": "overview"}), Input::Sql("[1]"));
    assert_eq!(r.status, 500);
}
