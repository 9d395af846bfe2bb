//! Stand-in for Upstash Redis REST behind the per-trip lock: `SET NX PX` and the
//! compare-and-delete `EVAL`, with expiry on virtual time. Unlike Upstash it knows only these
//! two commands, and a `broken` switch makes the lock exclude no one.

use std::collections::{BTreeSet, HashMap};

use booking_core::http::HttpRequest;
use booking_core::saga::Outcome;
use serde_json::{json, Value};

use super::world::{Fault, UPSTASH_TOKEN};

/// Stand-in for Upstash Redis REST behind the lock: `SET NX PX` and the compare-and-delete
/// `EVAL`, with expiry on virtual time.
#[derive(Clone, Debug, Default)]
pub(crate) struct Upstash {
    pub(crate) keys: HashMap<String, (String, i64)>,
    /// A broken lock that never excludes anyone: the database guards alone must suffice.
    pub(crate) broken: bool,
    /// Tokens whose release (`EVAL`) was sent, whether or not it got through.
    pub(crate) releases: BTreeSet<String>,
}

impl Upstash {
    pub(crate) fn handle(
        &mut self,
        request: &HttpRequest,
        now: i64,
        fault: Option<Fault>,
    ) -> Outcome {
        if request.header("Authorization") != Some(&format!("Bearer {UPSTASH_TOKEN}")) {
            return respond(401, json!({"error": "Unauthorized"}));
        }
        let command: Vec<Value> =
            serde_json::from_str(request.body.as_deref().unwrap_or("")).unwrap_or_default();
        let text = |i: usize| command.get(i).and_then(Value::as_str).unwrap_or("");
        if text(0) == "EVAL" {
            self.releases.insert(text(4).to_owned());
        }
        match fault {
            Some(Fault::Lost) => return Outcome::Timeout,
            Some(Fault::Before(status)) => {
                return respond(status, json!({"error": "ERR unavailable"}))
            }
            _ => {}
        }
        match text(0) {
            "SET" if text(3) == "NX" && text(4) == "PX" => {
                let lease = command.get(5).and_then(Value::as_i64).unwrap_or(0);
                let held = self
                    .keys
                    .get(text(1))
                    .is_some_and(|(_, expires)| *expires > now);
                if held && !self.broken {
                    return respond(200, json!({"result": null}));
                }
                self.keys
                    .insert(text(1).to_owned(), (text(2).to_owned(), now + lease));
                respond(200, json!({"result": "OK"}))
            }
            "EVAL" if text(1).contains("KEYS[1]") => {
                let (key, token) = (text(3), text(4));
                let ours = self
                    .keys
                    .get(key)
                    .is_some_and(|(t, expires)| t == token && *expires > now);
                if ours {
                    self.keys.remove(key);
                }
                respond(200, json!({"result": i64::from(ours)}))
            }
            _ => respond(400, json!({"error": "ERR unknown command"})),
        }
    }

    /// Records the token of a release (`EVAL`) that was sent but not executed.
    pub(crate) fn note_release(&mut self, request: &HttpRequest) {
        let command: Vec<Value> =
            serde_json::from_str(request.body.as_deref().unwrap_or("")).unwrap_or_default();
        if command.first().and_then(Value::as_str) == Some("EVAL") {
            if let Some(token) = command.get(4).and_then(Value::as_str) {
                self.releases.insert(token.to_owned());
            }
        }
    }

    /// Keys held (unexpired) by a token starting with `prefix-` that was never released.
    pub(crate) fn unreleased_by_run(&self, prefix: &str, now: i64) -> usize {
        let prefix = format!("{prefix}-");
        self.keys
            .values()
            .filter(|(t, expires)| {
                t.starts_with(&prefix) && *expires > now && !self.releases.contains(t)
            })
            .count()
    }
}

fn respond(status: u16, body: Value) -> Outcome {
    Outcome::Response {
        status,
        body: body.to_string().into_bytes(),
    }
}
