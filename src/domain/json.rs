//! A parsed JSON value read as JavaScript reads `JSON.parse`'s result: the bodies the worker
//! receives (an update, Telegram's and Yahoo's answers, `/deploy-notify`'s). It holds an
//! object's fields in a plain list rather than serde_json's `Value`'s `IndexMap`, whose hashing
//! and table code a fresh isolate would otherwise compile for a first `/help` (README, "A
//! fresh isolate's first request"). Records the worker writes stay `Value`s (`js_json`).

use super::js_number_to_string;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use std::fmt;

/// One JSON value. Numbers keep serde_json's reading (an integer stays exact up to 64 bits).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    /// The fields in the order given. A key given twice reads as its last value, as after
    /// `JSON.parse`.
    Object(Vec<(String, Json)>),
}

const UNDEFINED: Json = Json::Null;

impl Json {
    /// `value[key]` of an object; `None` when this is not an object or has no such key.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|f| &f.1),
            _ => None,
        }
    }

    /// `value[key]`, `null` standing for `undefined`: chains like `a?.b?.c` read as one path.
    pub fn at(&self, key: &str) -> &Json {
        self.get(key).unwrap_or(&UNDEFINED)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    pub fn is_boolean(&self) -> bool {
        matches!(self, Json::Bool(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    fn as_number(&self) -> Option<&Number> {
        match self {
            Json::Number(n) => Some(n),
            _ => None,
        }
    }

    /// An integer number that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    /// A non-negative integer number that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// JavaScript truthiness (`if (value)`).
    pub fn truthy(&self) -> bool {
        match self {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
            Json::String(s) => !s.is_empty(),
            Json::Array(_) | Json::Object(_) => true,
        }
    }

    /// `String(value)`, as a template literal shows it: arrays joined with commas (`null`
    /// items empty), objects as `[object Object]`, numbers as JavaScript writes them.
    pub fn to_js_string(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Number(n) => js_number_to_string(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => s.clone(),
            Json::Array(items) => items
                .iter()
                .map(|item| match item {
                    Json::Null => String::new(),
                    other => other.to_js_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Json::Object(_) => "[object Object]".into(),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Json, E> {
        // JSON has no NaN or infinity; serde_json's `Value` reads one as null too.
        Ok(Number::from_f64(x).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Json, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = items.next_element()? {
            values.push(value);
        }
        Ok(Json::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Json, A::Error> {
        let mut fields = Vec::new();
        while let Some(field) = entries.next_entry()? {
            fields.push(field);
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_json;

    fn parse(text: &str) -> Json {
        parse_json(text).unwrap()
    }

    #[test]
    fn reads_every_kind_of_value() {
        let v = parse(r#"{"a":[1,-2,1.5,"x",null,true],"b":{"c":18446744073709551615}}"#);
        let items = match v.at("a") {
            Json::Array(items) => items,
            other => panic!("{other:?}"),
        };
        assert_eq!(items[0].as_i64(), Some(1));
        assert_eq!(items[1].as_i64(), Some(-2));
        assert_eq!(items[1].as_u64(), None);
        assert_eq!(items[2].as_i64(), None);
        assert_eq!(items[3].as_str(), Some("x"));
        assert_eq!(items[4], Json::Null);
        assert!(items[5].is_boolean());
        assert_eq!(v.at("b").at("c").as_u64(), Some(u64::MAX));
        assert_eq!(v.at("b").at("c").as_i64(), None);
        assert_eq!(v.at("missing").at("deeper"), &Json::Null);
        assert!(v.at("b").is_object() && !v.at("a").is_object());
    }

    #[test]
    fn a_key_given_twice_reads_as_its_last_value() {
        assert_eq!(parse(r#"{"k":1,"k":2}"#).at("k").as_i64(), Some(2));
    }

    #[test]
    fn truthiness_is_javascripts() {
        for (text, truthy) in [
            ("null", false),
            ("false", false),
            ("true", true),
            ("0", false),
            ("-0.0", false),
            ("0.5", true),
            (r#""""#, false),
            (r#""0""#, true),
            ("[]", true),
            ("{}", true),
        ] {
            assert_eq!(parse(text).truthy(), truthy, "{text}");
        }
    }

    #[test]
    fn string_conversion_is_javascripts() {
        for (text, string) in [
            ("null", "null"),
            ("true", "true"),
            ("1e21", "1e+21"),
            ("400.50", "400.5"),
            ("-0", "0"),
            (r#""abc""#, "abc"),
            (r#"[1,null,"a",[2,3],{}]"#, "1,,a,2,3,[object Object]"),
            (r#"{"a":1}"#, "[object Object]"),
        ] {
            assert_eq!(parse(text).to_js_string(), string, "{text}");
        }
    }

    #[test]
    fn refuses_what_json_parse_refuses() {
        for text in ["", "{", "[1,]", "{\"a\":1}x", "NaN", "'a'"] {
            assert!(parse_json::<Json>(text).is_err(), "{text}");
        }
    }
}
