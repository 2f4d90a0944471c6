//! The CNN Fear & Greed Index (§5.3), read through the cache repository: a fresh cached
//! reading (under 5 minutes old) is used as it is; otherwise CNN is asked and the normalised
//! answer cached. Cache failures are only logged: the bot then simply asks CNN.

use super::{Market, MarketError};
use crate::domain::{parse_json, CacheEntry, FearGreed, FEAR_GREED_CACHE_KEY};
use crate::storage::CacheRepo;
use serde_json::{Map, Value};

const INVALID_STRUCTURE: &str = "Invalid Fear & Greed Index response structure";

/// The optional history fields CNN may send, in the order the cache writes them.
const PREVIOUS: [&str; 4] = [
    "previous_close",
    "previous_1_week",
    "previous_1_month",
    "previous_1_year",
];

impl Market {
    /// The current reading, cached for five minutes.
    pub(crate) async fn fear_greed(&self, cache: &dyn CacheRepo) -> Result<FearGreed, MarketError> {
        let now = self.platform.clock.now_ms();
        match cache.fresh(FEAR_GREED_CACHE_KEY, now).await {
            Ok(Some(entry)) => match reading(&entry.data) {
                Some(reading) => return Ok(reading),
                None => {
                    tracing::warn!("cached Fear & Greed reading has the wrong shape; refetching")
                }
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "Fear & Greed cache read failed; fetching"),
        }
        let url = format!("{}/index/fearandgreed/current", self.cnn_base_url);
        let response = self.get(url, "Fear & Greed Index").await?;
        let data = parse_json::<Value>(&response.body)
            .ok()
            .and_then(|body| normalise(&body))
            .ok_or_else(|| MarketError(INVALID_STRUCTURE.into()))?;
        let reading = reading(&data).ok_or_else(|| MarketError(INVALID_STRUCTURE.into()))?;
        let entry = CacheEntry {
            data,
            written_at: now,
        };
        if let Err(e) = cache.store(FEAR_GREED_CACHE_KEY, &entry).await {
            tracing::warn!(error = %e, "Fear & Greed cache write failed");
        }
        Ok(reading)
    }
}

/// A number, or a string holding one (CNN has sent both).
fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|x: &f64| x.is_finite()),
        _ => None,
    }
}

/// CNN's answer as the cache stores it: `rating` as received, `score` as a number,
/// `timestamp` as received, the `previous_*` fields as numbers when present; `None` when the
/// answer lacks a non-empty `rating` or a numeric `score`.
pub(crate) fn normalise(body: &Value) -> Option<Value> {
    let body = body.as_object()?;
    let rating = body.get("rating")?.as_str().filter(|r| !r.is_empty())?;
    let score = numeric(body.get("score")?)?;
    let mut data = Map::new();
    data.insert("rating".into(), rating.into());
    data.insert("score".into(), score.into());
    match body.get("timestamp") {
        Some(t @ (Value::Number(_) | Value::String(_))) => {
            data.insert("timestamp".into(), t.clone());
        }
        None => {}
        // Optional, but when present a number or a string (§5.3): `null` is neither.
        Some(_) => return None,
    }
    for field in PREVIOUS {
        if let Some(x) = body.get(field).and_then(numeric) {
            data.insert(field.into(), x.into());
        }
    }
    Some(Value::Object(data))
}

/// The rating and score of a normalised (or cached) reading, whatever its key order.
fn reading(data: &Value) -> Option<FearGreed> {
    Some(FearGreed {
        rating: data
            .get("rating")?
            .as_str()
            .filter(|r| !r.is_empty())?
            .to_owned(),
        score: data.get("score")?.as_f64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalising_keeps_the_fields_in_cache_order_and_parses_numeric_strings() {
        let body = json!({"previous_1_year": "60.5", "timestamp": "2024-01-15T00:00:00", "score": "25.5", "rating": "fear", "extra": 1});
        let data = normalise(&body).unwrap();
        assert_eq!(
            crate::domain::js_stringify(&data),
            r#"{"rating":"fear","score":25.5,"timestamp":"2024-01-15T00:00:00","previous_1_year":60.5}"#
        );
    }

    #[test]
    fn answers_without_a_rating_or_a_numeric_score_are_refused() {
        for body in [
            json!({"score": 25}),
            json!({"rating": "", "score": 25}),
            json!({"rating": "fear", "score": "abc"}),
            json!({"rating": "fear"}),
            json!({"rating": 5, "score": 25}),
            json!(["fear", 25]),
            json!({"rating": "fear", "score": 25, "timestamp": true}),
            json!({"rating": "fear", "score": 25, "timestamp": null}),
        ] {
            assert_eq!(normalise(&body), None, "{body}");
        }
    }
}
