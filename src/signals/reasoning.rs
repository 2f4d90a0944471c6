//! The reasoning texts of legacy §6.7 and §6.8: parts joined with `. `, ending with `.`.
//! Values go through `fmt2`; only the HOLD-with-position texts put a `$` before them.

use super::indicators::{near, Indicators};
use super::signal::{Action, Conditions, ExitTrigger, Holding};
use crate::domain::fmt2;

/// The reasoning of an evaluated signal.
pub(crate) fn explain(
    action: Action,
    p: f64,
    ind: &Indicators,
    conditions: &Conditions,
    holding: Option<&Holding>,
) -> String {
    let parts = match (action, holding) {
        (Action::Buy, _) => buy(p, ind),
        (
            Action::Sell,
            Some(Holding {
                exit: Some(trigger),
                ..
            }),
        ) => sell(*trigger),
        (_, Some(holding)) => hold_with_position(p, ind, holding.entry_price),
        (_, None) => hold_without_position(conditions),
    };
    sentence(&parts)
}

/// The reasoning of the data-unavailable HOLD when only the market data failed.
pub(crate) fn market_unavailable(ticker: &str) -> String {
    format!(
        "HOLD - Insufficient data to evaluate trading conditions. Market data ({ticker} price and indicators) unavailable."
    )
}

/// The reasoning of the data-unavailable HOLD when Fear & Greed failed too.
pub(crate) const ALL_UNAVAILABLE: &str =
    "HOLD - Insufficient data to evaluate trading conditions. Fear & Greed Index data unavailable.";

fn sentence(parts: &[String]) -> String {
    format!("{}.", parts.join(". "))
}

fn buy(p: f64, ind: &Indicators) -> Vec<String> {
    let mut entry = Vec::new();
    if near(p, ind.sma20) && near(p, ind.bb_lower) {
        entry.push(format!(
            "Price within 1% of SMA20 ({}) AND within 1% of BB lower ({})",
            fmt2(ind.sma20),
            fmt2(ind.bb_lower)
        ));
    }
    for (name, sma) in [
        ("SMA50", ind.sma50),
        ("SMA100", ind.sma100),
        ("SMA200", ind.sma200),
    ] {
        if near(p, sma) {
            entry.push(format!("Price within 1% of {name} ({})", fmt2(sma)));
        }
    }
    vec![
        "BUY signal triggered".into(),
        format!("Entry condition met: {}", entry.join(" OR ")),
        "Fear & Greed Index indicates fear/extreme fear".into(),
    ]
}

fn sell(trigger: ExitTrigger) -> Vec<String> {
    let why = match trigger {
        ExitTrigger::BollingerUpper => "Price within 1% or higher than Bollinger Band upper target",
        ExitTrigger::AllTimeHigh => "Price within 1% or higher than all-time high",
    };
    vec!["SELL signal triggered".into(), why.into()]
}

fn hold_with_position(p: f64, ind: &Indicators, entry: f64) -> Vec<String> {
    let mut parts = vec!["HOLD - You have an active position".to_string()];
    let ath = ind.all_time_high;
    if ath == 0.0 {
        parts.push(
            "Waiting for price to reach the configured sell targets before SELL signal".into(),
        );
    } else {
        let ath_at = ath * 0.99;
        let bb_at = ind.bb_upper * 0.99;
        let away = |threshold: f64| (threshold - p) / p * 100.0;
        parts.push(format!(
            "Price has not reached the sell targets (ATH (within 1%): ${} ({}% away); BB upper (within 1%): ${} ({}% away)), currently ${}",
            fmt2(ath_at),
            fmt2(away(ath_at)),
            fmt2(bb_at),
            fmt2(away(bb_at)),
            fmt2(p)
        ));
    }
    if p <= entry {
        parts.push(format!(
            "Holding until the position is back in profit (entry ${}, currently ${}, down {}%)",
            fmt2(entry),
            fmt2(p),
            fmt2((entry - p) / entry * 100.0)
        ));
    }
    parts
}

fn hold_without_position(conditions: &Conditions) -> Vec<String> {
    let mut parts = vec!["HOLD - Entry conditions not met".to_string()];
    if !conditions.a {
        parts.push("Price condition not met (not (price within 1% of SMA20 AND near BB lower) OR price within 1% of SMA50/100/200)".into());
    }
    if !conditions.c {
        parts.push("Fear & Greed Index is not in fear/extreme fear".into());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(level: f64, ath: f64) -> Indicators {
        Indicators {
            sma20: level,
            sma50: level,
            sma100: level,
            sma200: level,
            bb_upper: level,
            bb_middle: level,
            bb_lower: level,
            all_time_high: ath,
        }
    }

    fn holding(entry: f64) -> Holding {
        Holding {
            entry_price: entry,
            sell_target: 0.0,
            bb_sell_target: 0.0,
            exit: None,
        }
    }

    const NO_CONDITIONS: Conditions = Conditions {
        a: false,
        b: false,
        c: false,
    };

    #[test]
    fn a_hold_in_profit_names_both_thresholds_and_may_be_negative() {
        let text = explain(
            Action::Hold,
            100.0,
            &flat(99.0, 150.0),
            &NO_CONDITIONS,
            Some(&holding(90.0)),
        );
        assert_eq!(
            text,
            "HOLD - You have an active position. Price has not reached the sell targets (ATH (within 1%): $148.50 (48.50% away); BB upper (within 1%): $98.01 (-1.99% away)), currently $100.00."
        );
    }

    #[test]
    fn a_zero_ath_replaces_the_thresholds_with_the_waiting_text() {
        let text = explain(
            Action::Hold,
            100.0,
            &flat(99.0, 0.0),
            &NO_CONDITIONS,
            Some(&holding(120.0)),
        );
        assert_eq!(
            text,
            "HOLD - You have an active position. Waiting for price to reach the configured sell targets before SELL signal. Holding until the position is back in profit (entry $120.00, currently $100.00, down 16.67%)."
        );
    }

    #[test]
    fn a_buy_lists_every_met_entry_part_in_order() {
        let ind = Indicators {
            sma20: 100.0,
            sma50: 100.0,
            sma100: 100.0,
            sma200: 100.0,
            bb_upper: 110.0,
            bb_middle: 100.0,
            bb_lower: 90.0,
            all_time_high: 120.0,
        };
        let all = Conditions {
            a: true,
            b: false,
            c: true,
        };
        assert_eq!(
            explain(Action::Buy, 100.0, &ind, &all, None),
            "BUY signal triggered. Entry condition met: Price within 1% of SMA50 (100.00) OR Price within 1% of SMA100 (100.00) OR Price within 1% of SMA200 (100.00). Fear & Greed Index indicates fear/extreme fear."
        );
    }

    #[test]
    fn a_hold_without_position_names_only_the_failed_conditions() {
        let only_a_failed = Conditions {
            a: false,
            b: false,
            c: true,
        };
        assert_eq!(
            explain(Action::Hold, 1.0, &flat(1.0, 1.0), &only_a_failed, None),
            "HOLD - Entry conditions not met. Price condition not met (not (price within 1% of SMA20 AND near BB lower) OR price within 1% of SMA50/100/200)."
        );
    }

    #[test]
    fn unavailable_reasonings_match_the_catalogue() {
        assert_eq!(
            market_unavailable("SPY"),
            "HOLD - Insufficient data to evaluate trading conditions. Market data (SPY price and indicators) unavailable."
        );
        assert!(ALL_UNAVAILABLE.ends_with("Fear & Greed Index data unavailable."));
    }
}
