//! The emails: one template per outbox `template`, rendered to a subject, an HTML part and a
//! plain-text part from the data `notify_claim` returns.
//!
//! A tiny renderer instead of a template crate: `Doc` takes static markup only as
//! `&'static str` (the template's own text, fixed at compile time) and every interpolated value
//! as `&str`, which it escapes for HTML (`& < > " '`) before it lands in the HTML part, and
//! strips of control characters in the text part and the subject. A value cannot reach the
//! output unescaped because there is no method that would take it raw. See `docs/contracts.md`
//! ("notify-dispatch") for why not askama.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::id::Uuid;
use crate::money::{Currency, Money};

/// A rendered email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// Subject line (one line, no control characters).
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
}

/// Why a notification could not be rendered (the notification ends `dead` with the code).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The outbox names a template the core does not know.
    #[error("unknown template")]
    UnknownTemplate,
    /// Data the template needs is missing (`booked` without a booking, …).
    #[error("the template's data is missing: {0}")]
    MissingData(&'static str),
    /// An amount or currency that cannot be shown.
    #[error("an amount cannot be shown")]
    BadAmount,
}

impl RenderError {
    /// Stable code: `unknown_template`, `missing_data` or `bad_amount`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTemplate => "unknown_template",
            Self::MissingData(_) => "missing_data",
            Self::BadAmount => "bad_amount",
        }
    }
}

crate::error::impl_error_code!(RenderError);

/// The trip as a template sees it.
#[derive(Clone, Debug, Deserialize)]
pub struct TripView {
    /// Trip id (for links).
    pub id: String,
    /// Origin IATA code.
    pub origin: String,
    /// Destination IATA code.
    pub destination: String,
    /// Outbound date.
    pub departure_date: String,
    /// Return date, if any.
    #[serde(default)]
    pub return_date: Option<String>,
    /// The traveller's maximum, minor units.
    pub max_total_minor: i64,
    /// The trip's currency.
    pub currency: String,
    /// Auto-booking on.
    #[serde(default)]
    pub auto_book: bool,
    /// Trip status now.
    #[serde(default)]
    pub status: Option<String>,
    /// Last error code on the trip (why it could not book, why it expired).
    #[serde(default)]
    pub last_error_code: Option<String>,
}

/// The selected (or booked) offer.
#[derive(Clone, Debug, Deserialize)]
pub struct OfferView {
    /// Local departure time (`2027-03-12T09:15:00`).
    pub departing_at: String,
    /// Local arrival time.
    pub arriving_at: String,
    /// Airline codes.
    #[serde(default)]
    pub carriers: Vec<String>,
    /// Stops on the longest slice.
    #[serde(default)]
    pub stops: i64,
}

/// The booking.
#[derive(Clone, Debug, Deserialize)]
pub struct BookingView {
    /// Airline booking reference.
    pub booking_reference: String,
    /// Amount charged, minor units.
    pub amount_minor: i64,
    /// Currency charged.
    pub currency: String,
}

/// A passenger's name.
#[derive(Clone, Debug, Deserialize)]
pub struct PassengerName {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
}

/// Everything a template may use.
#[derive(Clone, Debug)]
pub struct RenderInput<'a> {
    /// Outbox template name.
    pub template: &'a str,
    /// The trip.
    pub trip: &'a TripView,
    /// Its offer, if any.
    pub offer: Option<&'a OfferView>,
    /// Its booking, if any.
    pub booking: Option<&'a BookingView>,
    /// Passengers' names, in trip order.
    pub passengers: &'a [PassengerName],
    /// The notification's payload (price alert: `amount_minor`, `currency`, `target_minor`, and
    /// from the price history `previous_low_minor` and `previous_checks` when there were checks).
    pub payload: &'a Value,
    /// The frontend's base URL (`pipeline_settings.app_base_url`).
    pub app_base_url: &'a str,
}

/// An HTML part and a text part built side by side. Static markup is `&'static str`; values are
/// escaped (HTML) or cleaned (text) on the way in.
#[derive(Default)]
struct Doc {
    html: String,
    text: String,
}

/// Escapes `value` for HTML text and attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `value` on one line: control characters (CR, LF, …) become spaces, at most 200 characters.
pub fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// A piece of a paragraph: fixed template text, or a value.
enum Part<'a> {
    Lit(&'static str),
    Val(&'a str),
    Strong(&'a str),
}

impl Doc {
    fn heading(&mut self, parts: &[Part<'_>]) {
        self.html.push_str("<h1 style=\"font-size:20px\">");
        self.parts(parts);
        self.html.push_str("</h1>\n");
        self.text.push_str("\n\n");
    }

    fn para(&mut self, parts: &[Part<'_>]) {
        self.html.push_str("<p>");
        self.parts(parts);
        self.html.push_str("</p>\n");
        self.text.push_str("\n\n");
    }

    fn parts(&mut self, parts: &[Part<'_>]) {
        for part in parts {
            match part {
                Part::Lit(s) => {
                    self.html.push_str(s);
                    self.text.push_str(s);
                }
                Part::Val(v) => {
                    self.html.push_str(&escape_html(v));
                    self.text.push_str(&one_line(v));
                }
                Part::Strong(v) => {
                    self.html.push_str("<strong>");
                    self.html.push_str(&escape_html(v));
                    self.html.push_str("</strong>");
                    self.text.push_str(&one_line(v));
                }
            }
        }
    }

    fn list(&mut self, items: &[String]) {
        self.html.push_str("<ul>\n");
        for item in items {
            let _ = writeln!(self.html, "<li>{}</li>", escape_html(item));
            let _ = writeln!(self.text, "- {}", one_line(item));
        }
        self.html.push_str("</ul>\n");
        self.text.push('\n');
    }

    fn link(&mut self, label: &'static str, url: &str) {
        let _ = writeln!(
            self.html,
            "<p><a href=\"{}\">{}</a></p>",
            escape_html(url),
            label
        );
        let _ = write!(self.text, "{label}: {}\n\n", one_line(url));
    }

    fn finish(mut self, subject: String) -> Email {
        let html = format!(
            "<!doctype html>\n<html><body style=\"font-family:sans-serif\">\n{}<p style=\"color:#666\">Parker Flight</p>\n</body></html>\n",
            self.html
        );
        self.text.push_str("-- \nParker Flight\n");
        Email {
            subject: one_line(&subject),
            html,
            text: self.text.trim_start().to_owned(),
        }
    }
}

/// `GBP 412.40` from minor units and the currency's exponent.
pub fn format_money(amount_minor: i64, currency: &str) -> Result<String, RenderError> {
    let currency = Currency::parse(currency).map_err(|_| RenderError::BadAmount)?;
    let money = Money::from_minor(amount_minor, currency).map_err(|_| RenderError::BadAmount)?;
    Ok(format!("{} {}", currency.code(), money.to_decimal_string()))
}

/// `2027-03-12 09:15` from a local ISO date-time (`2027-03-12T09:15:00`).
fn local_time(value: &str) -> String {
    let cleaned: String = value.replace('T', " ");
    cleaned.get(..16).unwrap_or(&cleaned).to_owned()
}

fn route(trip: &TripView) -> String {
    format!("{} to {}", trip.origin, trip.destination)
}

/// The frontend link for the trip (`<base>/trips/<id><suffix>`), or `None` when the base URL is
/// not http(s) or the id is not a UUID.
fn trip_link(input: &RenderInput<'_>, suffix: &'static str) -> Option<String> {
    let base = input.app_base_url.trim_end_matches('/');
    let scheme_ok = base.starts_with("https://") || base.starts_with("http://");
    let id = Uuid::parse(&input.trip.id)?;
    (scheme_ok && !base.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then(|| format!("{base}/trips/{}{suffix}", id.as_str()))
}

/// Human text for a reason code on the trip; unknown codes get a generic sentence.
fn reason_text(code: Option<&str>) -> &'static str {
    match code.unwrap_or("") {
        "too_many_attempts" => "we tried several times and the booking did not go through",
        "offer_gone" | "offer_no_longer_available" => "the airline withdrew the fare",
        "price_changed" | "price_above_maximum" => "the price went above your maximum",
        "card_declined" | "payment_declined" => "your card was declined",
        "authentication_required" => "your bank asked you to confirm the payment",
        "departure_too_close" => "the departure is now too close to book",
        "departure_passed" => "the departure date has passed",
        "travelers_missing" => "the passengers' details are incomplete",
        "identity_document_missing" => "the airline needs a passport or ID for every passenger",
        "identity_document_expired" => "a passenger's passport or ID expires before the trip ends",
        "identity_document_unsupported" => {
            "the airline does not accept a passenger's document type"
        }
        "too_many_infants" => "each infant needs an adult travelling with them",
        "traveller_mismatch" => "the passengers on file do not match the trip's passengers",
        _ => "the airline or the payment provider refused the booking",
    }
}

/// Renders the email for `input.template`.
pub fn render(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    match input.template {
        "booked" => booked(input),
        "payment_needs_attention" => payment_needs_attention(input),
        "could_not_book" => could_not_book(input),
        "watch_expired" => watch_expired(input),
        "price_alert" => price_alert(input),
        "booking_under_review" => booking_under_review(input),
        "schedule_changed" => schedule_changed(input),
        _ => Err(RenderError::UnknownTemplate),
    }
}

fn booked(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    let booking = input.booking.ok_or(RenderError::MissingData("booking"))?;
    let trip = input.trip;
    let charged = format_money(booking.amount_minor, &booking.currency)?;
    let route = route(trip);
    let mut doc = Doc::default();
    doc.heading(&[Part::Lit("Your flight is booked: "), Part::Val(&route)]);
    doc.para(&[
        Part::Lit("Booking reference: "),
        Part::Strong(&booking.booking_reference),
    ]);
    let mut itinerary = Vec::new();
    match input.offer {
        Some(offer) => {
            itinerary.push(format!(
                "Departs {} {}, arrives {} {}",
                trip.origin,
                local_time(&offer.departing_at),
                trip.destination,
                local_time(&offer.arriving_at)
            ));
            let stops = match offer.stops {
                0 => "non-stop".to_owned(),
                1 => "1 stop".to_owned(),
                n => format!("{n} stops"),
            };
            itinerary.push(format!("{}, {stops}", offer.carriers.join(", ")));
        }
        None => itinerary.push(format!(
            "Departs {} on {}",
            trip.origin, trip.departure_date
        )),
    }
    if let Some(back) = &trip.return_date {
        itinerary.push(format!("Return on {back}"));
    }
    doc.para(&[Part::Lit("Itinerary:")]);
    doc.list(&itinerary);
    let names: Vec<String> = input
        .passengers
        .iter()
        .map(|p| format!("{} {}", p.given_name, p.family_name))
        .collect();
    if !names.is_empty() {
        doc.para(&[Part::Lit("Passengers:")]);
        doc.list(&names);
    }
    doc.para(&[
        Part::Lit("Charged: "),
        Part::Strong(&charged),
        Part::Lit(" (once, to your saved card)."),
    ]);
    if let Some(url) = trip_link(input, "") {
        doc.link("See your trip", &url);
    }
    Ok(doc.finish(format!(
        "Your flight is booked: {} ({})",
        booking.booking_reference, route
    )))
}

/// The booking codes for which the traveller must fix passenger details, not the payment (the
/// offer's passenger rules: infants, identity documents).
fn is_passenger_problem(code: Option<&str>) -> bool {
    matches!(
        code.unwrap_or(""),
        "identity_document_missing"
            | "identity_document_expired"
            | "identity_document_unsupported"
            | "too_many_infants"
            | "traveller_mismatch"
    )
}

/// `needs_traveller` for a passenger-rule refusal: nothing was authorized; ask for the details.
fn passenger_details_needed(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    let trip = input.trip;
    let route = route(trip);
    let mut doc = Doc::default();
    doc.heading(&[Part::Lit("Passenger details needed: "), Part::Val(&route)]);
    doc.para(&[
        Part::Lit("We found a fare for "),
        Part::Val(&route),
        Part::Lit(" on "),
        Part::Val(&trip.departure_date),
        Part::Lit(" but could not book it: "),
        Part::Lit(reason_text(trip.last_error_code.as_deref())),
        Part::Lit("."),
    ]);
    doc.para(&[Part::Lit(
        "What to do: open your trip and complete the passengers' details. Nothing is booked and \
         nothing was charged.",
    )]);
    if let Some(url) = trip_link(input, "/passengers") {
        doc.link("Complete the details", &url);
    }
    Ok(doc.finish(format!("Action needed: passenger details for {route}")))
}

fn payment_needs_attention(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    if is_passenger_problem(input.trip.last_error_code.as_deref()) {
        return passenger_details_needed(input);
    }
    let trip = input.trip;
    let route = route(trip);
    let mut doc = Doc::default();
    doc.heading(&[
        Part::Lit("Your payment needs attention: "),
        Part::Val(&route),
    ]);
    doc.para(&[
        Part::Lit("We found a fare for "),
        Part::Val(&route),
        Part::Lit(" on "),
        Part::Val(&trip.departure_date),
        Part::Lit(" but could not take the payment: "),
        Part::Lit(reason_text(trip.last_error_code.as_deref())),
        Part::Lit("."),
    ]);
    doc.para(&[Part::Lit(
        "What to do: open your trip and confirm the payment with your bank, or choose another card. \
         Nothing is booked and no money is taken until you do.",
    )]);
    if let Some(url) = trip_link(input, "/payment") {
        doc.link("Confirm the payment", &url);
    }
    Ok(doc.finish(format!("Action needed: confirm your payment for {route}")))
}

fn could_not_book(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    let trip = input.trip;
    let route = route(trip);
    let mut doc = Doc::default();
    doc.heading(&[Part::Lit("We could not book "), Part::Val(&route)]);
    if matches!(
        trip.last_error_code.as_deref(),
        Some("release_failed" | "captured_not_released")
    ) {
        // The saga gave up releasing the hold, or found it captured (docs/saga.md): it may still
        // show on the card or be taken, and an operator is alerted (`hold_not_released`,
        // `captured_not_released`). Never claim it is released.
        doc.para(&[Part::Lit(
            "Why: the booking did not go through, and we could not confirm that the payment \
             provider released the hold on your card. Our team has been alerted and will make sure \
             that any amount held or taken for this trip is returned to you.",
        )]);
    } else {
        doc.para(&[
            Part::Lit("Why: "),
            Part::Lit(reason_text(trip.last_error_code.as_deref())),
            Part::Lit(". Nothing was charged; any hold on your card is released."),
        ]);
    }
    let next: &'static str = match trip.status.as_deref() {
        Some("watching" | "searching") => {
            "What happens next: we keep watching the price and try again when a fare fits."
        }
        _ => "What happens next: this watch has stopped. You can start a new one at any time.",
    };
    doc.para(&[Part::Lit(next)]);
    if let Some(url) = trip_link(input, "") {
        doc.link("See your trip", &url);
    }
    Ok(doc.finish(format!("We could not book {route}")))
}

/// The monitor flagged a ticketed attempt for an operator (`monitor_flag_attempt`): the ticket
/// stands; the payment record is being put right by a person.
fn booking_under_review(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    let trip = input.trip;
    let route = route(trip);
    let mut doc = Doc::default();
    doc.heading(&[
        Part::Lit("Your booking is being checked: "),
        Part::Val(&route),
    ]);
    doc.para(&[
        Part::Lit("Your flight "),
        Part::Val(&route),
        Part::Lit(" on "),
        Part::Val(&trip.departure_date),
        Part::Lit(
            " was ticketed, but we could not finish recording it. A member of our team is \
             checking it now; you do not need to do anything, and you will not be charged twice.",
        ),
    ]);
    if let Some(url) = trip_link(input, "") {
        doc.link("See your trip", &url);
    }
    Ok(doc.finish(format!("We are checking your booking for {route}")))
}

/// Duffel reported an airline-initiated schedule change on the booking (`duffel-webhook`).
fn schedule_changed(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    let trip = input.trip;
    let route = route(trip);
    let mut doc = Doc::default();
    doc.heading(&[Part::Lit("Schedule change: "), Part::Val(&route)]);
    let mut parts = vec![
        Part::Lit("The airline changed the schedule of your booked flight "),
        Part::Val(&route),
        Part::Lit(" on "),
        Part::Val(&trip.departure_date),
        Part::Lit("."),
    ];
    if let Some(booking) = input.booking {
        parts.push(Part::Lit(" Booking reference: "));
        parts.push(Part::Strong(&booking.booking_reference));
        parts.push(Part::Lit("."));
    }
    doc.para(&parts);
    doc.para(&[Part::Lit(
        "Please check the new times in your trip. If they do not suit you, contact us and we \
         will help with the airline's options.",
    )]);
    if let Some(url) = trip_link(input, "") {
        doc.link("See your trip", &url);
    }
    Ok(doc.finish(format!("Schedule change for your flight {route}")))
}

fn watch_expired(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    let trip = input.trip;
    let route = route(trip);
    let reason = input
        .payload
        .get("reason")
        .and_then(Value::as_str)
        .or(trip.last_error_code.as_deref());
    let mut doc = Doc::default();
    doc.heading(&[Part::Lit("Your watch has ended: "), Part::Val(&route)]);
    doc.para(&[
        Part::Lit("We stopped watching "),
        Part::Val(&route),
        Part::Lit(" on "),
        Part::Val(&trip.departure_date),
        Part::Lit(": "),
        Part::Lit(reason_text(reason)),
        Part::Lit(". No booking was made and nothing was charged."),
    ]);
    if let Some(url) = trip_link(input, "") {
        doc.link("See your trip", &url);
    }
    Ok(doc.finish(format!(
        "Your watch for {route} on {} has ended",
        trip.departure_date
    )))
}

fn price_alert(input: &RenderInput<'_>) -> Result<Email, RenderError> {
    let trip = input.trip;
    let route = route(trip);
    let amount = input
        .payload
        .get("amount_minor")
        .and_then(Value::as_i64)
        .ok_or(RenderError::MissingData("payload.amount_minor"))?;
    let currency = input
        .payload
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or(&trip.currency);
    let target = input
        .payload
        .get("target_minor")
        .and_then(Value::as_i64)
        .unwrap_or(trip.max_total_minor);
    let price = format_money(amount, currency)?;
    let target = format_money(target, currency)?;
    let mut doc = Doc::default();
    doc.heading(&[Part::Lit("Price alert: "), Part::Val(&route)]);
    doc.para(&[
        Part::Val(&route),
        Part::Lit(" on "),
        Part::Val(&trip.departure_date),
        Part::Lit(" is now "),
        Part::Strong(&price),
        Part::Lit(", within your target of "),
        Part::Val(&target),
        Part::Lit("."),
    ]);
    // The trip's price history (price_history, written for every search): the lowest best price
    // before this one and how many checks it covers.
    let previous_low = input
        .payload
        .get("previous_low_minor")
        .and_then(Value::as_i64);
    let checks = input.payload.get("previous_checks").and_then(Value::as_i64);
    if let (Some(low), Some(checks)) = (previous_low, checks.filter(|n| *n > 0)) {
        let low = format_money(low, currency)?;
        let checks = checks.to_string();
        let unit = if checks == "1" { " check" } else { " checks" };
        doc.para(&[
            Part::Lit("Lowest price before this one, over "),
            Part::Val(&checks),
            Part::Lit(unit),
            Part::Lit(": "),
            Part::Val(&low),
            Part::Lit("."),
        ]);
    }
    let next: &'static str = if trip.auto_book {
        "Auto-booking is on: we book it for you if the fare is still available."
    } else {
        "Fares change quickly: open your trip to book it."
    };
    doc.para(&[Part::Lit(next)]);
    if let Some(url) = trip_link(input, "") {
        doc.link("See your trip", &url);
    }
    Ok(doc.finish(format!("Price alert: {route} now {price}")))
}
