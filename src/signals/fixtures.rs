//! Test inputs: the bar series of legacy §9 and Appendix A, and the Fear & Greed readings.

use crate::domain::{Bar, FearGreed, MarketData, Position};

/// A daily timestamp (seconds) for bar `i`; the algorithm never reads it.
fn day(i: usize) -> i64 {
    1_700_000_000 + i as i64 * 86_400
}

/// Bars whose open, high and low all equal the close.
pub(crate) fn bars_from_closes(closes: &[f64]) -> Vec<Bar> {
    closes
        .iter()
        .enumerate()
        .map(|(i, &close)| Bar {
            timestamp: day(i),
            open: close,
            high: close,
            low: close,
            close,
            volume: 1e6,
        })
        .collect()
}

/// `n` bars with the same close and the same high (A.3–A.6).
pub(crate) fn flat_bars(n: usize, close: f64, high: f64) -> Vec<Bar> {
    let mut bars = bars_from_closes(&vec![close; n]);
    for bar in &mut bars {
        bar.high = high;
    }
    bars
}

/// A bar derived from its close the way the §9 Yahoo fixture derives it.
fn yahoo_bar(i: usize, close: f64) -> Bar {
    Bar {
        timestamp: day(i),
        open: close * 0.999,
        high: close * 1.01,
        low: close * 0.99,
        close,
        volume: 1e6,
    }
}

/// The §9 "linear" series: 200 bars with `close_i = base - (200 - i)·0.5`.
pub(crate) fn linear_bars(base: f64) -> Vec<Bar> {
    (0..200)
        .map(|i| yahoo_bar(i, base - (200 - i) as f64 * 0.5))
        .collect()
}

/// The §9.10 sine series: `close_i = 100 + 10·sin(i/10) + 0.1·i` for `i` in `0..n`.
pub(crate) fn sine_bars(n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let x = i as f64;
            yahoo_bar(i, 100.0 + 10.0 * (x / 10.0).sin() + 0.1 * x)
        })
        .collect()
}

pub(crate) fn market(current_price: f64, bars: Vec<Bar>) -> MarketData {
    MarketData {
        current_price,
        bars,
    }
}

pub(crate) fn fear_greed(rating: &str, score: f64) -> FearGreed {
    FearGreed {
        rating: rating.into(),
        score,
    }
}

pub(crate) fn position(ticker: &str, entry_price: f64) -> Position {
    Position {
        ticker: ticker.into(),
        entry_price: Some(entry_price),
    }
}
