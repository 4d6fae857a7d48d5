//! [`JsonText`]: a JSON value kept as its text.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON value kept as its text, as a step's output is: written into its node record, copied
/// into an answer and read back from the store without being taken apart into a
/// [`Value`] tree. Whatever reads inside it parses it then ([`JsonText::value`],
/// [`JsonText::decode`]). Cloning it is cheap: clones share the text.
#[derive(Clone)]
pub struct JsonText(Arc<RawValue>);

impl JsonText {
    /// `value` serialized: a typed value goes straight to text, with no [`Value`] in between.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<JsonText, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(|raw| JsonText(raw.into()))
    }

    /// A [`Value`] as text (a `Value` always serializes).
    pub fn from_value(value: &Value) -> JsonText {
        JsonText::of(value).expect("a serde_json::Value serializes")
    }

    /// Text that must be one JSON value (checked, not re-formatted).
    pub fn parse(text: String) -> Result<JsonText, serde_json::Error> {
        RawValue::from_string(text).map(|raw| JsonText(raw.into()))
    }

    /// The text, exactly as it is stored.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    pub fn raw(&self) -> &RawValue {
        &self.0
    }

    /// The value as a tree. Fails only for text nested deeper than serde_json reads (128
    /// levels), which the store could not read back either.
    pub fn value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.get())
    }

    /// The value as `T`, read straight from the text.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.get())
    }
}

impl From<&RawValue> for JsonText {
    fn from(raw: &RawValue) -> Self {
        JsonText(raw.to_owned().into())
    }
}

impl From<&Value> for JsonText {
    fn from(value: &Value) -> Self {
        JsonText::from_value(value)
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        JsonText::from_value(&value)
    }
}

/// Equal when the texts are, or else when they hold the same value (`{"a":1}` and
/// `{ "a": 1 }` are equal).
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
            || matches!((self.value(), other.value()), (Ok(a), Ok(b)) if a == b)
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

impl std::fmt::Display for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

/// Written as the value itself (verbatim into JSON text; parsed into a `Value` when the
/// serializer builds one).
impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Read from JSON text (kept as it is) or from a `Value` (serialized).
impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|raw| JsonText(raw.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<JsonText>,
    }

    #[test]
    fn a_record_keeps_its_output_text_verbatim_through_json_text() {
        let output = JsonText::of(&json!({ "b": [1, 2.5, "x"], "a": null })).unwrap();
        let record = Record {
            id: "r".into(),
            output: Some(output.clone()),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(text, r#"{"id":"r","output":{"a":null,"b":[1,2.5,"x"]}}"#);
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back.output.unwrap().get(), output.get());
    }

    #[test]
    fn a_record_goes_through_a_value_and_back() {
        let record = Record {
            id: "r".into(),
            output: Some(JsonText::of(&json!({ "k": [true, { "n": 3 }] })).unwrap()),
        };
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(
            value,
            json!({ "id": "r", "output": { "k": [true, { "n": 3 }] } })
        );
        let back: Record = serde_json::from_value(value).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn equal_values_in_other_spacing_are_equal() {
        let compact = JsonText::parse(r#"{"a":1,"b":[2]}"#.into()).unwrap();
        let spaced = JsonText::parse(r#"{ "b": [2], "a": 1 }"#.into()).unwrap();
        assert_eq!(compact, spaced);
        assert_ne!(compact, JsonText::parse(r#"{"a":2}"#.into()).unwrap());
    }

    #[test]
    fn text_that_is_not_one_json_value_is_refused() {
        assert!(JsonText::parse("{\"a\":".into()).is_err());
        assert!(JsonText::parse("1 2".into()).is_err());
        assert!(JsonText::parse(String::new()).is_err());
    }

    #[test]
    fn text_nested_too_deep_to_read_back_is_an_error_not_a_panic() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let text = JsonText::from_value(&Value::String(deep));
        assert!(text.value().is_ok());
        let mut nested = Value::Null;
        for _ in 0..200 {
            nested = Value::Array(vec![nested]);
        }
        assert!(JsonText::from_value(&nested).value().is_err());
    }
}
