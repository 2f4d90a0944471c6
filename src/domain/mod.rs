//! Plain data and rules shared by every layer; nothing here knows which store holds it.

mod calendar;
mod holidays;
mod js_json;
mod json;
mod market;
mod numbers;
mod text;

pub use calendar::{
    format_execution_date, month_name, next_month_name, parse_date_arg, same_utc_month, Date,
    DateArg,
};
pub use holidays::{holiday_on, holidays_of, is_trading_day, Holiday};
pub use js_json::{js_number_to_string, js_object_of, js_stringify, parse_json};
pub use json::Json;
pub use market::{Bar, FearGreed, MarketData};
pub use numbers::{fmt2, parse_float, valid_price};
pub use text::{
    is_js_whitespace, js_lower_case, js_trim, js_upper_case, normalize_ticker, valid_ticker,
};

use serde::{Deserialize, Serialize};
use std::fmt;

/// The ticker every watchlist falls back to when it would otherwise be empty.
pub const DEFAULT_TICKER: &str = "SPY";

/// How long a cached Fear & Greed reading stays valid (legacy §4.8, §10.4): 5 minutes.
pub const CACHE_TTL_MS: i64 = 300_000;

/// The one cache key the bot uses, in KV and in the D1 `cache` table alike.
pub const FEAR_GREED_CACHE_KEY: &str = "fear_greed_cache";

/// A Telegram chat id: the identity of a subscriber, a group included (negative ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatId(i64);

impl ChatId {
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for ChatId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// One element of the stored subscriber list. The legacy list may hold elements that are not
/// chat ids (legacy §4.4, §9.6: a string such as `"blocked_user"`); they are kept verbatim until
/// `/subscribers` finds them unreachable and drops them. Only the KV list can hold strays.
#[derive(Debug, Clone, PartialEq)]
pub enum Subscriber {
    Chat(ChatId),
    /// The element as stored.
    Stray(serde_json::Value),
}

/// The side of a recorded execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SignalType {
    #[serde(rename = "BUY")]
    Buy,
    #[serde(rename = "SELL")]
    Sell,
}

impl SignalType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "BUY" => Some(Self::Buy),
            "SELL" => Some(Self::Sell),
            _ => None,
        }
    }
}

/// Only the strings `"BUY"` and `"SELL"`, as the legacy writes them: the derive would also
/// take an enum's map form (`{"BUY":null}`), an object the legacy bot never sees as `'BUY'`.
impl<'de> Deserialize<'de> for SignalType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let side = String::deserialize(deserializer)?;
        Self::parse(&side).ok_or_else(|| serde::de::Error::unknown_variant(&side, &["BUY", "SELL"]))
    }
}

/// A price as the legacy bot stores it: JSON has no Infinity, so a non-finite price (which
/// `parseFloat("Infinity")` lets through `/execute`) is stored as `null`, i.e. `None`.
pub fn stored_price(price: f64) -> Option<f64> {
    price.is_finite().then_some(price)
}

/// One recorded execution; field order is the legacy JSON key order (§4.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub signal_type: SignalType,
    pub ticker: String,
    /// `None` is the legacy `null` (see [`stored_price`]).
    pub execution_price: Option<f64>,
    /// Milliseconds since the epoch (may be negative for back-dated executions).
    pub execution_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_price: Option<f64>,
}

/// The one open position a chat may hold (§4.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub ticker: String,
    /// `None` is the legacy `null` (see [`stored_price`]).
    pub entry_price: Option<f64>,
}

/// A cached value and when it was written; valid for [`CACHE_TTL_MS`].
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    pub data: serde_json::Value,
    /// Milliseconds since the epoch at write time.
    pub written_at: i64,
}

impl CacheEntry {
    /// The legacy rule: valid while `now - timestamp < 300000`. JavaScript subtracts doubles,
    /// so a timestamp far in the past (a stored `-1e300`, read as `i64::MIN`) is stale, not
    /// an overflow.
    pub fn is_fresh(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.written_at) < CACHE_TTL_MS
    }
}
