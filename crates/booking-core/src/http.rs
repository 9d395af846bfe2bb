//! Descriptions of HTTP requests the shim executes on the core's behalf.
//!
//! The core builds an [`HttpRequest`]; the Deno shim performs it with `fetch` (honouring
//! `timeout_ms` with an `AbortSignal`) and hands the status and the body bytes back. Shared by
//! every provider: Duffel, and later Stripe, Resend and Upstash.

use std::fmt;

use serde::{Deserialize, Serialize};

/// HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// A request for the shim to perform.
///
/// Serialises as
/// `{"method":"POST","url":"…","headers":[["Authorization","Bearer …"],…],"body":"…"|null,"timeout_ms":30000}`;
/// headers are an ordered array of `[name, value]` pairs so repeated headers survive.
///
/// `Debug` redacts the values of credential headers (`Authorization`, `Proxy-Authorization`,
/// `Cookie`, anything containing `token` or `key`) so a request can be logged safely.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute URL including the query string.
    pub url: String,
    /// Header name/value pairs in sending order.
    pub headers: Vec<(String, String)>,
    /// Body text (JSON or form-encoded), if any.
    pub body: Option<String>,
    /// How long the shim may wait for the complete response before reporting a timeout.
    pub timeout_ms: u32,
}

impl HttpRequest {
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
            .field("method", &self.method)
            .field("url", &self.url)
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
            method: Method::Post,
            url: "https://api.example.test/x?a=1".into(),
            headers: vec![
                ("Authorization".into(), "Bearer secret_token_value".into()),
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
                "method": "POST",
                "url": "https://api.example.test/x?a=1",
                "headers": [["Authorization", "Bearer secret_token_value"], ["Accept", "application/json"]],
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
