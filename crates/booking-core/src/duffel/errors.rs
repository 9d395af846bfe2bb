//! Classifying Duffel failures.

use serde::Deserialize;

use crate::error::ProviderError;

#[derive(Deserialize)]
struct ErrorEnvelope {
    errors: Vec<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(default)]
    code: Option<String>,
}

/// Classifies a non-2xx Duffel answer from its status and body bytes.
///
/// - 429 and 5xx: [`ProviderError::Unavailable`] (try again later; includes 504
///   `gateway_timeout_error` from a search timeout);
/// - other 4xx: [`ProviderError::Rejected`] (e.g. 422 `offer_no_longer_available`);
/// - anything else (1xx, 3xx, or a 2xx passed here by mistake):
///   [`ProviderError::BadResponse`].
///
/// The Duffel `errors[0].code` is kept when the body is Duffel's error envelope and the code is
/// a plain snake_case token of at most 64 characters; `title`/`message` are never kept (Duffel
/// says they change, and they may echo request data).
pub fn classify_failure(status: u16, body: &[u8]) -> ProviderError {
    let provider_code = first_error_code(body);
    match status {
        429 | 500..=599 => ProviderError::Unavailable {
            status,
            provider_code,
        },
        400..=499 => ProviderError::Rejected {
            status,
            provider_code,
        },
        _ => ProviderError::bad_response(format!("unexpected HTTP status {status}")),
    }
}

fn first_error_code(body: &[u8]) -> Option<String> {
    let envelope: ErrorEnvelope = serde_json::from_slice(body).ok()?;
    let code = envelope.errors.into_iter().next()?.code?;
    let plain = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    plain.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(code: &str) -> Vec<u8> {
        format!(
            r#"{{"errors":[{{"type":"invalid_state_error","code":"{code}","title":"t","message":"m"}}],"meta":{{"status":422,"request_id":"r"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn statuses_map_to_the_three_codes() {
        let e = classify_failure(422, &envelope("offer_no_longer_available"));
        assert_eq!(e.code(), "provider_rejected");
        assert_eq!(e.provider_code(), Some("offer_no_longer_available"));
        let e = classify_failure(504, &envelope("gateway_timeout_error"));
        assert_eq!(e.code(), "provider_unavailable");
        assert_eq!(e.provider_code(), Some("gateway_timeout_error"));
        assert_eq!(classify_failure(429, b"").code(), "provider_unavailable");
        assert_eq!(
            classify_failure(500, b"<html>").code(),
            "provider_unavailable"
        );
        assert_eq!(
            classify_failure(502, &envelope("airline_unknown")).code(),
            "provider_unavailable"
        );
        assert_eq!(classify_failure(401, b"{}").code(), "provider_rejected");
        assert_eq!(classify_failure(404, b"{}").provider_code(), None);
        assert_eq!(classify_failure(302, b"").code(), "provider_bad_response");
        assert_eq!(classify_failure(201, b"").code(), "provider_bad_response");
    }

    #[test]
    fn odd_codes_are_dropped() {
        assert_eq!(
            classify_failure(422, &envelope("Has Spaces")).provider_code(),
            None
        );
        assert_eq!(
            classify_failure(422, &envelope(&"a".repeat(65))).provider_code(),
            None
        );
        assert_eq!(
            classify_failure(422, br#"{"errors":[]}"#).provider_code(),
            None
        );
        assert_eq!(
            classify_failure(422, br#"{"errors":[{"code":null}]}"#).provider_code(),
            None
        );
    }
}
