//! IATA airport/city codes.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A three-letter IATA location code: exactly three ASCII upper-case letters (`LHR`, `JFK`).
///
/// Whether the code names a real airport is the provider's business; the core only checks the
/// shape.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IataCode([u8; 3]);

/// A string that is not three ASCII upper-case letters.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("expected three upper-case letters (an IATA code)")]
pub struct IataError;

impl IataError {
    /// Stable code: `invalid_iata`.
    pub fn code(&self) -> &'static str {
        "invalid_iata"
    }
}

crate::error::impl_error_code!(IataError);

impl IataCode {
    /// Parses exactly three ASCII upper-case letters; anything else (lower case, spaces,
    /// non-ASCII, other lengths) is refused.
    pub fn parse(text: &str) -> Result<Self, IataError> {
        match *text.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(IataError),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Invariant: the bytes are ASCII upper-case letters (checked in `parse`), so always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for IataCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IataCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IataCode({})", self.as_str())
    }
}

impl std::str::FromStr for IataCode {
    type Err = IataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for IataCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IataCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_three_upper_case_letters() {
        let code = IataCode::parse("LHR").unwrap();
        assert_eq!(code.as_str(), "LHR");
        assert_eq!(code.to_string(), "LHR");
        assert_eq!(format!("{code:?}"), "IataCode(LHR)");
        assert_eq!("JFK".parse::<IataCode>().unwrap().as_str(), "JFK");
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "LH",
            "LHRX",
            "lhr",
            "Lhr",
            "LH1",
            " LHR",
            "LH ",
            "ÄBC",
            "L-R",
            "ＬＨＲ",
        ] {
            assert_eq!(IataCode::parse(bad), Err(IataError), "{bad:?}");
        }
        assert_eq!(IataError.code(), "invalid_iata");
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let code: IataCode = serde_json::from_str(r#""CDG""#).unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""CDG""#);
        assert!(serde_json::from_str::<IataCode>(r#""cdg""#).is_err());
        assert!(serde_json::from_str::<IataCode>("123").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(text in "\\PC{0,5}") {
            if let Ok(code) = IataCode::parse(&text) {
                proptest::prop_assert_eq!(code.as_str(), text.as_str());
            }
        }
    }
}
