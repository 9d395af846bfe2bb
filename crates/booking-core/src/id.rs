//! Identifiers that arrive as text: database UUIDs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A UUID in canonical text form (`8-4-4-4-12` hex digits), stored lower case.
///
/// Parsed by hand so the core needs no uuid crate; any version and variant is accepted (the
/// database generates them, the core only carries them).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(String);

impl Uuid {
    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits of either case); braces, urn
    /// prefixes and the 32-digit form without hyphens are refused.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let well_formed = bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        well_formed.then(|| Self(text.to_ascii_lowercase()))
    }

    /// The canonical lower-case text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({})", self.0)
    }
}

impl Serialize for Uuid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("expected a UUID"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_canonical_form_and_lowercases() {
        let id = Uuid::parse("3F2504E0-4F89-11D3-9A0C-0305E82C3301").unwrap();
        assert_eq!(id.as_str(), "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""3f2504e0-4f89-11d3-9a0c-0305e82c3301""#
        );
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "",
            "3f2504e04f8911d39a0c0305e82c3301",
            "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}",
            "3f2504e0-4f89-11d3-9a0c-0305e82c330g",
            "3f2504e0-4f89-11d3-9a0c_0305e82c3301",
            "3f2504e0-4f89-11d3-9a0c-0305e82c33011",
            "3f2504e0-4f8911d3-9a0c--0305e82c3301",
        ] {
            assert!(Uuid::parse(bad).is_none(), "{bad:?}");
        }
        assert!(serde_json::from_str::<Uuid>(r#""nope""#).is_err());
    }
}
