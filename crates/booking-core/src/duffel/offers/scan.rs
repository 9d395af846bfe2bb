//! One pass over a search answer (the hot path): `jiter` pulls the envelope and every offer's
//! fields the rules read, skips everything else without building it, and remembers where each
//! offer's JSON text starts and ends, so the raw text of the offers the search keeps is a slice
//! of the body, never re-parsed or re-serialised.
//!
//! The shape rules are those of the serde types in `offers.rs` (required fields, `null` or absent
//! for the optional ones, a repeated known key refused): an offer that breaks them is one
//! malformed offer, consumed to its end so the rest of the answer still reads. Broken JSON
//! anywhere is the whole answer's error, as before.

use std::borrow::Cow;

use jiter::{Jiter, JiterError, Peek};
use serde::de::IgnoredAny;

use super::{WireCarrier, WireOffer, WirePassenger, WireSegment, WireSlice};

/// The answer: `data.id` and, per offer in order, its wire fields or why they are unreadable,
/// with the offer's byte range in the body.
pub(super) struct Scanned {
    pub(super) id: String,
    pub(super) offers: Vec<(Result<WireOffer<'static>, String>, (usize, usize))>,
}

/// Why the whole answer is unreadable.
pub(super) enum ScanError {
    /// Not JSON (jiter's message, with a position).
    Json(String),
    /// JSON, but not `{"data":{"id":string,"offers":[...]}}`.
    Envelope(&'static str),
}

impl From<JiterError> for ScanError {
    fn from(e: JiterError) -> Self {
        Self::Json(e.to_string().chars().take(160).collect())
    }
}

type Res<T> = Result<T, ScanError>;

/// A shape error inside one offer: recorded, the value consumed anyway.
struct Shape(String);

/// Reads the answer in one pass. The body must be UTF-8 (checked by the caller).
pub(super) fn scan(body: &[u8]) -> Res<Scanned> {
    let mut j = Jiter::new(body);
    let mut data = None;
    let mut key = match j.peek()? {
        Peek::Object => j.known_object()?.map(str::to_owned),
        other => {
            j.known_skip(other)?;
            return Err(ScanError::Envelope("the answer is not an object"));
        }
    };
    while let Some(k) = key {
        if k == "data" {
            if data.is_some() {
                return Err(ScanError::Envelope("duplicate field `data`"));
            }
            data = Some(scan_data(&mut j)?);
        } else {
            j.next_skip()?;
        }
        key = j.next_key()?.map(str::to_owned);
    }
    j.finish()?;
    data.ok_or(ScanError::Envelope("missing field `data`"))
}

fn scan_data(j: &mut Jiter<'_>) -> Res<Scanned> {
    let (mut id, mut offers) = (None, None);
    let mut key = match j.peek()? {
        Peek::Object => j.known_object()?.map(str::to_owned),
        _ => return Err(ScanError::Envelope("`data` is not an object")),
    };
    while let Some(k) = key {
        match k.as_str() {
            "id" if id.is_none() => match j.peek()? {
                Peek::String => id = Some(j.known_str()?.to_owned()),
                _ => return Err(ScanError::Envelope("`data.id` is not a string")),
            },
            "offers" if offers.is_none() => offers = Some(scan_offers(j)?),
            "id" | "offers" => return Err(ScanError::Envelope("duplicate field in `data`")),
            _ => j.next_skip()?,
        }
        key = j.next_key()?.map(str::to_owned);
    }
    match (id, offers) {
        (Some(id), Some(offers)) => Ok(Scanned { id, offers }),
        (None, _) => Err(ScanError::Envelope("missing field `id`")),
        (_, None) => Err(ScanError::Envelope("missing field `offers`")),
    }
}

type Offers = Vec<(Result<WireOffer<'static>, String>, (usize, usize))>;

fn scan_offers(j: &mut Jiter<'_>) -> Res<Offers> {
    let mut out = Vec::new();
    let mut next = match j.peek()? {
        Peek::Array => j.known_array()?,
        _ => return Err(ScanError::Envelope("`data.offers` is not an array")),
    };
    while let Some(peek) = next {
        let start = j.current_index();
        let offer = each(j, peek, offer)?;
        out.push((offer.map_err(|Shape(m)| m), (start, j.current_index())));
        next = j.array_step()?;
    }
    Ok(out)
}

/// Runs `read` on an object value, or consumes a non-object as a shape error.
fn each<T>(
    j: &mut Jiter<'_>,
    peek: Peek,
    read: impl FnOnce(&mut Jiter<'_>) -> Res<Result<T, Shape>>,
) -> Res<Result<T, Shape>> {
    if peek == Peek::Object {
        read(j)
    } else {
        j.known_skip(peek)?;
        Ok(Err(Shape("invalid type: expected an object".into())))
    }
}

/// Walks an object's keys, giving each one's index in `names` (or `names.len()` for any other
/// key, without copying it) to `field`; the first shape error wins, every value is consumed.
fn object(
    j: &mut Jiter<'_>,
    names: &[&str],
    mut field: impl FnMut(&mut Jiter<'_>, usize) -> Res<Result<(), Shape>>,
) -> Res<Result<(), Shape>> {
    let find = |k: &str| names.iter().position(|n| *n == k).unwrap_or(names.len());
    let mut first: Result<(), Shape> = Ok(());
    let mut key = j.known_object()?.map(find);
    while let Some(k) = key {
        let r = if k == names.len() {
            j.next_skip()?;
            Ok(())
        } else {
            field(j, k)?
        };
        if first.is_ok() {
            first = r;
        }
        key = j.next_key()?.map(find);
    }
    Ok(first)
}

/// A required string field, set once.
fn string(j: &mut Jiter<'_>, slot: &mut Option<String>, name: &str) -> Res<Result<(), Shape>> {
    if slot.is_some() {
        j.next_skip()?;
        return Ok(Err(Shape(format!("duplicate field `{name}`"))));
    }
    match j.peek()? {
        Peek::String => {
            *slot = Some(j.known_str()?.to_owned());
            Ok(Ok(()))
        }
        other => {
            j.known_skip(other)?;
            Ok(Err(Shape(format!(
                "invalid type for `{name}`: expected a string"
            ))))
        }
    }
}

/// An optional string field (`null` is absent), set once.
fn opt_string(
    j: &mut Jiter<'_>,
    slot: &mut Option<Option<String>>,
    name: &str,
) -> Res<Result<(), Shape>> {
    if slot.is_some() {
        j.next_skip()?;
        return Ok(Err(Shape(format!("duplicate field `{name}`"))));
    }
    match j.peek()? {
        Peek::Null => {
            j.known_null()?;
            *slot = Some(None);
            Ok(Ok(()))
        }
        Peek::String => {
            *slot = Some(Some(j.known_str()?.to_owned()));
            Ok(Ok(()))
        }
        other => {
            j.known_skip(other)?;
            Ok(Err(Shape(format!(
                "invalid type for `{name}`: expected a string"
            ))))
        }
    }
}

/// An array field read element by element with `read`; `optional` allows `null`.
#[allow(clippy::type_complexity)]
fn array<T>(
    j: &mut Jiter<'_>,
    slot: &mut Option<Option<Vec<T>>>,
    name: &str,
    optional: bool,
    mut read: impl FnMut(&mut Jiter<'_>, Peek) -> Res<Result<T, Shape>>,
) -> Res<Result<(), Shape>> {
    if slot.is_some() {
        j.next_skip()?;
        return Ok(Err(Shape(format!("duplicate field `{name}`"))));
    }
    match j.peek()? {
        Peek::Null if optional => {
            j.known_null()?;
            *slot = Some(None);
            Ok(Ok(()))
        }
        Peek::Array => {
            let mut items = Vec::new();
            let mut first: Result<(), Shape> = Ok(());
            let mut next = j.known_array()?;
            while let Some(peek) = next {
                match read(j, peek)? {
                    Ok(item) => items.push(item),
                    Err(e) if first.is_ok() => first = Err(e),
                    Err(_) => {}
                }
                next = j.array_step()?;
            }
            *slot = Some(Some(items));
            Ok(first)
        }
        other => {
            j.known_skip(other)?;
            Ok(Err(Shape(format!(
                "invalid type for `{name}`: expected an array"
            ))))
        }
    }
}

fn missing<T>(value: Option<T>, name: &str) -> Result<T, Shape> {
    value.ok_or_else(|| Shape(format!("missing field `{name}`")))
}

fn owned(text: String) -> Cow<'static, str> {
    Cow::Owned(text)
}

fn offer(j: &mut Jiter<'_>) -> Res<Result<WireOffer<'static>, Shape>> {
    let (mut id, mut amount, mut currency, mut expires) = (None, None, None, None);
    let mut slices = None;
    const NAMES: [&str; 5] = [
        "id",
        "total_amount",
        "total_currency",
        "expires_at",
        "slices",
    ];
    let shape = object(j, &NAMES, |j, k| match k {
        0 => string(j, &mut id, NAMES[k]),
        1 => string(j, &mut amount, NAMES[k]),
        2 => string(j, &mut currency, NAMES[k]),
        3 => string(j, &mut expires, NAMES[k]),
        _ => array(j, &mut slices, NAMES[k], false, |j, p| each(j, p, slice)),
    })?;
    Ok(shape.and_then(|()| {
        Ok(WireOffer {
            id: owned(missing(id, "id")?),
            total_amount: owned(missing(amount, "total_amount")?),
            total_currency: owned(missing(currency, "total_currency")?),
            expires_at: owned(missing(expires, "expires_at")?),
            slices: missing(slices.flatten(), "slices")?,
        })
    }))
}

fn slice(j: &mut Jiter<'_>) -> Res<Result<WireSlice<'static>, Shape>> {
    let (mut duration, mut segments) = (None, None);
    const NAMES: [&str; 2] = ["duration", "segments"];
    let shape = object(j, &NAMES, |j, k| match k {
        0 => opt_string(j, &mut duration, NAMES[k]),
        _ => array(j, &mut segments, NAMES[k], false, |j, p| {
            each(j, p, segment)
        }),
    })?;
    Ok(shape.and_then(|()| {
        Ok(WireSlice {
            duration: duration.flatten().map(owned),
            segments: missing(segments.flatten(), "segments")?,
        })
    }))
}

fn segment(j: &mut Jiter<'_>) -> Res<Result<WireSegment<'static>, Shape>> {
    let (mut departing, mut arriving, mut carrier) = (None, None, None);
    let (mut stops, mut passengers) = (None, None);
    const NAMES: [&str; 5] = [
        "departing_at",
        "arriving_at",
        "marketing_carrier",
        "stops",
        "passengers",
    ];
    let shape = object(j, &NAMES, |j, k| match k {
        0 => string(j, &mut departing, NAMES[k]),
        1 => string(j, &mut arriving, NAMES[k]),
        2 => {
            if carrier.is_some() {
                j.next_skip()?;
                return Ok(Err(Shape("duplicate field `marketing_carrier`".into())));
            }
            let peek = j.peek()?;
            let read = each(j, peek, |j| {
                let mut code = None;
                let shape = object(j, &["iata_code"], |j, _| {
                    opt_string(j, &mut code, "iata_code")
                })?;
                Ok(shape.map(|()| WireCarrier {
                    iata_code: code.flatten().map(owned),
                }))
            })?;
            Ok(read.map(|c| carrier = Some(c)))
        }
        3 => array(j, &mut stops, NAMES[k], true, |j, p| {
            j.known_skip(p)?;
            Ok(Ok(IgnoredAny))
        }),
        _ => array(j, &mut passengers, NAMES[k], true, |j, p| {
            each(j, p, |j| {
                let mut cabin = None;
                let shape = object(j, &["cabin_class"], |j, _| {
                    opt_string(j, &mut cabin, "cabin_class")
                })?;
                Ok(shape.map(|()| WirePassenger {
                    cabin_class: cabin.flatten().map(owned),
                }))
            })
        }),
    })?;
    Ok(shape.and_then(|()| {
        Ok(WireSegment {
            departing_at: owned(missing(departing, "departing_at")?),
            arriving_at: owned(missing(arriving, "arriving_at")?),
            marketing_carrier: missing(carrier, "marketing_carrier")?,
            stops: stops.flatten(),
            passengers: passengers.flatten(),
        })
    }))
}
