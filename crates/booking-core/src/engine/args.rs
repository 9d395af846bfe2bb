//! The argument of a SQL command: a JSON value, or JSON text the core already wrote (the search
//! result, hundreds of offers, goes to `app.record_search` as the text it was written to, without
//! a [`Value`] tree in between).

use std::ops::Index;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// The single `jsonb` argument of a [`super::Command::Sql`]. Both forms serialise as the same
/// JSON (a [`SqlArgs::Raw`] text exactly as it is), so the executor sees no difference. A raw
/// argument is shared, not copied, when the command is cloned (a waiting command is returned
/// again on every poll).
#[derive(Clone, Debug)]
pub enum SqlArgs {
    /// A JSON value.
    Value(Value),
    /// Valid JSON text.
    Raw(Arc<RawValue>),
}

impl SqlArgs {
    /// JSON text as a raw argument; `None` if it is not valid JSON.
    pub fn raw(text: String) -> Option<Self> {
        RawValue::from_string(text)
            .ok()
            .map(|raw| Self::Raw(raw.into()))
    }

    /// The argument as a [`Value`] (a raw argument parsed; for tests and checks, not the hot
    /// path).
    pub fn to_value(&self) -> Value {
        match self {
            Self::Value(value) => value.clone(),
            Self::Raw(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

impl From<Value> for SqlArgs {
    fn from(value: Value) -> Self {
        Self::Value(value)
    }
}

impl Serialize for SqlArgs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(value) => value.serialize(serializer),
            Self::Raw(raw) => raw.serialize(serializer),
        }
    }
}

/// Equal when they are the same JSON (a raw argument compared as its parsed value).
impl PartialEq for SqlArgs {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Value(a), Self::Value(b)) => a == b,
            (Self::Raw(a), Self::Raw(b)) if a.get() == b.get() => true,
            _ => self.to_value() == other.to_value(),
        }
    }
}

impl Eq for SqlArgs {}

impl PartialEq<Value> for SqlArgs {
    fn eq(&self, other: &Value) -> bool {
        match self {
            Self::Value(value) => value == other,
            Self::Raw(_) => self.to_value() == *other,
        }
    }
}

/// A member of a value argument, as [`Value`]'s index (`Null` when absent). Raw arguments are
/// not indexable (use [`SqlArgs::to_value`]): indexing one panics.
impl Index<&str> for SqlArgs {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        match self {
            Self::Value(value) => &value[key],
            Self::Raw(_) => panic!("a raw SQL argument is not indexable: use SqlArgs::to_value"),
        }
    }
}

impl std::fmt::Display for SqlArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(value) => value.fmt(f),
            Self::Raw(raw) => f.write_str(raw.get()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_forms_serialise_as_the_same_json() {
        let value = SqlArgs::from(json!({"trip_id": "t", "result": {"offers": [1, 2]}}));
        let raw = SqlArgs::raw(r#"{"result":{"offers":[1,2]},"trip_id":"t"}"#.into()).unwrap();
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string(&raw).unwrap()
        );
        assert_eq!(value, raw);
        assert_eq!(raw, json!({"trip_id": "t", "result": {"offers": [1, 2]}}));
        assert_eq!(
            raw.to_string(),
            r#"{"result":{"offers":[1,2]},"trip_id":"t"}"#
        );
        assert_eq!(value["trip_id"], "t");
        assert!(SqlArgs::raw("{not json".into()).is_none());
    }
}
