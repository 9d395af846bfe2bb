//! JSON parsing for request bodies that refuses duplicate object keys at any nesting level.
//!
//! `serde_json` keeps the last of two equal keys (`{"origin":"XX1","origin":"QUE"}` reads as
//! `QUE`), so a body could say two things and be read as one of them. Request bodies are parsed
//! here instead, into the same [`Value`], with every object's keys checked as they are read.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a body did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ParseError {
    /// Not JSON (syntax, trailing data, nesting deeper than serde_json's limit of 128).
    Syntax,
    /// Some object, at any depth, names the same key twice.
    DuplicateKey,
}

/// Parses `body` as one JSON value, refusing duplicate keys.
pub(super) fn parse_unique(body: &[u8]) -> Result<Value, ParseError> {
    let duplicate = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Seed {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if duplicate.get() => Err(ParseError::DuplicateKey),
        Err(_) => Err(ParseError::Syntax),
    }
}

/// Deserializes one value; sets `duplicate` when it fails because of a repeated key.
#[derive(Clone, Copy)]
struct Seed<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Value, ParseError> {
        parse_unique(s.as_bytes())
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [
            r#"{"origin":"XX1","origin":"QUE"}"#,
            r#"{"a":1,"b":{"c":1,"c":1}}"#,
            r#"{"a":[{"x":1},{"y":1,"y":2}]}"#,
            r#"[[{"k":null,"k":null}]]"#,
            r#"{"a":1,"a":1"#,
        ] {
            assert_eq!(parse(body), Err(ParseError::DuplicateKey), "{body}");
        }
    }

    #[test]
    fn escapes_that_spell_the_same_key_are_duplicates() {
        assert_eq!(
            parse(r#"{"origin":"LHR","\u006frigin":"QUE"}"#),
            Err(ParseError::DuplicateKey)
        );
    }

    #[test]
    fn equal_keys_in_different_objects_are_fine() {
        let v = parse(r#"{"a":{"k":1},"b":{"k":2},"c":[{"k":3},{"k":4}]}"#).unwrap();
        assert_eq!(v["b"]["k"], 2);
        assert_eq!(v["c"][1]["k"], 4);
    }

    #[test]
    fn same_values_as_serde_json() {
        let body = r#"{"s":"x\n","i":-3,"u":18446744073709551615,"f":1.5,"e":1e3,"t":true,
                       "n":null,"a":[1,"2",[3]],"o":{}}"#;
        let ours = parse(body).unwrap();
        let theirs: Value = serde_json::from_str(body).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn syntax_errors_and_trailing_data() {
        for body in ["", "{", "{\"a\":}", "[1,]", "{} {}", "nul", "\"abc"] {
            assert_eq!(parse(body), Err(ParseError::Syntax), "{body:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse(&deep), Err(ParseError::Syntax));
    }
}
