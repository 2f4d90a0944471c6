//! The indicators of legacy §6.2: SMA 20/50/100/200 over the last closes, Bollinger bands
//! (SMA20 ± 2 population σ) and the "all-time high" of the fetched window.
//!
//! Sums run left to right from 0, as JavaScript's `reduce` does, so every value is the same
//! double the legacy bot computed (the messages print them, and conditions compare them).

use super::SignalError;
use crate::domain::Bar;

/// "Within 1%" means at most 1% above the level.
pub(crate) fn near(p: f64, level: f64) -> bool {
    p <= level * 1.01
}

/// The fewest bars an evaluation accepts (SMA20 and the bands need 20 closes).
pub(crate) const MIN_BARS: usize = 20;

/// The values the signal message shows and the decision compares, for one ticker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Indicators {
    pub sma20: f64,
    /// Over `min(50, bars)` closes: short histories silently use the shorter window.
    pub sma50: f64,
    pub sma100: f64,
    pub sma200: f64,
    pub bb_upper: f64,
    /// Always equal to `sma20`.
    pub bb_middle: f64,
    pub bb_lower: f64,
    /// The highest `high` of the fetched window (about 300 calendar days), not a true ATH.
    pub all_time_high: f64,
}

impl Indicators {
    /// Every indicator 0: the data-unavailable HOLD (legacy §6.8).
    pub(crate) const ZERO: Self = Self {
        sma20: 0.0,
        sma50: 0.0,
        sma100: 0.0,
        sma200: 0.0,
        bb_upper: 0.0,
        bb_middle: 0.0,
        bb_lower: 0.0,
        all_time_high: 0.0,
    };

    /// Computes the indicators from bars in ascending date order.
    pub(crate) fn from_bars(bars: &[Bar]) -> Result<Self, SignalError> {
        if bars.len() < MIN_BARS {
            return Err(SignalError::InsufficientData(bars.len()));
        }
        let closes: Vec<f64> = bars.iter().map(|bar| bar.close).collect();
        let sma20 = sma(&closes, 20);
        let sigma = population_std_dev(last(&closes, 20), sma20);
        Ok(Self {
            sma20,
            sma50: sma(&closes, 50),
            sma100: sma(&closes, 100),
            sma200: sma(&closes, 200),
            bb_upper: sma20 + 2.0 * sigma,
            bb_middle: sma20,
            bb_lower: sma20 - 2.0 * sigma,
            all_time_high: bars
                .iter()
                .map(|bar| bar.high)
                .fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// The data-unavailable marker: all four SMAs 0 (legacy §6.8; the price is checked too).
    pub(crate) fn smas_are_zero(&self) -> bool {
        [self.sma20, self.sma50, self.sma100, self.sma200]
            .iter()
            .all(|&v| v == 0.0)
    }
}

/// The last `min(n, len)` values.
fn last(values: &[f64], n: usize) -> &[f64] {
    &values[values.len().saturating_sub(n)..]
}

fn sum(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |acc, &v| acc + v)
}

/// The mean of the last `period` closes, or of all of them when there are fewer.
fn sma(closes: &[f64], period: usize) -> f64 {
    let window = last(closes, period);
    sum(window) / window.len() as f64
}

/// σ divided by N (not N - 1), around the given mean.
fn population_std_dev(window: &[f64], mean: f64) -> f64 {
    let squares = window.iter().fold(0.0, |acc, &v| {
        let d = v - mean;
        acc + d * d
    });
    (squares / window.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::fixtures::{bars_from_closes, linear_bars, sine_bars};

    fn indicators(bars: &[Bar]) -> Indicators {
        Indicators::from_bars(bars).expect("enough bars")
    }

    #[test]
    fn one_outlier_among_twenty_gives_the_spec_bands() {
        let mut closes = vec![10.0; 19];
        closes.push(30.0);
        let got = indicators(&bars_from_closes(&closes));
        assert_eq!(got.sma20, 11.0);
        assert_eq!(got.sma50, 11.0);
        assert_eq!(got.sma100, 11.0);
        assert_eq!(got.sma200, 11.0);
        assert_eq!(got.bb_upper, 19.717797887081346);
        assert_eq!(got.bb_middle, 11.0);
        assert_eq!(got.bb_lower, 2.282202112918652);
        assert_eq!(got.bb_upper, 11.0 + 2.0 * 19f64.sqrt(), "σ = √19");
    }

    #[test]
    fn flat_closes_collapse_the_bands_onto_the_smas() {
        let got = indicators(&bars_from_closes(&[100.0; 200]));
        for v in [got.sma20, got.sma50, got.sma100, got.sma200] {
            assert_eq!(v, 100.0);
        }
        assert_eq!(
            (got.bb_upper, got.bb_middle, got.bb_lower),
            (100.0, 100.0, 100.0)
        );
    }

    #[test]
    fn linear_series_for_price_400_gives_the_spec_values() {
        let got = indicators(&linear_bars(400.0));
        assert_eq!(got.sma20, 394.75);
        assert_eq!(got.sma50, 387.25);
        assert_eq!(got.sma100, 374.75);
        assert_eq!(got.sma200, 349.75);
        assert_eq!(got.bb_upper, 400.5162812973354);
        assert_eq!(got.bb_middle, 394.75);
        assert_eq!(got.bb_lower, 388.9837187026646);
        // high = close · 1.01 of the last bar (399.5).
        assert_eq!(got.all_time_high, 399.5 * 1.01);
    }

    #[test]
    fn sine_series_of_200_bars_gives_the_spec_values() {
        let got = indicators(&sine_bars(200));
        assert_eq!(got.sma20, 119.79413895488048);
        assert_eq!(got.sma50, 115.09014091734744);
        assert_eq!(got.sma100, 113.6310375589454);
        assert_eq!(got.sma200, 110.22288866423571);
        assert_eq!(got.bb_upper, 131.33346824120736);
        assert_eq!(got.bb_middle, got.sma20);
        assert_eq!(got.bb_lower, 108.2548096685536);
        assert!(got.sma200 < got.sma20);
        assert!(got.bb_upper > got.bb_middle && got.bb_middle > got.bb_lower);
    }

    #[test]
    fn fifty_bars_make_sma100_and_sma200_fall_back_to_fifty_closes() {
        let got = indicators(&sine_bars(50));
        assert_eq!(got.sma20, 97.86204543956406);
        assert_eq!(got.sma50, 103.97737396115218);
        assert_eq!(got.sma100, 103.97737396115218);
        assert_eq!(got.sma200, 103.97737396115218);
        assert_eq!(got.bb_upper, 104.23847166158322);
        assert_eq!(got.bb_lower, 91.4856192175449);
    }

    #[test]
    fn nineteen_bars_are_insufficient_with_the_legacy_text() {
        let err = Indicators::from_bars(&bars_from_closes(&[100.0; 19])).unwrap_err();
        assert_eq!(err, SignalError::InsufficientData(19));
        assert_eq!(
            err.to_string(),
            "Insufficient historical data: need at least 20 days for basic indicators, got 19"
        );
    }

    #[test]
    fn exactly_twenty_bars_are_enough() {
        let got = indicators(&bars_from_closes(&[5.0; 20]));
        assert_eq!(got.sma200, 5.0);
    }

    #[test]
    fn the_all_time_high_is_the_highest_high_not_the_highest_close() {
        let mut bars = bars_from_closes(&[90.0; 40]);
        bars[3].high = 123.0;
        assert_eq!(indicators(&bars).all_time_high, 123.0);
    }
}
