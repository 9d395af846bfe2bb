//! Service-secret checks for service-only functions (the `auto-book-monitor` is called by
//! pg_cron through `net.http_post` with a shared secret, never by travellers).
//!
//! The comparison takes time that depends only on the length of the *expected* secret, never on
//! where the presented value first differs or on its length, so a caller cannot find the secret
//! byte by byte by timing the answers. It uses the `subtle` crate's constant-time primitives
//! rather than `==` (which stops at the first difference).

use subtle::{Choice, ConstantTimeEq};

/// Whether `given` equals `expected`, compared in constant time.
///
/// An empty `expected` secret never matches anything (a missing configuration must not open
/// the door). The work done is one pass over `expected`, whatever `given` is.
pub fn secret_matches(given: &[u8], expected: &[u8]) -> bool {
    if expected.is_empty() {
        return false;
    }
    let lengths_equal = (given.len() as u64).ct_eq(&(expected.len() as u64));
    let mut bytes_equal = Choice::from(1);
    for (i, want) in expected.iter().enumerate() {
        // Wrap around a shorter `given` so the loop always runs `expected.len()` times; the
        // length check above already makes the result false in that case.
        let got = if given.is_empty() {
            0
        } else {
            given[i % given.len()]
        };
        bytes_equal &= got.ct_eq(want);
    }
    bool::from(lengths_equal & bytes_equal)
}

/// [`secret_matches`] for a `Bearer <secret>` `Authorization` header value (the scheme is
/// case-insensitive, as in RFC 9110); anything else does not match.
pub fn bearer_matches(header: &str, expected: &str) -> bool {
    let given = match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => return secret_matches(b"", expected.as_bytes()),
    };
    secret_matches(given.as_bytes(), expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_match() {
        assert!(secret_matches(b"s3cret-value", b"s3cret-value"));
        assert!(secret_matches(&[0, 255, 7], &[0, 255, 7]));
    }

    #[test]
    fn any_difference_fails() {
        let expected = b"s3cret-value";
        assert!(!secret_matches(b"s3cret-valuf", expected));
        assert!(!secret_matches(b"t3cret-value", expected));
        assert!(!secret_matches(b"s3cret-valu", expected), "prefix");
        assert!(!secret_matches(b"s3cret-value!", expected), "longer");
        assert!(
            !secret_matches(b"s3cret-values3cret-value", expected),
            "repeated"
        );
        assert!(!secret_matches(b"", expected));
        // A shorter value whose wrap-around equals the secret must still fail on length.
        assert!(!secret_matches(b"ab", b"abab"));
    }

    #[test]
    fn an_empty_expected_secret_never_matches() {
        assert!(!secret_matches(b"", b""));
        assert!(!secret_matches(b"anything", b""));
    }

    #[test]
    fn bearer_header_is_parsed() {
        assert!(bearer_matches("Bearer tok_1", "tok_1"));
        assert!(bearer_matches("bearer tok_1", "tok_1"));
        assert!(!bearer_matches("Basic tok_1", "tok_1"));
        assert!(!bearer_matches("tok_1", "tok_1"));
        assert!(!bearer_matches("Bearer tok_2", "tok_1"));
        assert!(!bearer_matches("Bearer ", ""));
    }
}
