//! Descriptions of HTTP requests the shim executes on the core's behalf.
//!
//! The core builds an [`HttpRequest`]; the Deno shim performs it with `fetch` (honouring
//! `timeout_ms` with an `AbortSignal`) and hands the status and the body bytes back. Shared by
//! every provider: Duffel, Stripe, Upstash (and Resend).
//!
//! A request holds no credential and no base URL: it names the [`Service`] it is for, and the
//! executor adds that service's base URL and `Authorization` header from the function's
//! environment. Provider secrets therefore never enter the core (nor the wasm module's memory),
//! and a request can be logged or compared in tests as it is. The wire format (method, path,
//! query, version headers, idempotency keys, body) stays the core's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// The service a request is for: which base URL and credential the executor adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Duffel (the executor adds `DUFFEL_API_URL` and the Duffel token).
    Duffel,
    /// Stripe (the executor adds `STRIPE_API_URL` and the Stripe key).
    Stripe,
    /// Upstash Redis REST (the executor adds `UPSTASH_REDIS_REST_URL` and its token).
    Upstash,
    /// Resend (the executor adds `RESEND_API_URL` and the Resend key).
    Resend,
}

impl Service {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duffel => "duffel",
            Self::Stripe => "stripe",
            Self::Upstash => "upstash",
            Self::Resend => "resend",
        }
    }
}

/// A request for the shim to perform.
///
/// Serialises as
/// `{"service":"stripe","method":"POST","path":"/v1/…?…","headers":[["Idempotency-Key","…"],…],"body":"…"|null,"timeout_ms":30000}`;
/// headers are an ordered array of `[name, value]` pairs so repeated headers survive. There is
/// never an `Authorization` header: the executor adds the [`Service`]'s credential.
///
/// `Debug` still redacts the values of sensitive-looking headers (`Idempotency-Key`, anything
/// containing `token`, `key` or `secret`), so a request can be logged safely.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HttpRequest {
    /// Which service: the executor prefixes its base URL and adds its credential.
    pub service: Service,
    /// HTTP method.
    pub method: Method,
    /// Path from the service's base URL, starting with `/`, including the query string.
    pub path: String,
    /// Header name/value pairs in sending order (never a credential).
    pub headers: Vec<(String, String)>,
    /// Body text (JSON or form-encoded), if any.
    pub body: Option<String>,
    /// How long the shim may wait for the complete response before reporting a timeout.
    pub timeout_ms: u32,
}

impl HttpRequest {
    /// A request to `service` with no headers yet.
    pub fn new(service: Service, method: Method, path: String, timeout_ms: u32) -> Self {
        Self {
            service,
            method,
            path,
            headers: Vec::new(),
            body: None,
            timeout_ms,
        }
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Whether a header carries a credential whose value must never be logged.
pub fn is_sensitive_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || lower.contains("token")
        || lower.contains("key")
        || lower.contains("secret")
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let shown = if is_sensitive_header(n) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (n.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("service", &self.service)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &headers)
            .field("body_len", &self.body.as_ref().map(String::len))
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HttpRequest {
        HttpRequest {
            service: Service::Stripe,
            method: Method::Post,
            path: "/x?a=1".into(),
            headers: vec![
                ("Idempotency-Key".into(), "secret_token_value".into()),
                ("Accept".into(), "application/json".into()),
            ],
            body: Some("{}".into()),
            timeout_ms: 1500,
        }
    }

    #[test]
    fn serialises_headers_as_pairs() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "service": "stripe",
                "method": "POST",
                "path": "/x?a=1",
                "headers": [["Idempotency-Key", "secret_token_value"], ["Accept", "application/json"]],
                "body": "{}",
                "timeout_ms": 1500
            })
        );
        let back: HttpRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        assert_eq!(sample().header("accept"), Some("application/json"));
        assert_eq!(sample().header("Content-Type"), None);
    }

    #[test]
    fn debug_redacts_credentials() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("secret_token_value"), "{text}");
        assert!(text.contains("<redacted>"));
        assert!(text.contains("application/json"));
        assert!(is_sensitive_header("Idempotency-Key"));
        assert!(is_sensitive_header("X-Upstash-Token"));
        assert!(!is_sensitive_header("Duffel-Version"));
    }
}
