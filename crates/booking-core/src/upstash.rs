//! Upstash Redis REST: the per-trip lock as request descriptions and envelope parsing
//! (wire contract: `reference/contracts-platform.md` §5.1 and §5.3).
//!
//! The lock is the one `@upstash/lock` uses: acquire with `SET <key> <token> NX PX <lease>`
//! (`{"result":"OK"}` when taken, `{"result":null}` when someone else holds it), release with a
//! compare-and-delete script, so a run whose lease already expired never deletes the lock a later
//! run took. Requests are body-style `POST /` (from the REST URL) with a JSON command array; the
//! executor adds the URL and the Bearer token ([`Service::Upstash`]). No
//! `Upstash-Encoding` header is sent, so results come back as plain JSON.
//!
//! The lock only keeps monitors off each other's work. Money safety does not depend on it: the
//! database's compare-and-set guards do (see [`crate::saga`]).

use serde_json::{json, Value};
use thiserror::Error;

use crate::http::{HttpRequest, Method, Service};

/// How long the shim waits for Upstash (a lock call is tiny; a slow one is as good as none).
pub const TIMEOUT_MS: u32 = 5_000;

/// The compare-and-delete release script (`@upstash/lock`'s `release`).
pub const RELEASE_SCRIPT: &str =
    "if redis.call(\"get\", KEYS[1]) == ARGV[1] then return redis.call(\"del\", KEYS[1]) else return 0 end";

/// Longest error text kept from an `{"error"}` envelope.
const MAX_ERROR_CHARS: usize = 200;

fn command(command: &Value) -> HttpRequest {
    let mut req = HttpRequest::new(Service::Upstash, Method::Post, "/".to_owned(), TIMEOUT_MS);
    req.headers
        .push(("Content-Type".into(), "application/json".into()));
    req.body = Some(command.to_string());
    req
}

/// The lock key of a trip: `lock:trip:<trip id>`.
pub fn trip_lock_key(trip_id: &str) -> String {
    format!("lock:trip:{trip_id}")
}

/// `SET <key> <token> NX PX <lease_ms>`: take the lock for `lease_ms` unless someone holds it.
pub fn lock_request(key: &str, token: &str, lease_ms: u32) -> HttpRequest {
    command(&json!(["SET", key, token, "NX", "PX", lease_ms]))
}

/// `EVAL <compare-and-delete> 1 <key> <token>`: release the lock only if `token` still holds it.
pub fn unlock_request(key: &str, token: &str) -> HttpRequest {
    command(&json!(["EVAL", RELEASE_SCRIPT, 1, key, token]))
}

/// `SCAN <cursor> MATCH <pattern> COUNT <count>` (the erasure finds a user's keys).
pub fn scan_request(cursor: &str, pattern: &str, count: u32) -> HttpRequest {
    command(&json!(["SCAN", cursor, "MATCH", pattern, "COUNT", count]))
}

/// `DEL <key>…`.
pub fn del_request(keys: &[String]) -> HttpRequest {
    let mut cmd = vec![Value::from("DEL")];
    cmd.extend(keys.iter().map(|k| Value::from(k.as_str())));
    command(&Value::Array(cmd))
}

/// Reads a `SCAN` answer: the next cursor (`"0"` when done) and the keys of this page.
pub fn parse_scan(status: u16, body: &[u8]) -> Result<(String, Vec<String>), UpstashError> {
    let value = parse_reply(status, body)?;
    let bad = || UpstashError::BadResponse("scan answer is not [cursor, [keys]]");
    let items = value.as_array().ok_or_else(bad)?;
    let cursor = match items.first() {
        Some(Value::String(c)) => c.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad()),
    };
    let keys = items
        .get(1)
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|k| k.as_str().map(str::to_owned).ok_or_else(bad))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((cursor, keys))
}

/// Reads a single-command envelope: `{"result": …}` on 200, `{"error": "…"}` otherwise.
pub fn parse_reply(status: u16, body: &[u8]) -> Result<Value, UpstashError> {
    let envelope: Option<serde_json::Map<String, Value>> = serde_json::from_slice(body).ok();
    let error = envelope
        .as_ref()
        .and_then(|e| e.get("error"))
        .and_then(Value::as_str)
        .map(|text| text.chars().take(MAX_ERROR_CHARS).collect::<String>());
    match (status, envelope, error) {
        (401, _, _) => Err(UpstashError::Unauthorized),
        (_, _, Some(text)) => Err(UpstashError::Command(text)),
        (200, Some(mut envelope), None) => envelope
            .remove("result")
            .ok_or(UpstashError::BadResponse("no result in the envelope")),
        (200, None, None) => Err(UpstashError::BadResponse("not a JSON envelope")),
        (status, _, None) => Err(UpstashError::Unavailable(status)),
    }
}

/// Interprets the answer to [`lock_request`]: `true` when this token now holds the lock.
pub fn parse_lock(status: u16, body: &[u8]) -> Result<bool, UpstashError> {
    match parse_reply(status, body)? {
        Value::String(s) if s == "OK" => Ok(true),
        Value::Null => Ok(false),
        _ => Err(UpstashError::BadResponse(
            "SET NX answered neither OK nor null",
        )),
    }
}

/// Interprets the answer to [`unlock_request`]: `true` when the lock was ours and is now gone,
/// `false` when it had expired or another token holds it.
pub fn parse_unlock(status: u16, body: &[u8]) -> Result<bool, UpstashError> {
    match parse_reply(status, body)? {
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        _ => Err(UpstashError::BadResponse(
            "release answered neither 0 nor 1",
        )),
    }
}

/// An Upstash call that did not produce a usable answer.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UpstashError {
    /// 401: the token was refused.
    #[error("Upstash refused the token")]
    Unauthorized,
    /// Redis refused the command (`{"error":"ERR …"}`).
    #[error("Upstash command failed: {0}")]
    Command(String),
    /// Another status without an error envelope (5xx from a proxy, …).
    #[error("Upstash unavailable (HTTP {0})")]
    Unavailable(u16),
    /// A 200 whose body is not the envelope the command implies.
    #[error("unexpected Upstash answer: {0}")]
    BadResponse(&'static str),
}

impl UpstashError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "upstash_unauthorized",
            Self::Command(_) => "upstash_command_failed",
            Self::Unavailable(_) => "upstash_unavailable",
            Self::BadResponse(_) => "upstash_bad_response",
        }
    }
}

crate::error::impl_error_code!(UpstashError);

#[cfg(test)]
mod tests {
    use super::*;

    fn body(request: &HttpRequest) -> Value {
        serde_json::from_str(request.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn lock_is_set_nx_px_with_the_token() {
        let r = lock_request(&trip_lock_key("t-1"), "run-token", 30_000);
        assert_eq!(r.method, Method::Post);
        assert_eq!((r.service, r.path.as_str()), (Service::Upstash, "/"));
        assert_eq!(
            r.header("authorization"),
            None,
            "the executor adds the token"
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            body(&r),
            json!(["SET", "lock:trip:t-1", "run-token", "NX", "PX", 30000])
        );
        assert_eq!(r.timeout_ms, TIMEOUT_MS);
    }

    #[test]
    fn unlock_is_a_compare_and_delete_eval() {
        let r = unlock_request("lock:trip:t-1", "run-token");
        let b = body(&r);
        assert_eq!(b[0], "EVAL");
        assert_eq!(b[2], 1);
        assert_eq!(b[3], "lock:trip:t-1");
        assert_eq!(b[4], "run-token");
        let script = b[1].as_str().unwrap();
        assert!(script.contains("KEYS[1]") && script.contains("ARGV[1]") && script.contains("del"));
    }

    #[test]
    fn lock_answers() {
        assert_eq!(parse_lock(200, br#"{"result":"OK"}"#), Ok(true));
        assert_eq!(parse_lock(200, br#"{"result":null}"#), Ok(false));
        assert_eq!(
            parse_lock(200, br#"{"result":"QUEUED"}"#)
                .unwrap_err()
                .code(),
            "upstash_bad_response"
        );
        assert_eq!(
            parse_lock(200, b"<html>").unwrap_err().code(),
            "upstash_bad_response"
        );
        assert_eq!(
            parse_lock(200, b"{}").unwrap_err().code(),
            "upstash_bad_response"
        );
    }

    #[test]
    fn unlock_answers() {
        assert_eq!(parse_unlock(200, br#"{"result":1}"#), Ok(true));
        assert_eq!(parse_unlock(200, br#"{"result":0}"#), Ok(false));
        assert!(parse_unlock(200, br#"{"result":"1"}"#).is_err());
    }

    #[test]
    fn error_envelopes_and_statuses() {
        assert_eq!(
            parse_reply(400, br#"{"error":"ERR syntax error"}"#),
            Err(UpstashError::Command("ERR syntax error".into()))
        );
        assert_eq!(
            parse_reply(401, br#"{"error":"Unauthorized"}"#),
            Err(UpstashError::Unauthorized)
        );
        assert_eq!(
            parse_reply(502, b"bad gateway"),
            Err(UpstashError::Unavailable(502))
        );
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(1000));
        match parse_reply(400, long.as_bytes()) {
            Err(UpstashError::Command(text)) => assert_eq!(text.len(), MAX_ERROR_CHARS),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_reply(200, br#"{"result":[1,"a"]}"#),
            Ok(json!([1, "a"]))
        );
    }
}
