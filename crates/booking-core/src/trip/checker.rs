//! Field-by-field checks that collect every [`FieldError`] instead of stopping at the first.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::FieldError;
use crate::iata::IataCode;

/// Collects field errors.
#[derive(Default)]
pub(super) struct Checker {
    pub(super) errors: Vec<FieldError>,
}

impl Checker {
    pub(super) fn fail(&mut self, field: &str, code: &'static str, message: &str) {
        self.errors.push(FieldError {
            field: field.chars().take(64).collect(),
            code,
            message: message.to_owned(),
        });
    }

    /// The field's value when present and not null; records `required` otherwise.
    pub(super) fn required<'v>(
        &mut self,
        object: &'v Map<String, Value>,
        field: &str,
    ) -> Option<&'v Value> {
        match object.get(field) {
            None | Some(Value::Null) => {
                self.fail(field, "required", "this field is required");
                None
            }
            Some(value) => Some(value),
        }
    }

    pub(super) fn string<'v>(&mut self, field: &str, value: &'v Value) -> Option<&'v str> {
        let text = value.as_str();
        if text.is_none() {
            self.fail(field, "invalid_type", "expected a string");
        }
        text
    }

    /// An integer within `min..=max`.
    pub(super) fn integer(
        &mut self,
        field: &str,
        value: &Value,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Some(i),
                _ => {
                    let message = format!("must be between {min} and {max}");
                    self.fail(field, "out_of_range", &message);
                    None
                }
            },
            Value::Number(_) => {
                self.fail(field, "not_an_integer", "expected a whole number");
                None
            }
            _ => {
                self.fail(field, "invalid_type", "expected a number");
                None
            }
        }
    }

    /// An optional boolean; missing or null is `false`.
    pub(super) fn flag(&mut self, object: &Map<String, Value>, field: &str) -> bool {
        match object.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.fail(field, "invalid_type", "expected true or false");
                false
            }
        }
    }

    pub(super) fn iata(&mut self, object: &Map<String, Value>, field: &str) -> Option<IataCode> {
        let text = self
            .required(object, field)
            .and_then(|v| self.string(field, v))?;
        let code = IataCode::parse(text).ok();
        if code.is_none() {
            self.fail(
                field,
                "invalid_iata",
                "expected a three-letter upper-case IATA code",
            );
        }
        code
    }

    pub(super) fn date(&mut self, field: &str, value: &Value) -> Option<NaiveDate> {
        let date = parse_iso_date(self.string(field, value)?);
        if date.is_none() {
            self.fail(
                field,
                "invalid_date",
                "expected an existing date as YYYY-MM-DD",
            );
        }
        date
    }
}

/// Parses exactly `YYYY-MM-DD` (four-digit year, zero-padded month and day) into an existing date.
pub fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}
