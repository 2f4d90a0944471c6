//! Yahoo's daily chart (§5.4): about 300 calendar days of bars (enough for SMA200) and the
//! current `regularMarketPrice`. Market data is never cached.

use super::{Market, MarketError};
use crate::domain::{parse_json, valid_ticker, Bar, Json, MarketData};

/// ceil(200 × 1.5) calendar days, about 206 trading days.
const HISTORY_DAYS: i64 = 300;

const MISSING_FIELDS: &str = "Missing required market data fields";

impl Market {
    /// The chart of `ticker`, which is validated again: stored watchlists may hold anything.
    pub(crate) async fn chart(&self, ticker: &str) -> Result<MarketData, MarketError> {
        let Some(ticker) = valid_ticker(ticker) else {
            return Err(MarketError(format!("Invalid ticker symbol: {ticker}")));
        };
        let end = self.platform.clock.now_ms().div_euclid(1000);
        let start = end - HISTORY_DAYS * 86_400;
        // A valid ticker is ASCII letters, digits and dots: `encodeURIComponent` keeps them all.
        let url = format!(
            "{}/v8/finance/chart/{ticker}?period1={start}&period2={end}&interval=1d&events=history",
            self.yahoo_base_url
        );
        let response = self.get(url, &format!("market data for {ticker}")).await?;
        let body: Json = parse_json(&response.body)
            .map_err(|_| MarketError(format!("Invalid market data response for {ticker}")))?;
        parse_chart(&body, &ticker)
    }
}

/// The price and the complete bars of a chart answer, oldest first.
pub(crate) fn parse_chart(body: &Json, ticker: &str) -> Result<MarketData, MarketError> {
    let chart = body.at("chart");
    if chart.at("error").truthy() {
        return Err(MarketError(format!(
            "Yahoo Finance API error for {ticker}: {}",
            chart
                .at("error")
                .at("description")
                .as_str()
                .unwrap_or("unknown")
        )));
    }
    let result = match chart.at("result").as_array().and_then(|r| r.first()) {
        Some(result) => result,
        None => return Err(MarketError(format!("No market data returned for {ticker}"))),
    };
    let price = result.at("meta").at("regularMarketPrice");
    let quote = result.at("indicators").at("quote").as_array();
    let (Some(current_price), Some(timestamps), Some(quote)) = (
        price.as_f64(),
        result.at("timestamp").as_array(),
        quote.and_then(|q| q.first()).filter(|q| q.is_object()),
    ) else {
        return Err(MarketError(MISSING_FIELDS.into()));
    };
    if !price.truthy() {
        return Err(MarketError(MISSING_FIELDS.into()));
    }
    let column = |name: &str| {
        quote
            .at(name)
            .as_array()
            .ok_or_else(|| MarketError(MISSING_FIELDS.into()))
    };
    let columns = [
        column("open")?,
        column("high")?,
        column("low")?,
        column("close")?,
        column("volume")?,
    ];
    let len = columns
        .iter()
        .map(|c| c.len())
        .fold(timestamps.len(), usize::min);
    let mut bars: Vec<Bar> = (0..len)
        .filter_map(|i| {
            let timestamp = timestamps[i].as_i64().filter(|t| *t != 0)?;
            let [open, high, low, close, volume] = columns.map(|c| c[i].as_f64());
            Some(Bar {
                timestamp,
                open: open?,
                high: high?,
                low: low?,
                close: close?,
                volume: volume?,
            })
        })
        .collect();
    bars.sort_by_key(|bar| bar.timestamp);
    Ok(MarketData {
        current_price,
        bars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// `value` as the worker reads it from Yahoo's answer.
    fn read(value: Value) -> Json {
        parse_json(&value.to_string()).unwrap()
    }

    fn chart(price: Value, timestamps: Value, close: Value) -> Json {
        read(json!({"chart": {"result": [{
            "meta": {"regularMarketPrice": price},
            "timestamp": timestamps,
            "indicators": {"quote": [{
                "open": [1.0, 2.0, null, 4.0], "high": [1.0, 2.0, 3.0, 4.0],
                "low": [1.0, 2.0, 3.0, 4.0], "close": close, "volume": [1, 2, 3, 4]
            }]}
        }], "error": null}}))
    }

    #[test]
    fn bars_are_aligned_filtered_and_sorted_by_time() {
        let body = chart(
            json!(400.5),
            json!([300, 100, 200, 0, 500]),
            json!([3.0, 1.0, 2.0, 9.0, 5.0]),
        );
        let data = parse_chart(&body, "SPY").unwrap();
        assert_eq!(data.current_price, 400.5);
        // Bar 2 has a null open, bar 3 a zero timestamp; bar 4 is beyond the shortest column.
        let closes: Vec<(i64, f64)> = data.bars.iter().map(|b| (b.timestamp, b.close)).collect();
        assert_eq!(closes, vec![(100, 1.0), (300, 3.0)]);
    }

    #[test]
    fn answers_without_price_or_columns_are_errors() {
        let no_price = chart(json!(0), json!([1]), json!([1.0]));
        assert_eq!(parse_chart(&no_price, "SPY").unwrap_err().0, MISSING_FIELDS);
        let errored = read(
            json!({"chart": {"result": null, "error": {"code": "Not Found", "description": "No data found"}}}),
        );
        assert!(parse_chart(&errored, "SPY").is_err());
        let empty = read(json!({"chart": {"result": [], "error": null}}));
        assert!(parse_chart(&empty, "SPY").is_err());
    }
}
