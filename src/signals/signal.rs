//! The signal and its parts: the action, conditions A/B/C, a held position's exit plan.

use super::indicators::Indicators;
use crate::domain::FearGreed;

/// What the signal tells the user to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Buy,
    Sell,
    Hold,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
            Self::Hold => "HOLD",
        }
    }

    pub(crate) fn emoji(self) -> &'static str {
        match self {
            Self::Buy => "🟢",
            Self::Sell => "🔴",
            Self::Hold => "🟡",
        }
    }
}

/// Which target made a held position a SELL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitTrigger {
    BollingerUpper,
    AllTimeHigh,
}

/// The three conditions the message shows; only A and C take part in the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conditions {
    /// "New BUY formula": near SMA20 and the lower band, or near SMA50/100/200.
    pub a: bool,
    /// "Price near BB Lower": displayed only.
    pub b: bool,
    /// "Fear/Extreme Fear".
    pub c: bool,
}

/// The exit plan of a position held in the evaluated ticker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Holding {
    pub entry_price: f64,
    /// ATH for a HOLD or an ATH exit, `upper·1.01` for a Bollinger exit.
    pub sell_target: f64,
    /// Always `upper·1.01`; shown separately only when it differs from `sell_target`.
    pub bb_sell_target: f64,
    /// `Some` exactly when the action is SELL.
    pub exit: Option<ExitTrigger>,
}

impl Holding {
    /// The label of the `🎯` sell-target line.
    pub(crate) fn sell_target_label(&self) -> &'static str {
        match self.exit {
            None => "Sell Target",
            Some(ExitTrigger::BollingerUpper) => "Sell Target (BB Upper)",
            Some(ExitTrigger::AllTimeHigh) => "Sell Target (ATH)",
        }
    }
}

/// One evaluated trading signal: everything the signal message (§6.6) prints.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Signal {
    /// As the caller gave it; the message inserts it unchanged.
    pub ticker: String,
    pub action: Action,
    /// `regularMarketPrice`, not the last close.
    pub price: f64,
    pub indicators: Indicators,
    pub conditions: Conditions,
    pub fear_greed: FearGreed,
    /// `Some` when the chat holds a position in this ticker.
    pub holding: Option<Holding>,
    /// The complete reasoning sentence(s), ending with `.` (§6.7).
    pub reasoning: String,
}

impl Signal {
    /// How formatting recognises the data-unavailable HOLD: price 0 and all four SMAs 0.
    pub(crate) fn is_data_unavailable(&self) -> bool {
        self.price == 0.0 && self.indicators.smas_are_zero()
    }
}
