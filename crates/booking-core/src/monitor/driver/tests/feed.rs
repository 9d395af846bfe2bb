//! Feeding outcomes: misuse is an error, never a panic; refused or garbled SQL stops the run.

use super::*;

#[test]
fn sql_errors_and_bad_results_stop_the_run() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    d.handle_sql_error(NOW, "40001").unwrap();
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "sql_error_40001".into())
    );
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    start_booking(&mut d);
    d.handle_sql(NOW, "not json").unwrap();
    assert_eq!(
        finish(&mut d),
        (DriverOutcome::Stopped, "invalid_sql_result".into())
    );
}

#[test]
fn misuse_is_an_error_never_a_panic() {
    let mut d = driver(claim("watching", Some(offer()), Some(payment())));
    assert_eq!(
        d.handle_http(NOW, 200, b"{}"),
        Err(DriveError::NotWaiting),
        "before the first poll"
    );
    http(&mut d);
    let err = d.handle_sql(NOW, "{}").unwrap_err();
    assert_eq!(err, DriveError::WrongOutcome { expected: "http" });
    assert_eq!(err.code(), "driver_wrong_outcome");
    // The waiting command survives the misuse and repeats on poll.
    assert_eq!(body(&http(&mut d))[0], "SET");
    respond(&mut d, 200, json!({"result": null}));
    done(&mut d);
    assert_eq!(
        d.handle_transport(NOW, TransportFailure::Timeout),
        Err(DriveError::NotWaiting)
    );
    assert_eq!(
        d.handle_sql_error(NOW, "40001").unwrap_err().code(),
        "driver_not_waiting"
    );
    assert_eq!(done(&mut d).0, DriverOutcome::Locked, "done repeats");
}
