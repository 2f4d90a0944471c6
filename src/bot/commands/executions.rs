//! `/executions [TICKER]` (§3.10): the chat's history, newest first, in the KV-era layout.

use crate::bot::text::{invalid_ticker, tokens, valid_ticker};
use crate::bot::{Bot, Reply};
use crate::domain::{fmt2, format_execution_date, ChatId, Execution, SignalType};

const FAILED: &str = "❌ Failed to retrieve execution history. Please try again.";

/// A parsed `/executions`: the ticker filter as typed, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Executions {
    pub ticker: Option<String>,
}

impl Executions {
    pub(crate) fn parse(text: &str) -> Self {
        Self {
            ticker: tokens(text).get(1).map(|t| (*t).to_owned()),
        }
    }

    pub(super) async fn apply(self, chat: ChatId, bot: &Bot, reply: &mut Reply) {
        let ticker = match self.ticker {
            None => None,
            Some(raw) => match valid_ticker(&raw) {
                Some(ticker) => Some(ticker),
                None => return reply.send(invalid_ticker(&raw)),
            },
        };
        let history = bot.repos.executions.history(chat, ticker.as_deref()).await;
        let formatted = match history
            .map_err(|e| e.to_string())
            .and_then(|h| format_history(&h))
        {
            Ok(formatted) => formatted,
            Err(error) => {
                tracing::error!(chat = %chat, error = %error, "execution history unavailable");
                return reply.send(FAILED);
            }
        };
        reply.send(match ticker {
            Some(ticker) => format!("*Execution History for {ticker}:*\n\n{formatted}"),
            None => format!("*Your Execution History:*\n\n{formatted}"),
        });
    }
}

/// The entries under their count header; an entry without a price (legacy `null`, stored for
/// `Infinity`) cannot be formatted, which fails the whole reply as it did in legacy.
fn format_history(history: &[Execution]) -> Result<String, String> {
    if history.is_empty() {
        return Ok("No executions recorded.".into());
    }
    let header = match history.len() {
        1 => "*Execution History (1 entry):*\n".to_owned(),
        n => format!("*Execution History ({n} entries):*\n"),
    };
    let mut parts = vec![header];
    for execution in history {
        parts.push(format_entry(execution)?);
    }
    Ok(parts.join("\n\n"))
}

fn format_entry(execution: &Execution) -> Result<String, String> {
    let price = execution
        .execution_price
        .ok_or_else(|| format!("execution of {} has no price", execution.ticker))?;
    let emoji = match execution.signal_type {
        SignalType::Buy => "🟢",
        SignalType::Sell => "🔴",
    };
    let signal = match execution.signal_price {
        Some(signal_price) if signal_price != price => {
            let difference = price - signal_price;
            let sign = if difference >= 0.0 { "+" } else { "" };
            format!(
                " (signal: ${}, {sign}{}%)",
                fmt2(signal_price),
                fmt2(difference / signal_price * 100.0)
            )
        }
        _ => String::new(),
    };
    Ok(format!(
        "{emoji} *{}* {} at ${}{signal}\n   📅 {}",
        execution.signal_type.as_str(),
        execution.ticker,
        fmt2(price),
        format_execution_date(execution.execution_date)
    ))
}
