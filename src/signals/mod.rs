//! The legacy trading signal (legacy §6): indicators from daily bars, conditions A/B/C, the
//! BUY/SELL/HOLD decision with its exits, and the byte-exact texts users receive.
//!
//! # Layout
//!
//! - `indicators`: SMA 20/50/100/200 (short-history fallback), Bollinger bands, the window's ATH.
//! - `signal`: the [`Signal`](signal::Signal) and its parts ([`Action`](signal::Action),
//!   [`Conditions`](signal::Conditions), [`Holding`](signal::Holding)).
//! - `decision`: conditions A/B/C and the decision: [`evaluate`].
//! - `reasoning`: the `*Reasoning:*` sentences.
//! - `message`: [`signal_message`] and the two data-unavailable HOLDs.
//! - `header`: the Fear & Greed [`header()`] with its QuickChart [`chart_url`](header::chart_url).
//!
//! Callers evaluate each ticker, fall back to [`market_unavailable`] on any [`SignalError`],
//! and prefix [`header()`] with [`with_header`] where §3.6 and §8.3 say so.

mod decision;
mod header;
mod indicators;
mod message;
mod reasoning;
mod signal;

#[cfg(test)]
mod dumps;
#[cfg(test)]
mod fixtures;

pub(crate) use decision::evaluate;
pub(crate) use header::{header, with_header};
pub(crate) use message::{all_unavailable, market_unavailable, signal_message};

/// Why a ticker could not be evaluated; every variant leads to the data-unavailable HOLD.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum SignalError {
    /// Fewer than [`MIN_BARS`](indicators::MIN_BARS) bars; the legacy error text, with the count.
    #[error("Insufficient historical data: need at least 20 days for basic indicators, got {0}")]
    InsufficientData(usize),
    /// The chat's position in this ticker has a `null` entry price (stored by
    /// `/execute SPY Infinity`), which the legacy message could not format.
    #[error("Active position for {ticker} has no entry price")]
    MissingEntryPrice { ticker: String },
}
