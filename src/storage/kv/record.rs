//! The legacy records: `active_position:<chat>`, each element of `execution_history:<chat>`,
//! and `fear_greed_cache`. The legacy bot reads their fields off whatever `JSON.parse`
//! returned (`position.ticker`, `cached.timestamp`), so only a JSON object is a record: an
//! array has no `.ticker`. serde's derived `Deserialize` would also build a struct from an
//! array, field by field in order (`["SPY",400]` as a position in SPY at 400), so [`record`]
//! hands the derive nothing but an object's fields. Field types are the derive's, exactly as
//! the legacy writes them (`null` prices included); unknown fields are ignored, as the
//! legacy ignores them; a repeated field is its last value, as `JSON.parse` reads it.
//!
//! Anything else is a decode error naming the key, for the key's readers to treat as every
//! corrupt record: the sweeps list and skip it, and the bot's reads fail as on a KV error.

use super::{decode_error, Kv};
use crate::storage::{Operation, StorageResult};
use serde::de::{DeserializeOwned, Error as _, Unexpected};
use serde_json::Value;

impl Kv {
    /// Reads the record under `key`: `None` when the key is missing, and when it holds
    /// `null`. A legacy reader of a record gets `null` for a missing key, and the same `null`
    /// from `JSON.parse("null")`, so it cannot tell the two apart: both are "no record".
    pub(super) async fn get_record<T: DeserializeOwned>(
        &self,
        op: &Operation,
        key: &str,
    ) -> StorageResult<Option<T>> {
        match self.get_json::<Value>(op, key).await? {
            None | Some(Value::Null) => Ok(None),
            Some(value) => record(&value)
                .map(Some)
                .map_err(|e| decode_error(op, key, e)),
        }
    }
}

/// Each of the elements stored under `key` as a record; one that is not fails them all.
pub(super) fn records<T: DeserializeOwned>(
    op: &Operation,
    key: &str,
    stored: &[Value],
) -> StorageResult<Vec<T>> {
    stored
        .iter()
        .map(record)
        .collect::<Result<_, _>>()
        .map_err(|e| decode_error(op, key, e))
}

/// `value` as the record `T`: its fields when it is a JSON object, an error otherwise.
pub(super) fn record<T: DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    match value {
        // A map deserializer: the derive can only visit it as a map, never as a sequence.
        Value::Object(fields) => T::deserialize(fields),
        other => Err(serde_json::Error::invalid_type(
            unexpected(other),
            &"a JSON object",
        )),
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => n
            .as_f64()
            .map_or(Unexpected::Other("number"), Unexpected::Float),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Execution, Position, SignalType};
    use serde_json::json;

    #[test]
    fn only_an_object_is_a_record() {
        let refused = [
            (json!(["SPY", 400]), "an array, field by field"),
            (
                json!([{"ticker": "SPY", "entryPrice": 400}]),
                "an object in an array",
            ),
            (json!("SPY"), "a string"),
            (json!(400), "a number"),
            (json!(true), "a boolean"),
            (json!(null), "null"),
        ];
        for (value, why) in refused {
            let error = record::<Position>(&value).unwrap_err().to_string();
            assert!(error.contains("expected a JSON object"), "{why}: {error}");
        }
        let execution = json!(["BUY", "SPY", 400, 1_705_276_800_000_i64]);
        assert!(record::<Execution>(&execution).is_err(), "an execution too");
    }

    #[test]
    fn a_side_is_the_string_buy_or_sell_and_nothing_else() {
        let with = |side: &Value| json!({"signalType": side, "ticker": "SPY", "executionPrice": 1, "executionDate": 5});
        let sell = record::<Execution>(&with(&json!("SELL"))).unwrap();
        assert_eq!(sell.signal_type, SignalType::Sell);
        for side in [
            json!({"BUY": null}),
            json!("buy"),
            json!("HOLD"),
            json!(["BUY"]),
        ] {
            assert!(record::<Execution>(&with(&side)).is_err(), "{side}");
        }
    }

    #[test]
    fn a_repeated_field_is_its_last_value_as_json_parse_reads_it() {
        let stored = r#"{"ticker":"AAPL","entryPrice":1,"ticker":"SPY"}"#;
        let value: Value = serde_json::from_str(stored).unwrap();
        assert_eq!(record::<Position>(&value).unwrap().ticker, "SPY");
    }

    #[test]
    fn an_object_decodes_as_the_derive_does_unknown_fields_ignored() {
        let value = json!({"entryPrice": null, "ticker": "SPY", "note": [1]});
        assert_eq!(
            record::<Position>(&value).unwrap(),
            Position {
                ticker: "SPY".into(),
                entry_price: None
            }
        );
    }
}
