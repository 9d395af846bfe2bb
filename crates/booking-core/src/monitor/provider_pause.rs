//! How long a provider's answer asks every monitor instance to stop calling it: the rule behind
//! the shared provider rate limit's pause (`supabase/functions/_shared/provider_limit.ts` sets
//! `pl:<provider>:pause` in Redis for this long).
//!
//! - A `429`: `Retry-After` as seconds (`3`, `1.5`) or an HTTP date; else Duffel's
//!   `ratelimit-reset` (an HTTP date, the end of the window); else one second.
//! - Any other answer whose `ratelimit-remaining` is `0`: until `ratelimit-reset` (the window's
//!   last call pauses everybody before the provider starts refusing).
//! - Never longer than [`MAX_PAUSE_MS`]; a date in the past or text that cannot be read is no
//!   hint (`0`, or the 429's one second).

use crate::time::Timestamp;

/// Longest pause a provider's answer can impose.
pub const MAX_PAUSE_MS: u32 = 60_000;

/// A 429 with no usable hint backs off this long.
pub const BARE_429_PAUSE_MS: u32 = 1_000;

/// The headers of a provider answer the rule reads (each `None` when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitHeaders<'a> {
    /// `Retry-After`.
    pub retry_after: Option<&'a str>,
    /// `ratelimit-remaining`.
    pub ratelimit_remaining: Option<&'a str>,
    /// `ratelimit-reset`.
    pub ratelimit_reset: Option<&'a str>,
}

/// Milliseconds every instance should wait before calling the provider again (0: no pause).
pub fn pause_ms(status: u16, headers: LimitHeaders<'_>, now: Timestamp) -> u32 {
    let until = |text: Option<&str>| text.map_or(0, |t| until_date(t.trim(), now));
    let ms = if status == 429 {
        let hinted = match headers.retry_after.map(str::trim) {
            Some(text) => seconds_ms(text).unwrap_or_else(|| until_date(text, now)),
            None => 0,
        };
        let hinted = if hinted == 0 {
            until(headers.ratelimit_reset)
        } else {
            hinted
        };
        if hinted == 0 {
            u64::from(BARE_429_PAUSE_MS)
        } else {
            hinted
        }
    } else if headers.ratelimit_remaining.map(str::trim) == Some("0") {
        until(headers.ratelimit_reset)
    } else {
        0
    };
    u32::try_from(ms.min(u64::from(MAX_PAUSE_MS))).unwrap_or(MAX_PAUSE_MS)
}

/// `Retry-After`'s delay-seconds (digits, optionally a `.` and more digits) in milliseconds,
/// rounded up; `None` when the text is not a number. Saturates instead of overflowing.
fn seconds_ms(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) {
        return None;
    }
    let mut ms = whole.bytes().fold(0_u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    ms = ms.saturating_mul(1000);
    let f = fraction.as_bytes();
    let mut part = 0_u64;
    for place in 0..3 {
        part = part * 10 + f.get(place).map_or(0, |b| u64::from(b - b'0'));
    }
    let rest_nonzero = f.iter().skip(3).any(|&b| b != b'0');
    Some(ms.saturating_add(part + u64::from(rest_nonzero)))
}

/// Milliseconds from `now` until the HTTP date (or RFC 3339 instant) `text`; 0 when it is past
/// or cannot be read.
fn until_date(text: &str, now: Timestamp) -> u64 {
    let at_ms = match httpdate::parse_http_date(text) {
        Ok(at) => at
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok()),
        Err(_) => Timestamp::parse_rfc3339(text).map(Timestamp::unix_ms),
    };
    at_ms.map_or(0, |at| {
        u64::try_from(at.saturating_sub(now.unix_ms())).unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2027-01-01T00:00:00Z").unwrap()
    }

    fn on(
        status: u16,
        retry_after: Option<&str>,
        remaining: Option<&str>,
        reset: Option<&str>,
    ) -> u32 {
        let headers = LimitHeaders {
            retry_after,
            ratelimit_remaining: remaining,
            ratelimit_reset: reset,
        };
        pause_ms(status, headers, now())
    }

    #[test]
    fn retry_after_seconds_or_an_http_date() {
        assert_eq!(on(429, Some("3"), None, None), 3_000);
        assert_eq!(on(429, Some(" 2 "), None, None), 2_000);
        assert_eq!(on(429, Some("1.5"), None, None), 1_500);
        assert_eq!(on(429, Some("0.0001"), None, None), 1, "rounded up");
        assert_eq!(
            on(429, Some("Fri, 01 Jan 2027 00:00:05 GMT"), None, None),
            5_000
        );
        // RFC 850 and asctime, the other HTTP date forms.
        assert_eq!(
            on(429, Some("Friday, 01-Jan-27 00:00:06 GMT"), None, None),
            6_000
        );
        assert_eq!(on(429, Some("Fri Jan  1 00:00:04 2027"), None, None), 4_000);
    }

    #[test]
    fn a_429_falls_back_to_ratelimit_reset_then_to_a_second() {
        let reset = Some("Fri, 01 Jan 2027 00:00:20 GMT");
        assert_eq!(on(429, None, None, reset), 20_000);
        assert_eq!(
            on(429, Some("soon"), None, reset),
            20_000,
            "unreadable Retry-After"
        );
        assert_eq!(
            on(429, Some("0"), None, reset),
            20_000,
            "a zero hint is no hint"
        );
        assert_eq!(on(429, None, None, None), BARE_429_PAUSE_MS);
        assert_eq!(on(429, Some("-3"), None, None), BARE_429_PAUSE_MS);
        assert_eq!(on(429, Some("1."), None, None), BARE_429_PAUSE_MS);
        assert_eq!(
            on(429, Some("Thu, 31 Dec 2026 23:59:00 GMT"), None, None),
            BARE_429_PAUSE_MS,
            "a date in the past"
        );
    }

    #[test]
    fn the_last_call_of_a_window_pauses_until_its_reset() {
        let reset = Some("Fri, 01 Jan 2027 00:00:07 GMT");
        assert_eq!(on(200, None, Some("0"), reset), 7_000);
        assert_eq!(
            on(201, None, Some("0"), Some("2027-01-01T00:00:02.5Z")),
            2_500
        );
        assert_eq!(on(200, None, Some("1"), reset), 0);
        assert_eq!(on(200, None, None, reset), 0);
        assert_eq!(on(200, None, Some("0"), None), 0);
        assert_eq!(
            on(200, Some("30"), None, None),
            0,
            "Retry-After only counts on a 429"
        );
        assert_eq!(on(503, None, Some("0"), Some("garbage")), 0);
    }

    #[test]
    fn never_longer_than_a_minute() {
        assert_eq!(on(429, Some("3600"), None, None), MAX_PAUSE_MS);
        assert_eq!(
            on(429, Some("99999999999999999999999"), None, None),
            MAX_PAUSE_MS
        );
        assert_eq!(
            on(429, Some("Sat, 02 Jan 2027 00:00:00 GMT"), None, None),
            MAX_PAUSE_MS
        );
    }
}
