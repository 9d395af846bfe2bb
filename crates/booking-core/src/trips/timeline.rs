//! A trip's decision log (`pipeline_events`) as a readable timeline, and the price history's
//! amounts as text. Money is rendered from integer minor units with the currency's exponent
//! (`GBP 412.40`, `JPY 1500`, `KWD 12.345`), never through a float. Times are UTC
//! (`2026-12-02 12:00 UTC`). Nothing personal is in the log, so nothing personal is here.

use serde::Serialize;
use serde_json::Value;

use crate::money::{Currency, Money};
use crate::time::Timestamp;

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TimelineEntry {
    /// When (RFC 3339).
    pub at: String,
    /// The event's stage (`search`, `monitor`, `book`, `traveller`).
    pub stage: String,
    /// The event's decision code.
    pub decision: String,
    /// The reason code, if any.
    pub reason: Option<String>,
    /// The sentence (`searched 2026-12-02 12:00 UTC: 229 offers, best GBP 455.00 over your GBP 420.00`).
    pub text: String,
}

/// `GBP 455.00` from minor units; an unknown currency shows the minor units with the code.
pub fn money(amount_minor: i64, currency: &str) -> String {
    match Currency::parse(currency).and_then(|c| Money::from_minor(amount_minor, c)) {
        Ok(m) => format!("{} {}", m.currency.code(), m.to_decimal_string()),
        Err(_) => format!("{currency} {amount_minor} (minor units)"),
    }
}

/// `2026-12-02 12:00 UTC` from RFC 3339 (the text itself when unreadable).
pub fn when(at: &str) -> String {
    match Timestamp::parse_rfc3339(at) {
        Some(ts) => {
            let text = ts.to_rfc3339();
            format!("{} {} UTC", &text[..10], &text[11..16])
        }
        None => at.to_owned(),
    }
}

fn int(detail: &Value, key: &str) -> Option<i64> {
    detail.get(key).and_then(Value::as_i64)
}

fn text<'a>(detail: &'a Value, key: &str) -> Option<&'a str> {
    detail.get(key).and_then(Value::as_str)
}

fn reason_text(reason: Option<&str>) -> String {
    reason.map_or_else(|| "no reason given".to_owned(), |r| r.replace('_', " "))
}

fn search_line(t: &str, decision: &str, reason: Option<&str>, d: &Value, currency: &str) -> String {
    let seen = int(d, "offers_seen").unwrap_or(0);
    let cur = text(d, "currency").unwrap_or(currency);
    let max = int(d, "max_total_minor").map(|m| money(m, cur));
    let best =
        int(d, "best_total_minor").map(|b| (b, money(b, text(d, "best_currency").unwrap_or(cur))));
    let offers = if seen == 1 {
        "1 offer".to_owned()
    } else {
        format!("{seen} offers")
    };
    match decision {
        "search_failed" => format!(
            "search failed {t}: {}; trying again later",
            reason_text(reason)
        ),
        "offer_selected" => {
            let chosen = int(d, "selected_total_minor")
                .map(|s| money(s, text(d, "selected_currency").unwrap_or(cur)));
            match (chosen, max) {
                (Some(c), Some(m)) => format!("searched {t}: {offers}, best {c} within your {m}"),
                (Some(c), None) => format!("searched {t}: {offers}, best {c} selected"),
                _ => format!("searched {t}: {offers}, an offer selected"),
            }
        }
        _ if seen == 0 => format!("searched {t}: no offers"),
        _ => match (best, max) {
            (Some((b, bt)), Some(m)) if int(d, "max_total_minor").is_some_and(|mx| b > mx) => {
                format!("searched {t}: {offers}, best {bt} over your {m}")
            }
            (Some((_, bt)), _) => format!(
                "searched {t}: {offers}, best {bt}, none acceptable ({})",
                reason_text(reason)
            ),
            (None, _) => format!(
                "searched {t}: {offers}, none in {cur} ({})",
                reason_text(reason)
            ),
        },
    }
}

fn book_line(t: &str, decision: &str, reason: Option<&str>, d: &Value, currency: &str) -> String {
    let amount = int(d, "amount_minor").map(|a| money(a, text(d, "currency").unwrap_or(currency)));
    match decision {
        "attempt_started" => match int(d, "max_total_minor") {
            Some(m) => format!(
                "booking started {t}: at most {}",
                money(m, text(d, "currency").unwrap_or(currency))
            ),
            None => format!("booking started {t}"),
        },
        "booked" => {
            let flight = match (
                d.get("carriers")
                    .and_then(|c| c.get(0))
                    .and_then(Value::as_str),
                text(d, "departing_at").and_then(|s| s.get(11..16)),
            ) {
                (Some(c), Some(hm)) => format!("{c} {hm}, "),
                (Some(c), None) => format!("{c}, "),
                _ => String::new(),
            };
            let reference = text(d, "booking_reference")
                .map(|r| format!("reference {r}, "))
                .unwrap_or_default();
            match amount {
                Some(a) => format!("booked {t}: {flight}{reference}{a} charged once"),
                None => format!("booked {t}: {flight}{reference}charged once"),
            }
        }
        "needs_traveller" if reason == Some("awaiting_authentication") => format!(
            "payment needs you {t}: confirm it with your bank (3-D Secure); nothing is held until you do"
        ),
        "needs_traveller" => format!(
            "payment needs you {t}: {}; nothing charged",
            reason_text(reason)
        ),
        "search_again" => format!(
            "booking stopped {t}: {}; nothing charged, watching again",
            reason_text(reason)
        ),
        "fail" => format!(
            "could not book {t}: {}; nothing charged",
            reason_text(reason)
        ),
        other => format!(
            "booking {t}: {} ({})",
            other.replace('_', " "),
            reason_text(reason)
        ),
    }
}

fn traveller_line(
    t: &str,
    decision: &str,
    reason: Option<&str>,
    d: &Value,
    currency: &str,
) -> String {
    match decision {
        "paused" => format!("you paused auto-booking {t}"),
        "resumed" => format!("you resumed {t}"),
        "cancelled" if reason == Some("attempt_ended_unbooked") => {
            format!("cancelled {t}: the booking in flight ended without a booking; nothing charged")
        }
        "cancelled" => format!("you cancelled {t}: nothing will be charged"),
        "cancel_requested" => format!(
            "you asked to cancel {t} while a booking was in flight; it is let finish or release"
        ),
        "payment_confirmed" => {
            format!("you confirmed the payment {t}: the booking goes on with your authorization")
        }
        "card_changed" => {
            format!("you chose another card {t}: the payment waiting for you is cancelled first")
        }
        "criteria_changed" => {
            let mut parts = Vec::new();
            if let Some(m) = int(d, "max_total_minor") {
                parts.push(format!(
                    "maximum {}",
                    money(m, text(d, "currency").unwrap_or(currency))
                ));
            }
            if let Some(c) = text(d, "cabin") {
                parts.push(c.replace('_', " "));
            }
            if d.get("nonstop_only") == Some(&Value::Bool(true)) {
                parts.push("nonstop only".to_owned());
            }
            format!("you changed the watch {t}: {}", parts.join(", "))
        }
        other => format!("you {} {t}", other.replace('_', " ")),
    }
}

fn monitor_line(t: &str, decision: &str, reason: Option<&str>) -> String {
    match (decision, reason) {
        ("fail", Some("too_many_attempts")) => {
            format!("stopped {t}: too many booking attempts; nothing more will be tried")
        }
        ("expire" | "expired", _) => format!("expired {t}: {}", reason_text(reason)),
        ("wait", Some("auto_book_off")) => {
            format!("checked {t}: a price within your maximum, auto-booking is off")
        }
        ("book_blocked", _) => format!(
            "checked {t}: cannot book yet ({}); watching",
            reason_text(reason)
        ),
        _ => format!(
            "checked {t}: {} ({})",
            decision.replace('_', " "),
            reason_text(reason)
        ),
    }
}

/// Renders the events (`trips_get`'s `events`, oldest first) as timeline entries; `currency`
/// is the trip's, for amounts that do not name one.
pub fn render(events: &[Value], currency: &str) -> Vec<TimelineEntry> {
    events
        .iter()
        .map(|e| {
            let at = e["at"].as_str().unwrap_or("").to_owned();
            let stage = e["stage"].as_str().unwrap_or("").to_owned();
            let decision = e["decision"].as_str().unwrap_or("").to_owned();
            let reason = e["reason"].as_str().map(str::to_owned);
            let detail = e.get("detail").cloned().unwrap_or(Value::Null);
            let t = when(&at);
            let r = reason.as_deref();
            let text = match stage.as_str() {
                "search" => search_line(&t, &decision, r, &detail, currency),
                "book" => book_line(&t, &decision, r, &detail, currency),
                "traveller" => traveller_line(&t, &decision, r, &detail, currency),
                _ => monitor_line(&t, &decision, r),
            };
            TimelineEntry {
                at,
                stage,
                decision,
                reason,
                text,
            }
        })
        .collect()
}

/// Adds `best` (text) to each entry of a watch's `prices`, and `max` to the watch.
pub fn annotate_prices(watch: &mut Value) {
    let currency = watch["trip"]["currency"].as_str().unwrap_or("").to_owned();
    if let Some(max) = watch["trip"]["max_total_minor"].as_i64() {
        watch["max"] = Value::String(money(max, &currency));
    }
    if let Some(Value::Array(prices)) = watch.get_mut("prices") {
        for p in prices.iter_mut() {
            let cur = p["currency"].as_str().unwrap_or(&currency).to_owned();
            let best = p["best_total_minor"]
                .as_i64()
                .or(p["selected_total_minor"].as_i64());
            p["best"] = best.map_or(Value::Null, |b| Value::String(money(b, &cur)));
        }
    }
}
