//! One pass over a search answer (the hot path): the strict cursor of `lex.rs` pulls the
//! envelope and every offer's fields the rules read (borrowed from the body), skips everything
//! else without building it, and remembers where each offer's JSON text starts and ends, so the
//! raw text of the offers the search keeps is a slice of the body, never re-parsed or
//! re-serialised.
//!
//! The shape rules are those of the serde types in `offers.rs` (required fields, `null` or absent
//! for the optional ones, a repeated known key refused): an offer that breaks them is one
//! malformed offer, consumed to its end so the rest of the answer still reads. Broken JSON
//! anywhere is the whole answer's error, as before.

use std::borrow::Cow;

use serde::de::IgnoredAny;

use super::lex::{Cursor, JsonError, Key};
use super::{WireCarrier, WireOffer, WirePassenger, WireSegment, WireSlice};

/// The answer: `data.id` and, per offer in order, its wire fields or why they are unreadable,
/// with the offer's byte range in the body.
pub(super) struct Scanned<'a> {
    pub(super) id: String,
    pub(super) offers: Offers<'a>,
}

/// Why the whole answer is unreadable.
pub(super) enum ScanError {
    /// Not JSON (what was expected, with a byte position).
    Json(String),
    /// JSON, but not `{"data":{"id":string,"offers":[...]}}`.
    Envelope(&'static str),
}

impl From<JsonError> for ScanError {
    fn from(e: JsonError) -> Self {
        Self::Json(e.to_string())
    }
}

type Res<T> = Result<T, ScanError>;

/// A shape error inside one offer: recorded, the value consumed anyway.
struct Shape(String);

/// Reads the answer in one pass.
pub(super) fn scan(b: &[u8]) -> Res<Scanned<'_>> {
    let mut j = Cursor::over(b);
    let mut data = None;
    let mut key = match j.peek()? {
        b'{' => j.object_first()?,
        _ => {
            j.skip()?;
            j.finish()?;
            return Err(ScanError::Envelope("the answer is not an object"));
        }
    };
    while let Some(k) = key {
        if *k == *b"data" {
            if data.is_some() {
                return Err(ScanError::Envelope("duplicate field `data`"));
            }
            data = Some(scan_data(&mut j)?);
        } else {
            j.skip()?;
        }
        key = j.object_next()?;
    }
    j.finish()?;
    data.ok_or(ScanError::Envelope("missing field `data`"))
}

fn scan_data<'a>(j: &mut Cursor<'a>) -> Res<Scanned<'a>> {
    let (mut id, mut offers) = (None, None);
    let mut key = match j.peek()? {
        b'{' => j.object_first()?,
        _ => return Err(ScanError::Envelope("`data` is not an object")),
    };
    while let Some(k) = key {
        match &*k {
            b"id" if id.is_none() => match j.peek()? {
                b'"' => id = Some(j.string()?.into_owned()),
                _ => return Err(ScanError::Envelope("`data.id` is not a string")),
            },
            b"offers" if offers.is_none() => offers = Some(scan_offers(j)?),
            b"id" | b"offers" => return Err(ScanError::Envelope("duplicate field in `data`")),
            _ => j.skip()?,
        }
        key = j.object_next()?;
    }
    match (id, offers) {
        (Some(id), Some(offers)) => Ok(Scanned { id, offers }),
        (None, _) => Err(ScanError::Envelope("missing field `id`")),
        (_, None) => Err(ScanError::Envelope("missing field `offers`")),
    }
}

pub(super) type Offers<'a> = Vec<(Result<WireOffer<'a>, String>, (usize, usize))>;

fn scan_offers<'a>(j: &mut Cursor<'a>) -> Res<Offers<'a>> {
    let mut out = Vec::new();
    let mut next = match j.peek()? {
        b'[' => j.array_first()?,
        _ => return Err(ScanError::Envelope("`data.offers` is not an array")),
    };
    while let Some(peek) = next {
        let start = j.index();
        let offer = each(j, peek, offer)?;
        out.push((offer.map_err(|Shape(m)| m), (start, j.index())));
        next = j.array_next()?;
    }
    Ok(out)
}

/// Runs `read` on an object value, or consumes a non-object as a shape error.
fn each<'a, T>(
    j: &mut Cursor<'a>,
    peek: u8,
    read: impl FnOnce(&mut Cursor<'a>) -> Res<Result<T, Shape>>,
) -> Res<Result<T, Shape>> {
    if peek == b'{' {
        read(j)
    } else {
        j.skip()?;
        Ok(Err(Shape("invalid type: expected an object".into())))
    }
}

/// Walks an object's keys, giving each one's index in `names` (or `names.len()` for any other
/// key, compared as bytes of the body, never copied) to `field`; the first shape error wins,
/// every value is consumed.
fn object<'a>(
    j: &mut Cursor<'a>,
    names: &[&str],
    mut field: impl FnMut(&mut Cursor<'a>, usize) -> Res<Result<(), Shape>>,
) -> Res<Result<(), Shape>> {
    let find = |k: Option<Key<'_>>| {
        k.map(|k| {
            names
                .iter()
                .position(|n| n.as_bytes() == &*k)
                .unwrap_or(names.len())
        })
    };
    let mut first: Result<(), Shape> = Ok(());
    let mut key = find(j.object_first()?);
    while let Some(k) = key {
        let r = if k == names.len() {
            j.skip()?;
            Ok(())
        } else {
            field(j, k)?
        };
        if first.is_ok() {
            first = r;
        }
        key = find(j.object_next()?);
    }
    Ok(first)
}

fn duplicate(j: &mut Cursor<'_>, name: &str) -> Res<Result<(), Shape>> {
    j.skip()?;
    Ok(Err(Shape(format!("duplicate field `{name}`"))))
}

fn wrong_type(j: &mut Cursor<'_>, name: &str, expected: &str) -> Res<Result<(), Shape>> {
    j.skip()?;
    Ok(Err(Shape(format!(
        "invalid type for `{name}`: expected {expected}"
    ))))
}

/// A required string field, set once.
fn string<'a>(
    j: &mut Cursor<'a>,
    slot: &mut Option<Cow<'a, str>>,
    name: &str,
) -> Res<Result<(), Shape>> {
    if slot.is_some() {
        return duplicate(j, name);
    }
    match j.peek()? {
        b'"' => {
            *slot = Some(j.string()?);
            Ok(Ok(()))
        }
        _ => wrong_type(j, name, "a string"),
    }
}

/// An optional string field (`null` is absent), set once.
fn opt_string<'a>(
    j: &mut Cursor<'a>,
    slot: &mut Option<Option<Cow<'a, str>>>,
    name: &str,
) -> Res<Result<(), Shape>> {
    if slot.is_some() {
        return duplicate(j, name);
    }
    match j.peek()? {
        b'n' => {
            j.null()?;
            *slot = Some(None);
            Ok(Ok(()))
        }
        b'"' => {
            *slot = Some(Some(j.string()?));
            Ok(Ok(()))
        }
        _ => wrong_type(j, name, "a string"),
    }
}

/// An array field read element by element with `read`; `optional` allows `null`.
#[allow(clippy::type_complexity)]
fn array<'a, T>(
    j: &mut Cursor<'a>,
    slot: &mut Option<Option<Vec<T>>>,
    name: &str,
    optional: bool,
    mut read: impl FnMut(&mut Cursor<'a>, u8) -> Res<Result<T, Shape>>,
) -> Res<Result<(), Shape>> {
    if slot.is_some() {
        return duplicate(j, name);
    }
    match j.peek()? {
        b'n' if optional => {
            j.null()?;
            *slot = Some(None);
            Ok(Ok(()))
        }
        b'[' => {
            let mut items = Vec::new();
            let mut first: Result<(), Shape> = Ok(());
            let mut next = j.array_first()?;
            while let Some(peek) = next {
                match read(j, peek)? {
                    Ok(item) => items.push(item),
                    Err(e) if first.is_ok() => first = Err(e),
                    Err(_) => {}
                }
                next = j.array_next()?;
            }
            *slot = Some(Some(items));
            Ok(first)
        }
        _ => wrong_type(j, name, "an array"),
    }
}

fn missing<T>(value: Option<T>, name: &str) -> Result<T, Shape> {
    value.ok_or_else(|| Shape(format!("missing field `{name}`")))
}

fn offer<'a>(j: &mut Cursor<'a>) -> Res<Result<WireOffer<'a>, Shape>> {
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
            id: missing(id, "id")?,
            total_amount: missing(amount, "total_amount")?,
            total_currency: missing(currency, "total_currency")?,
            expires_at: missing(expires, "expires_at")?,
            slices: missing(slices.flatten(), "slices")?,
        })
    }))
}

fn slice<'a>(j: &mut Cursor<'a>) -> Res<Result<WireSlice<'a>, Shape>> {
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
            duration: duration.flatten(),
            segments: missing(segments.flatten(), "segments")?,
        })
    }))
}

fn segment<'a>(j: &mut Cursor<'a>) -> Res<Result<WireSegment<'a>, Shape>> {
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
                return duplicate(j, "marketing_carrier");
            }
            let peek = j.peek()?;
            let read = each(j, peek, |j| {
                let mut code = None;
                let shape = object(j, &["iata_code"], |j, _| {
                    opt_string(j, &mut code, "iata_code")
                })?;
                Ok(shape.map(|()| WireCarrier {
                    iata_code: code.flatten(),
                }))
            })?;
            Ok(read.map(|c| carrier = Some(c)))
        }
        3 => array(j, &mut stops, NAMES[k], true, |j, _| {
            j.skip()?;
            Ok(Ok(IgnoredAny))
        }),
        _ => array(j, &mut passengers, NAMES[k], true, |j, p| {
            each(j, p, |j| {
                let mut cabin = None;
                let shape = object(j, &["cabin_class"], |j, _| {
                    opt_string(j, &mut cabin, "cabin_class")
                })?;
                Ok(shape.map(|()| WirePassenger {
                    cabin_class: cabin.flatten(),
                }))
            })
        }),
    })?;
    Ok(shape.and_then(|()| {
        Ok(WireSegment {
            departing_at: missing(departing, "departing_at")?,
            arriving_at: missing(arriving, "arriving_at")?,
            marketing_carrier: missing(carrier, "marketing_carrier")?,
            stops: stops.flatten(),
            passengers: passengers.flatten(),
        })
    }))
}
