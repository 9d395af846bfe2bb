//! A traveller profile's rules: what airlines accept (Duffel's order passenger,
//! `reference/contracts-providers.md` §1.5) and the ages a trip's passenger slots need.
//!
//! | field | rule | codes |
//! | --- | --- | --- |
//! | `title` | `mr`, `ms`, `mrs`, `miss`, `dr` | `invalid_title` |
//! | `gender` | `m`, `f` | `invalid_gender` |
//! | `given_name`, `family_name` | 1-20 characters: space, `-`, `'` and letters of ASCII, Latin-1 Supplement and Latin Extended-A, except `Æ æ Ĳ ĳ Œ œ Þ þ Ð ð` (Duffel: "All other characters will result in a validation error"); a letter first | `invalid_name`, `name_too_long` |
//! | `born_on` | an existing `YYYY-MM-DD`, not after today, at most 120 years ago | `invalid_date`, `born_in_future`, `born_too_long_ago` |
//! | `email` | `local@domain`, at most 254 bytes, local part 1-64 printable ASCII without spaces, domain of dot-separated labels of letters, digits and `-` with a dot | `invalid_email` |
//! | `phone_number` | E.164: `+`, a non-zero digit, 7-15 digits in all | `invalid_phone` |
//! | `identity_document` | absent, null, or `{type, unique_identifier, issuing_country_code, expires_on}` (type `passport`, `tax_id`, `known_traveler_number`, `passenger_redress_number`; 1-32 letters or digits; ISO 3166-1 alpha-2; a date not before today) | `invalid_document_type`, `invalid_document_number`, `invalid_country`, `invalid_date`, `document_expired` |
//!
//! Messages never echo the submitted value (it is personal data).
//!
//! Ages on attaching ([`check_ages`]): the age on the trip's last travel date (the return date,
//! else the departure date; Duffel checks `born_on` against the age searched for "at the last
//! slice") is at least 18 for an adult slot and equals the searched age for a child slot.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::trip::{parse_iso_date, FieldError};

/// Longest given or family name Duffel accepts.
pub const MAX_NAME_CHARS: usize = 20;
/// Age from which a passenger is an adult.
pub const ADULT_AGE: u32 = 18;

const TITLES: [&str; 5] = ["mr", "ms", "mrs", "miss", "dr"];
const DOCUMENT_TYPES: [&str; 4] = [
    "passport",
    "tax_id",
    "known_traveler_number",
    "passenger_redress_number",
];
const FIELDS: [&str; 8] = [
    "title",
    "gender",
    "given_name",
    "family_name",
    "born_on",
    "email",
    "phone_number",
    "identity_document",
];

/// A validated profile; serialises to what `app.travelers_create` / `_update` store (with the
/// passenger type derived from the age today). Personal data: `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// `mr`, `ms`, `mrs`, `miss` or `dr`.
    pub title: String,
    /// `m` or `f`.
    pub gender: String,
    /// Given name, as the airline will print it.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Birth date.
    pub born_on: NaiveDate,
    /// Contact email.
    pub email: String,
    /// E.164 phone number.
    pub phone_number: String,
    /// `adult`, `child` or `infant_without_seat`, by the age today (informational).
    pub passenger_type: &'static str,
    /// Optional identity document (`null` when none).
    pub identity_document: Option<Document>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("passenger_type", &self.passenger_type)
            .finish_non_exhaustive()
    }
}

/// An identity document as stored (`travelers.identity_document`).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    /// Document type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Number.
    pub unique_identifier: String,
    /// Issuing country.
    pub issuing_country_code: String,
    /// Expiry date.
    pub expires_on: NaiveDate,
}

/// Whether `c` may appear in a name Duffel accepts.
pub fn name_char_allowed(c: char) -> bool {
    if c.is_ascii_alphabetic() || matches!(c, ' ' | '-' | '\'') {
        return true;
    }
    let code = u32::from(c);
    let latin1_letter = (0xC0..=0xFF).contains(&code) && code != 0xD7 && code != 0xF7;
    let extended_a = (0x100..=0x17F).contains(&code);
    let excluded = matches!(c, 'Æ' | 'æ' | 'Ĳ' | 'ĳ' | 'Œ' | 'œ' | 'Þ' | 'þ' | 'Ð' | 'ð');
    (latin1_letter || extended_a) && !excluded
}

/// A name's problem, if any: `invalid_name` or `name_too_long`.
pub fn name_problem(name: &str) -> Option<(&'static str, &'static str)> {
    let count = name.chars().count();
    if count == 0 || !name.chars().next().is_some_and(|c| c.is_alphabetic()) {
        return Some(("invalid_name", "must start with a letter"));
    }
    if count > MAX_NAME_CHARS {
        return Some(("name_too_long", "at most 20 characters"));
    }
    if !name.chars().all(name_char_allowed) {
        return Some((
            "invalid_name",
            "only letters of the Latin alphabet (with accents), spaces, hyphens and apostrophes",
        ));
    }
    None
}

/// Whether `phone` is E.164 (`+`, a non-zero first digit, 7 to 15 digits).
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Whether `email` is a plausible address (see the module table).
pub fn is_email(email: &str) -> bool {
    if email.len() > 254 {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && local.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'@' | b'"'
                        | b'('
                        | b')'
                        | b','
                        | b':'
                        | b';'
                        | b'<'
                        | b'>'
                        | b'['
                        | b'\\'
                        | b']'
                )
        })
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    local_ok && domain_ok
}

/// Whole years from `born` to `on` (negative when `on` is before `born`).
pub fn age_on(born: NaiveDate, on: NaiveDate) -> i64 {
    let mut years = i64::from(on.year()) - i64::from(born.year());
    if (on.month(), on.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    years
}

fn passenger_type(age: i64) -> &'static str {
    match age {
        a if a < 2 => "infant_without_seat",
        a if a < i64::from(ADULT_AGE) => "child",
        _ => "adult",
    }
}

struct Errors<'p> {
    prefix: &'p str,
    list: Vec<FieldError>,
}

impl Errors<'_> {
    fn fail(&mut self, field: &str, code: &'static str, message: &str) {
        self.list.push(FieldError {
            field: format!("{}{field}", self.prefix).chars().take(64).collect(),
            code,
            message: message.to_owned(),
        });
    }

    fn text(&mut self, object: &Map<String, Value>, field: &str) -> Option<String> {
        match object.get(field) {
            None | Some(Value::Null) => {
                self.fail(field, "required", "this field is required");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(field, "invalid_type", "expected a string");
                None
            }
        }
    }
}

/// Validates a profile object against `today`, collecting every field error (field names are
/// prefixed with `prefix`, e.g. `traveler.`).
pub fn validate_profile(
    value: Option<&Value>,
    today: NaiveDate,
    prefix: &str,
) -> Result<Profile, Vec<FieldError>> {
    let mut e = Errors {
        prefix,
        list: Vec::new(),
    };
    let Some(Value::Object(object)) = value else {
        e.fail("", "invalid_type", "expected an object");
        return Err(e.list);
    };
    for key in object.keys() {
        if !FIELDS.contains(&key.as_str()) {
            e.fail(
                key,
                "unknown_field",
                "this field is not part of a traveller profile",
            );
        }
    }
    let title = e.text(object, "title");
    let gender = e.text(object, "gender");
    let given_name = e.text(object, "given_name");
    let family_name = e.text(object, "family_name");
    let born_on = e.text(object, "born_on");
    let email = e.text(object, "email");
    let phone_number = e.text(object, "phone_number");

    if title.as_deref().is_some_and(|t| !TITLES.contains(&t)) {
        e.fail("title", "invalid_title", "must be mr, ms, mrs, miss or dr");
    }
    if gender.as_deref().is_some_and(|g| !matches!(g, "m" | "f")) {
        e.fail("gender", "invalid_gender", "must be m or f");
    }
    for (field, name) in [("given_name", &given_name), ("family_name", &family_name)] {
        if let Some((code, message)) = name.as_deref().and_then(name_problem) {
            e.fail(field, code, message);
        }
    }
    let born = born_on.as_deref().and_then(parse_iso_date);
    if born_on.is_some() && born.is_none() {
        e.fail(
            "born_on",
            "invalid_date",
            "expected an existing date as YYYY-MM-DD",
        );
    }
    if let Some(born) = born {
        if born > today {
            e.fail("born_on", "born_in_future", "must not be after today");
        } else if age_on(born, today) > 120 {
            e.fail(
                "born_on",
                "born_too_long_ago",
                "must be within the last 120 years",
            );
        }
    }
    if email.as_deref().is_some_and(|m| !is_email(m)) {
        e.fail(
            "email",
            "invalid_email",
            "expected an email address (name@example.com)",
        );
    }
    if phone_number.as_deref().is_some_and(|p| !is_e164(p)) {
        e.fail(
            "phone_number",
            "invalid_phone",
            "expected an E.164 number: +, country code and number, 7 to 15 digits",
        );
    }
    let document = match object.get("identity_document") {
        None | Some(Value::Null) => None,
        Some(Value::Object(doc)) => document(doc, today, &mut e),
        Some(_) => {
            e.fail(
                "identity_document",
                "invalid_type",
                "expected an object or null",
            );
            None
        }
    };
    if !e.list.is_empty() {
        return Err(e.list);
    }
    match (
        title,
        gender,
        given_name,
        family_name,
        born,
        email,
        phone_number,
    ) {
        (
            Some(title),
            Some(gender),
            Some(given_name),
            Some(family_name),
            Some(born_on),
            Some(email),
            Some(phone_number),
        ) => Ok(Profile {
            title,
            gender,
            given_name,
            family_name,
            born_on,
            email,
            phone_number,
            passenger_type: passenger_type(age_on(born_on, today)),
            identity_document: document,
        }),
        _ => Err(e.list),
    }
}

fn document(doc: &Map<String, Value>, today: NaiveDate, e: &mut Errors<'_>) -> Option<Document> {
    let keys = [
        "type",
        "unique_identifier",
        "issuing_country_code",
        "expires_on",
    ];
    for key in doc.keys() {
        if !keys.contains(&key.as_str()) {
            e.fail(
                &format!("identity_document.{key}"),
                "unknown_field",
                "not part of an identity document",
            );
        }
    }
    let get = |k: &str| doc.get(k).and_then(Value::as_str);
    let kind = get("type").filter(|k| DOCUMENT_TYPES.contains(k));
    let number = get("unique_identifier")
        .filter(|n| (1..=32).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric()));
    let country = get("issuing_country_code")
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
    let expires = get("expires_on").and_then(parse_iso_date);
    if kind.is_none() {
        e.fail(
            "identity_document.type",
            "invalid_document_type",
            "must be passport, tax_id, known_traveler_number or passenger_redress_number",
        );
    }
    if number.is_none() {
        e.fail(
            "identity_document.unique_identifier",
            "invalid_document_number",
            "1 to 32 letters or digits",
        );
    }
    if country.is_none() {
        e.fail(
            "identity_document.issuing_country_code",
            "invalid_country",
            "an ISO 3166-1 alpha-2 code (GB)",
        );
    }
    match expires {
        None => e.fail(
            "identity_document.expires_on",
            "invalid_date",
            "expected an existing date as YYYY-MM-DD",
        ),
        Some(date) if date < today => e.fail(
            "identity_document.expires_on",
            "document_expired",
            "the document has expired",
        ),
        Some(_) => {}
    }
    Some(Document {
        kind: kind?.to_owned(),
        unique_identifier: number?.to_owned(),
        issuing_country_code: country?.to_owned(),
        expires_on: expires.filter(|d| *d >= today)?,
    })
}

/// The trip facts the age check needs (`travelers_attach_check`'s `trip`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TripSlots {
    /// Adults (slots 1..=adults).
    pub adults: u8,
    /// Searched ages of the children, in slot order after the adults.
    pub child_ages: Vec<u8>,
    /// The last travel date (return, else departure).
    pub last_travel_date: NaiveDate,
}

/// Checks each traveller's birth date against their slot: `born[i]` is slot `i + 1`. Errors name
/// `traveler_ids[i]`: `adult_too_young` or `age_mismatch` (never the date itself).
pub fn check_ages(slots: &TripSlots, born: &[NaiveDate]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, born_on) in born.iter().enumerate() {
        let age = age_on(*born_on, slots.last_travel_date);
        let field = format!("traveler_ids[{i}]");
        if i < usize::from(slots.adults) {
            if age < i64::from(ADULT_AGE) {
                errors.push(FieldError {
                    field,
                    code: "adult_too_young",
                    message:
                        "an adult's seat needs a traveller aged 18 or more on the last travel date"
                            .to_owned(),
                });
            }
        } else if let Some(searched) = slots.child_ages.get(i - usize::from(slots.adults)) {
            if age != i64::from(*searched) {
                errors.push(FieldError {
                    field,
                    code: "age_mismatch",
                    message: format!(
                        "this child's seat was searched for age {searched} on the last travel date; the traveller's birth date gives another age"
                    ),
                });
            }
        }
    }
    errors
}
