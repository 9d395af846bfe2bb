//! The `ops` function as a [`Driver`]: the operators' JSON API behind the ops dashboard
//! (`docs/contracts.md`, "ops"). The shim authenticates (a verified user JWT whose
//! `app_metadata` grants the operator role); this validates the body and makes one SQL call as
//! the caller, and the SQL function checks the operator claim again (SQLSTATE 42501).
//!
//! | action | body | SQL |
//! | --- | --- | --- |
//! | `overview` | `{stuck_minutes?: 1..1440}` | `ops_overview` |
//! | `metrics` | `{hours?: 1..168}` | `pipeline_metrics` |
//! | `pause_monitor` / `resume_monitor` | `{reason}` | `ops_set_monitor` (`enabled` from the action) |
//! | `set_flag` | `{name, rollout_bp?: 0..10000, enabled?, reason}` | `ops_set_flag` |
//!
//! `reason` is 1..500 characters (not blank). Answers: 200 with the SQL function's JSON; 400
//! `validation_failed` (per-field codes), `invalid_json`, `duplicate_key`; 403
//! `operator_required` (the database refused the caller); 404 `unknown_flag`.

#[cfg(test)]
mod tests;

use serde_json::{json, Map, Value};

use crate::engine::{Command, DriveError, Driver, Input, SqlFunction};
use crate::reply::{Reply, SqlStep};
use crate::time::Timestamp;
use crate::trip::{parse_object, FieldError, TripError};

/// The role name operators carry in `app_metadata` (`role`, or an element of `roles`).
pub const OPERATOR_ROLE: &str = "operator";

/// Largest `reason` accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Whether verified JWT claims grant the operator role: `app_metadata.role == "operator"` or
/// `app_metadata.roles` an array containing `"operator"`. `user_metadata` (the user's own to
/// write) never counts.
pub fn is_operator(claims: &Value) -> bool {
    let Some(meta) = claims.get("app_metadata").and_then(Value::as_object) else {
        return false;
    };
    meta.get("role").and_then(Value::as_str) == Some(OPERATOR_ROLE)
        || meta
            .get("roles")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(OPERATOR_ROLE)))
}

/// What an `ops` body asks for (validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpsAction {
    /// Everything the dashboard shows.
    Overview {
        /// Minutes without progress after which an open attempt counts as stuck.
        stuck_minutes: Option<i64>,
    },
    /// The pipeline metrics over the last `hours`.
    Metrics {
        /// The window.
        hours: Option<i64>,
    },
    /// Pause (`false`) or resume (`true`) the monitor.
    SetMonitor {
        /// The new `monitor_enabled`.
        enabled: bool,
        /// Why (recorded).
        reason: String,
    },
    /// Change a flag's rollout and/or enabled state.
    SetFlag {
        /// The flag.
        name: String,
        /// New rollout in basis points.
        rollout_bp: Option<i64>,
        /// New enabled state.
        enabled: Option<bool>,
        /// Why (recorded in the audit).
        reason: String,
    },
}

fn field(name: &str, code: &'static str, message: &str) -> FieldError {
    FieldError {
        field: name.chars().take(64).collect(),
        code,
        message: message.to_owned(),
    }
}

fn invalid(fields: Vec<FieldError>) -> Reply {
    Reply::invalid(&TripError::Invalid(fields))
}

fn int_in(
    object: &Map<String, Value>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| range.contains(&v)) => n.as_i64(),
        Some(_) => {
            errors.push(field(
                name,
                "out_of_range",
                &format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
            None
        }
    }
}

fn reason(object: &Map<String, Value>, errors: &mut Vec<FieldError>) -> String {
    match object.get("reason") {
        Some(Value::String(r)) if !r.trim().is_empty() && r.chars().count() <= MAX_REASON_CHARS => {
            r.clone()
        }
        None | Some(Value::Null) => {
            errors.push(field(
                "reason",
                "required",
                "say why (it is recorded with the change)",
            ));
            String::new()
        }
        Some(_) => {
            errors.push(field(
                "reason",
                "invalid_reason",
                "must be a non-blank text of at most 500 characters",
            ));
            String::new()
        }
    }
}

fn flag_name(object: &Map<String, Value>, errors: &mut Vec<FieldError>) -> String {
    let valid = |n: &str| {
        let mut chars = n.chars();
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && n.len() <= 64
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match object.get("name") {
        Some(Value::String(n)) if valid(n) => n.clone(),
        None | Some(Value::Null) => {
            errors.push(field("name", "required", "this field is required"));
            String::new()
        }
        Some(_) => {
            errors.push(field(
                "name",
                "invalid_flag_name",
                "a flag name is lowercase letters, digits and _ (at most 64)",
            ));
            String::new()
        }
    }
}

/// Parses and validates an `ops` body (the 400 answer on refusal).
pub fn parse_request(body: &[u8]) -> Result<OpsAction, Reply> {
    let object = parse_object(body).map_err(|e| Reply::invalid(&e))?;
    let action = match object.get("action") {
        Some(Value::String(a)) => a.as_str(),
        None | Some(Value::Null) => {
            return Err(invalid(vec![field(
                "action",
                "required",
                "this field is required",
            )]))
        }
        Some(_) => "",
    };
    let allowed: &[&str] = match action {
        "overview" => &["action", "stuck_minutes"],
        "metrics" => &["action", "hours"],
        "pause_monitor" | "resume_monitor" => &["action", "reason"],
        "set_flag" => &["action", "name", "rollout_bp", "enabled", "reason"],
        _ => {
            return Err(invalid(vec![field(
                "action",
                "invalid_action",
                "must be overview, metrics, pause_monitor, resume_monitor or set_flag",
            )]))
        }
    };
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| field(k, "unknown_field", "this field is not part of this action"))
        .collect();
    let parsed = match action {
        "overview" => OpsAction::Overview {
            stuck_minutes: int_in(&object, "stuck_minutes", 1..=1440, &mut errors),
        },
        "metrics" => OpsAction::Metrics {
            hours: int_in(&object, "hours", 1..=168, &mut errors),
        },
        "pause_monitor" | "resume_monitor" => OpsAction::SetMonitor {
            enabled: action == "resume_monitor",
            reason: reason(&object, &mut errors),
        },
        _ => {
            let name = flag_name(&object, &mut errors);
            let rollout_bp = int_in(&object, "rollout_bp", 0..=10_000, &mut errors);
            let enabled = match object.get("enabled") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => {
                    errors.push(field("enabled", "invalid_type", "expected true or false"));
                    None
                }
            };
            if rollout_bp.is_none()
                && enabled.is_none()
                && !errors
                    .iter()
                    .any(|e| e.field == "rollout_bp" || e.field == "enabled")
            {
                errors.push(field(
                    "rollout_bp",
                    "nothing_to_change",
                    "send rollout_bp or enabled",
                ));
            }
            OpsAction::SetFlag {
                name,
                rollout_bp,
                enabled,
                reason: reason(&object, &mut errors),
            }
        }
    };
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(invalid(errors))
    }
}

impl OpsAction {
    /// The SQL call this action is, and its arguments.
    pub fn call(&self) -> (SqlFunction, Value) {
        let mut args = Map::new();
        let function = match self {
            Self::Overview { stuck_minutes } => {
                if let Some(m) = stuck_minutes {
                    args.insert("stuck_minutes".into(), json!(m));
                }
                SqlFunction::OpsOverview
            }
            Self::Metrics { hours } => {
                if let Some(h) = hours {
                    args.insert("hours".into(), json!(h));
                }
                SqlFunction::PipelineMetrics
            }
            Self::SetMonitor { enabled, reason } => {
                args.insert("enabled".into(), json!(enabled));
                args.insert("reason".into(), json!(reason));
                SqlFunction::OpsSetMonitor
            }
            Self::SetFlag {
                name,
                rollout_bp,
                enabled,
                reason,
            } => {
                args.insert("name".into(), json!(name));
                if let Some(bp) = rollout_bp {
                    args.insert("rollout_bp".into(), json!(bp));
                }
                if let Some(e) = enabled {
                    args.insert("enabled".into(), json!(e));
                }
                args.insert("reason".into(), json!(reason));
                SqlFunction::OpsSetFlag
            }
        };
        (function, Value::Object(args))
    }

    fn outcome(&self) -> &'static str {
        match self {
            Self::Overview { .. } => "overview",
            Self::Metrics { .. } => "metrics",
            Self::SetMonitor { enabled: true, .. } => "monitor_resumed",
            Self::SetMonitor { enabled: false, .. } => "monitor_paused",
            Self::SetFlag { .. } => "flag_set",
        }
    }
}

/// The answer for the SQL function's error, by SQLSTATE.
pub fn error_reply(sqlstate: &str) -> Reply {
    match sqlstate {
        "42501" => Reply::error(
            403,
            "operator_required",
            "this needs an operator's account",
            json!({}),
        ),
        "P0002" => Reply::error(404, "unknown_flag", "no flag of that name", json!({})),
        _ => Reply::sql_error(sqlstate, "flag"),
    }
}

enum Stage {
    Start,
    Waiting,
    Done(Reply),
}

/// The driver for one `ops` request.
pub struct OpsDriver {
    action: OpsAction,
    stage: Stage,
    step: SqlStep,
}

impl std::fmt::Debug for OpsDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsDriver").finish_non_exhaustive()
    }
}

impl OpsDriver {
    /// A driver for a validated action.
    pub fn new(action: OpsAction) -> Self {
        Self {
            action,
            stage: Stage::Start,
            step: SqlStep::default(),
        }
    }
}

impl Driver for OpsDriver {
    type Done = Reply;

    fn poll(&mut self, _now: Timestamp) -> Command<Reply> {
        if let Some(pending) = self.step.pending() {
            return pending;
        }
        match std::mem::replace(&mut self.stage, Stage::Waiting) {
            Stage::Start => {
                let (function, args) = self.action.call();
                self.step.call(function, args)
            }
            Stage::Done(reply) => {
                self.stage = Stage::Done(reply.clone());
                Command::Done { result: reply }
            }
            Stage::Waiting => {
                let reply = Reply::internal("driver invariant");
                self.stage = Stage::Done(reply.clone());
                Command::Done { result: reply }
            }
        }
    }

    fn handle(&mut self, _now: Timestamp, id: u32, input: Input<'_>) -> Result<(), DriveError> {
        self.step.accept(id, &input)?;
        let reply = match input {
            Input::SqlError(sqlstate) => error_reply(sqlstate),
            Input::Sql(text) => match serde_json::from_str::<Value>(text) {
                Ok(result @ Value::Object(_)) => Reply::ok(200, self.action.outcome(), result),
                _ => Reply::internal("the SQL API answered no JSON object"),
            },
            _ => Reply::internal("driver invariant"),
        };
        self.stage = Stage::Done(reply);
        Ok(())
    }
}

/// The driver for an `ops` body: done at once with the 400 answer when it is refused.
pub fn driver(body: &[u8]) -> Result<OpsDriver, Reply> {
    parse_request(body).map(OpsDriver::new)
}
