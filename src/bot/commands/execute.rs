//! `/execute TICKER PRICE [DATE]` (§3.8, §3.9): validate in the legacy order, enforce the
//! once-per-calendar-month limit, then record a BUY (opening the position) or, when the chat
//! holds this ticker, a SELL (closing it).

use crate::bot::text::{escape_markdown, invalid_ticker, tokens, valid_ticker};
use crate::bot::{Bot, Reply};
use crate::domain::{
    fmt2, month_name, next_month_name, parse_date_arg, same_utc_month, stored_price, valid_price,
    ChatId, Date, DateArg, Execution, SignalType,
};
use crate::storage::StorageError;

const FORMAT: &str = "❌ Invalid format. Use: /execute TICKER PRICE [DATE]\nExample: /execute SPY 400.50\nExample: /execute SPY 400.50 2024-01-15";
const FAILED: &str = "❌ Failed to record execution. Please try again.";

/// A parsed `/execute`, arguments as typed; a fifth token and beyond are ignored.
#[derive(Debug, Clone, PartialEq)]
pub enum Execute {
    BadFormat,
    Record {
        ticker: String,
        price: String,
        date: Option<String>,
    },
}

impl Execute {
    pub(crate) fn parse(text: &str) -> Self {
        match tokens(text).as_slice() {
            [_, ticker, price, rest @ ..] => Self::Record {
                ticker: (*ticker).into(),
                price: (*price).into(),
                date: rest.first().map(|d| (*d).to_owned()),
            },
            _ => Self::BadFormat,
        }
    }

    /// An `Err` is a failed position read, which the legacy bot let escape (HTTP 500).
    pub(super) async fn apply(
        self,
        chat: ChatId,
        bot: &Bot,
        reply: &mut Reply,
    ) -> Result<(), StorageError> {
        let Self::Record {
            ticker,
            price,
            date,
        } = self
        else {
            reply.send(FORMAT);
            return Ok(());
        };
        let Some(ticker) = valid_ticker(&ticker) else {
            reply.send(invalid_ticker(&ticker));
            return Ok(());
        };
        let Some(price) = valid_price(&price) else {
            reply.send(format!(
                "❌ Invalid price: \"{}\". Please provide a positive number.",
                escape_markdown(&price)
            ));
            return Ok(());
        };
        let now = bot.now_ms();
        let execution_date = match date.as_deref().map(parse_date_arg) {
            None => now,
            Some(DateArg::Valid(ms)) => ms,
            Some(DateArg::BadFormat) => {
                reply.send(format!(
                    "❌ Invalid date format: \"{}\". Please use YYYY-MM-DD format (e.g., 2024-01-15).",
                    escape_markdown(date.as_deref().unwrap_or_default())
                ));
                return Ok(());
            }
            Some(DateArg::Invalid) => {
                reply.send(format!(
                    "❌ Invalid date: \"{}\". Please provide a valid date.",
                    escape_markdown(date.as_deref().unwrap_or_default())
                ));
                return Ok(());
            }
        };
        bot.repos.units.before_trade(chat).await;
        if let Some(blocked) = monthly_limit(chat, bot, now).await {
            reply.send(blocked);
            return Ok(());
        }
        let holding = bot.repos.positions.position(chat).await?;
        let side = match holding {
            Some(position) if position.ticker.eq_ignore_ascii_case(&ticker) => SignalType::Sell,
            _ => SignalType::Buy,
        };
        let execution = Execution {
            signal_type: side,
            ticker: ticker.clone(),
            execution_price: stored_price(price),
            execution_date,
            signal_price: None,
        };
        // The execution with its position change (and, for a BUY, the watchlist entry), as one
        // unit; a watchlist step that did not land does not fail the command.
        if let Err(e) = bot.repos.units.trade(chat, &execution).await {
            tracing::error!(chat = %chat, error = %e, "recording an execution failed");
            reply.send(FAILED);
            return Ok(());
        }
        reply.send(recorded(&execution, price));
        Ok(())
    }
}

/// The limit's refusal, if the latest execution is in this UTC month. Fails open: a history
/// that cannot be read does not block.
async fn monthly_limit(chat: ChatId, bot: &Bot, now: i64) -> Option<String> {
    let latest = match bot.repos.executions.latest(chat).await {
        Ok(latest) => latest?,
        Err(e) => {
            tracing::warn!(chat = %chat, error = %e, "monthly limit check failed; allowing the execution");
            return None;
        }
    };
    same_utc_month(latest.execution_date, now).then(|| {
        format!(
            "❌ Trading frequency limit: You already executed a signal in {}. You can execute again in {} (once per calendar month).",
            month_name(Date::from_ms(latest.execution_date).month),
            next_month_name(Date::from_ms(now).month)
        )
    })
}

fn recorded(execution: &Execution, price: f64) -> String {
    let ticker = &execution.ticker;
    let (emoji, closed) = match execution.signal_type {
        SignalType::Buy => ("🟢", String::new()),
        SignalType::Sell => (
            "🔴",
            format!("\n\n✅ All open positions for {ticker} have been closed."),
        ),
    };
    format!(
        "{emoji} *Execution Recorded*\n\n*Signal:* {}\n*Ticker:* {ticker}\n*Price:* ${}{closed}\n\nExecution has been recorded in your history.",
        execution.signal_type.as_str(),
        fmt2(price)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_ticker_and_a_price_and_keeps_an_optional_date() {
        assert_eq!(Execute::parse("/execute SPY"), Execute::BadFormat);
        assert_eq!(Execute::parse("/execute"), Execute::BadFormat);
        assert_eq!(
            Execute::parse("/executeAll spy 400.50abc 2024-01-15 extra"),
            Execute::Record {
                ticker: "spy".into(),
                price: "400.50abc".into(),
                date: Some("2024-01-15".into())
            }
        );
    }
}
