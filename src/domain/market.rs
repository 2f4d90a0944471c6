//! Market inputs of the signal algorithm, as the market-data clients deliver them.

/// One daily bar of the Yahoo chart (legacy §5.4); bars are kept only when complete.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Seconds since the epoch.
    pub timestamp: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// A ticker's current price and its daily history, oldest bar first.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketData {
    /// Yahoo's `regularMarketPrice`, not the last close.
    pub current_price: f64,
    pub bars: Vec<Bar>,
}

/// The Fear & Greed reading the signals use: the rating as CNN wrote it, and the score.
#[derive(Debug, Clone, PartialEq)]
pub struct FearGreed {
    pub rating: String,
    pub score: f64,
}

impl FearGreed {
    /// Condition C (legacy §6.3): the rating, lower-cased, is `fear` or `extreme fear`.
    pub(crate) fn is_fear(&self) -> bool {
        matches!(
            super::js_lower_case(&self.rating).as_str(),
            "fear" | "extreme fear"
        )
    }
}
