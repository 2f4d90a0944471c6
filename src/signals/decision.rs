//! Conditions A/B/C (legacy §6.3) and the BUY/SELL/HOLD decision with its exits (§6.4).

use super::indicators::{near, Indicators};
use super::reasoning;
use super::signal::{Action, Conditions, ExitTrigger, Holding, Signal};
use super::SignalError;
use crate::domain::js_upper_case;
use crate::domain::{FearGreed, MarketData, Position};

/// Evaluates the legacy signal for `ticker`, honouring `position` only when it is in this
/// ticker (case-insensitive).
///
/// Fails with fewer than 20 bars, and when the position in this ticker has no entry price
/// (the legacy `null` that `/execute SPY Infinity` stores); callers then send the
/// data-unavailable HOLD ([`super::market_unavailable`]).
pub(crate) fn evaluate(
    ticker: &str,
    market: &MarketData,
    fear_greed: &FearGreed,
    position: Option<&Position>,
) -> Result<Signal, SignalError> {
    let indicators = Indicators::from_bars(&market.bars)?;
    let p = market.current_price;
    let conditions = conditions(p, &indicators, fear_greed);

    let held = position.filter(|pos| js_upper_case(&pos.ticker) == js_upper_case(ticker));
    let (action, holding) = match held {
        None => {
            let action = if conditions.a && conditions.c {
                Action::Buy
            } else {
                Action::Hold
            };
            (action, None)
        }
        Some(pos) => {
            let entry = pos
                .entry_price
                .ok_or_else(|| SignalError::MissingEntryPrice {
                    ticker: pos.ticker.clone(),
                })?;
            let holding = exit_plan(p, entry, &indicators);
            let action = if holding.exit.is_some() {
                Action::Sell
            } else {
                Action::Hold
            };
            (action, Some(holding))
        }
    };

    let reasoning = reasoning::explain(action, p, &indicators, &conditions, holding.as_ref());
    Ok(Signal {
        ticker: ticker.into(),
        action,
        price: p,
        indicators,
        conditions,
        fear_greed: fear_greed.clone(),
        holding,
        reasoning,
    })
}

impl Signal {
    /// The data-unavailable HOLD: price 0, every indicator 0 (§6.8).
    pub(crate) fn market_unavailable(ticker: &str, fear_greed: &FearGreed) -> Self {
        Self {
            ticker: ticker.into(),
            action: Action::Hold,
            price: 0.0,
            indicators: Indicators::ZERO,
            conditions: Conditions {
                a: false,
                b: false,
                c: fear_greed.is_fear(),
            },
            fear_greed: fear_greed.clone(),
            holding: None,
            reasoning: reasoning::market_unavailable(ticker),
        }
    }
}

fn conditions(p: f64, ind: &Indicators, fear_greed: &FearGreed) -> Conditions {
    let b = near(p, ind.bb_lower);
    Conditions {
        a: (near(p, ind.sma20) && b)
            || near(p, ind.sma50)
            || near(p, ind.sma100)
            || near(p, ind.sma200),
        b,
        c: fear_greed.is_fear(),
    }
}

/// A held position never becomes a BUY: it is a SELL once in profit and within 1% of the
/// ATH or the upper band, otherwise a HOLD aiming at the ATH.
fn exit_plan(p: f64, entry: f64, ind: &Indicators) -> Holding {
    let upper = ind.bb_upper;
    let ath = ind.all_time_high;
    let bb_sell_target = upper * 1.01;
    let profit = p > entry;
    let ath_reached = p >= ath * 0.99;
    let bb_reached = p >= upper * 0.99;

    let exit = match (profit, ath_reached, bb_reached) {
        (true, true, true) if p >= upper => Some(ExitTrigger::BollingerUpper),
        (true, true, _) => Some(ExitTrigger::AllTimeHigh),
        (true, false, true) => Some(ExitTrigger::BollingerUpper),
        _ => None,
    };
    let sell_target = match exit {
        Some(ExitTrigger::BollingerUpper) => bb_sell_target,
        Some(ExitTrigger::AllTimeHigh) | None => ath,
    };
    Holding {
        entry_price: entry,
        sell_target,
        bb_sell_target,
        exit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::fixtures::{fear_greed, flat_bars, linear_bars, market, position};

    fn eval(market: &MarketData, fg: &FearGreed, pos: Option<&Position>) -> Signal {
        evaluate("SPY", market, fg, pos).expect("evaluates")
    }

    /// The §9.11 fixture: linear bars for 495 with the last high raised so that ATH = 500.
    fn linear_495_with_ath_500() -> MarketData {
        let mut bars = linear_bars(495.0);
        bars.last_mut().unwrap().high = 500.0;
        market(495.0, bars)
    }

    #[test]
    fn price_380_under_linear_400_bars_in_fear_is_a_buy() {
        let s = eval(
            &market(380.0, linear_bars(400.0)),
            &fear_greed("Fear", 25.123),
            None,
        );
        assert_eq!(s.action, Action::Buy);
        assert_eq!(
            s.conditions,
            Conditions {
                a: true,
                b: true,
                c: true
            }
        );
        assert_eq!(s.holding, None);
    }

    #[test]
    fn the_same_data_in_greed_is_a_hold_with_c_false() {
        let s = eval(
            &market(380.0, linear_bars(400.0)),
            &fear_greed("Greed", 70.0),
            None,
        );
        assert_eq!(s.action, Action::Hold);
        assert_eq!(
            s.conditions,
            Conditions {
                a: true,
                b: true,
                c: false
            }
        );
    }

    #[test]
    fn greed_never_buys() {
        let s = eval(
            &market(450.0, linear_bars(450.0)),
            &fear_greed("Greed", 75.0),
            None,
        );
        assert!(!s.conditions.c);
        assert_eq!(s.action, Action::Hold);
    }

    #[test]
    fn a_held_position_is_never_bought_even_in_extreme_fear() {
        let pos = position("SPY", 400.0);
        let fg = fear_greed("Extreme Fear", 10.0);
        let s = eval(&market(500.0, linear_bars(500.0)), &fg, Some(&pos));
        assert!(s.conditions.c);
        assert_ne!(s.action, Action::Buy);
        assert_eq!(s.holding.unwrap().entry_price, 400.0);
    }

    #[test]
    fn reaching_the_ath_below_the_upper_band_sells_at_the_ath() {
        let pos = position("SPY", 400.0);
        let s = eval(
            &linear_495_with_ath_500(),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        assert_eq!(s.action, Action::Sell);
        let h = s.holding.unwrap();
        assert_eq!(h.exit, Some(ExitTrigger::AllTimeHigh));
        assert_eq!((h.sell_target, h.entry_price), (500.0, 400.0));
    }

    #[test]
    fn a_spike_in_the_highs_leaves_only_the_band_trigger() {
        let mut bars = flat_bars(40, 90.0, 95.0);
        bars.last_mut().unwrap().high = 250.0;
        let pos = position("SPY", 90.0);
        let s = eval(
            &market(150.0, bars),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        assert_eq!(s.action, Action::Sell);
        let h = s.holding.unwrap();
        assert_eq!(h.exit, Some(ExitTrigger::BollingerUpper));
        assert_eq!(h.sell_target, 90.0 * 1.01);
        assert_eq!(h.sell_target, h.bb_sell_target);
    }

    #[test]
    fn both_triggers_below_the_upper_band_pick_the_ath() {
        let pos = position("SPY", 90.0);
        let s = eval(
            &market(99.5, flat_bars(40, 100.0, 100.2)),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        let h = s.holding.unwrap();
        assert_eq!(h.exit, Some(ExitTrigger::AllTimeHigh));
        assert_eq!((h.sell_target, h.bb_sell_target), (100.2, 100.0 * 1.01));
    }

    #[test]
    fn both_triggers_at_or_above_the_upper_band_pick_the_band() {
        let pos = position("SPY", 100.0);
        let s = eval(
            &market(150.0, flat_bars(40, 120.0, 150.0)),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        assert_eq!(s.action, Action::Sell);
        let h = s.holding.unwrap();
        assert_eq!(h.exit, Some(ExitTrigger::BollingerUpper));
        assert_eq!(h.sell_target, 120.0 * 1.01);
        assert_eq!(crate::domain::fmt2(h.sell_target), "121.20");
    }

    #[test]
    fn a_price_exactly_on_the_upper_band_counts_as_at_or_above_it() {
        let pos = position("SPY", 100.0);
        let data = market(120.0, flat_bars(40, 120.0, 121.0));
        let s = eval(&data, &fear_greed("Neutral", 50.0), Some(&pos));
        assert_eq!(s.holding.unwrap().exit, Some(ExitTrigger::BollingerUpper));
        let s = eval(
            &market(119.99, data.bars),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        assert_eq!(s.holding.unwrap().exit, Some(ExitTrigger::AllTimeHigh));
    }

    #[test]
    fn targets_reached_without_profit_hold_at_the_ath() {
        let pos = position("SPY", 220.0);
        let s = eval(
            &market(150.0, flat_bars(40, 140.0, 150.0)),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        assert_eq!(s.action, Action::Hold);
        let h = s.holding.unwrap();
        assert_eq!((h.exit, h.sell_target), (None, 150.0));
        assert!(s.reasoning.contains("back in profit"));
    }

    #[test]
    fn a_position_above_the_price_holds_even_at_the_ath() {
        let pos = position("SPY", 500.0);
        let s = eval(
            &linear_495_with_ath_500(),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        assert_eq!(s.action, Action::Hold);
        assert_eq!(s.holding.unwrap().exit, None);
    }

    #[test]
    fn a_position_at_200_with_price_150_holds() {
        let pos = position("SPY", 200.0);
        let s = eval(
            &market(150.0, linear_bars(150.0)),
            &fear_greed("Fear", 25.0),
            Some(&pos),
        );
        assert_eq!(s.action, Action::Hold);
        assert_eq!(s.holding.unwrap().exit, None);
    }

    #[test]
    fn profit_is_strict_so_selling_at_the_entry_price_holds() {
        let pos = position("SPY", 150.0);
        let s = eval(
            &market(150.0, flat_bars(40, 120.0, 150.0)),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        assert_eq!(s.action, Action::Hold);
    }

    #[test]
    fn a_position_matches_the_ticker_case_insensitively() {
        let pos = position("spy", 90.0);
        let s = eval(
            &market(150.0, flat_bars(40, 90.0, 95.0)),
            &fear_greed("Neutral", 50.0),
            Some(&pos),
        );
        assert_eq!(s.action, Action::Sell);
    }

    #[test]
    fn a_position_in_another_ticker_is_ignored() {
        let pos = position("AAPL", 1.0);
        let fg = fear_greed("Fear", 25.0);
        let s = eval(&market(380.0, linear_bars(400.0)), &fg, Some(&pos));
        assert_eq!((s.action, s.holding), (Action::Buy, None));
    }

    #[test]
    fn a_null_entry_price_in_this_ticker_is_an_error_not_a_panic() {
        let pos = Position {
            ticker: "SPY".into(),
            entry_price: None,
        };
        let data = market(380.0, linear_bars(400.0));
        let err = evaluate("SPY", &data, &fear_greed("Fear", 25.0), Some(&pos)).unwrap_err();
        assert_eq!(
            err,
            SignalError::MissingEntryPrice {
                ticker: "SPY".into()
            }
        );
        // In another ticker the null does not matter.
        let other = Position {
            ticker: "AAPL".into(),
            ..pos
        };
        assert!(evaluate("SPY", &data, &fear_greed("Fear", 25.0), Some(&other)).is_ok());
    }

    #[test]
    fn too_few_bars_fail_the_evaluation() {
        let err = evaluate(
            "SPY",
            &market(100.0, flat_bars(19, 100.0, 100.0)),
            &fear_greed("Fear", 25.0),
            None,
        )
        .unwrap_err();
        assert_eq!(err, SignalError::InsufficientData(19));
    }

    #[test]
    fn condition_a_holds_near_sma50_even_far_from_the_lower_band() {
        // 30 closes of 200 then 20 of 100: SMA20 = lower = 100, SMA50 = 160.
        let closes: Vec<f64> = [vec![200.0; 30], vec![100.0; 20]].concat();
        let bars = crate::signals::fixtures::bars_from_closes(&closes);
        let s = eval(
            &market(150.0, bars.clone()),
            &fear_greed("Fear", 25.0),
            None,
        );
        assert_eq!(
            s.conditions,
            Conditions {
                a: true,
                b: false,
                c: true
            }
        );
        assert_eq!(s.action, Action::Buy);
        let s = eval(&market(170.0, bars), &fear_greed("Fear", 25.0), None);
        assert_eq!(
            s.conditions,
            Conditions {
                a: false,
                b: false,
                c: true
            }
        );
        assert_eq!(s.action, Action::Hold);
    }
}
