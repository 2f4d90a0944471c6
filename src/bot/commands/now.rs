//! `/now [TICKER]` (§3.6): the signal for one ticker or for every ticker of the watchlist,
//! sent even on weekends and holidays, then the "Market Closed" notice on a holiday.

use crate::bot::alerts::Alerts;
use crate::bot::text::{invalid_ticker, tokens, valid_ticker};
use crate::bot::{Bot, Reply};
use crate::domain::{holiday_on, ChatId, Date};
use crate::signals::{all_unavailable, header};
use crate::storage::StorageError;

/// A parsed `/now`: the ticker as typed, if any (the command token itself is discarded, so
/// `/nowSPY` has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Now {
    pub ticker: Option<String>,
}

impl Now {
    pub(crate) fn parse(text: &str) -> Self {
        Self {
            ticker: tokens(text).get(1).map(|t| (*t).to_owned()),
        }
    }

    /// An `Err` is a failed watchlist re-read on the error path, which the legacy bot let
    /// escape from its error handler (HTTP 500).
    pub(super) async fn apply(
        self,
        chat: ChatId,
        bot: &Bot,
        reply: &mut Reply,
    ) -> Result<(), StorageError> {
        let explicit = match self.ticker {
            None => None,
            Some(raw) => match valid_ticker(&raw) {
                Some(ticker) => Some(ticker),
                None => {
                    reply.send(invalid_ticker(&raw));
                    return Ok(());
                }
            },
        };
        let holiday = holiday_on(Date::from_ms(bot.now_ms()));
        if let Err(error) = signals(chat, bot, explicit.as_deref(), reply).await {
            tracing::error!(chat = %chat, error = %error, "/now failed; sending the data-unavailable HOLD");
            let tickers = match explicit {
                Some(ticker) => vec![ticker],
                None => bot.repos.watchlists.watchlist(chat).await?,
            };
            for ticker in &tickers {
                reply.send(all_unavailable(ticker));
            }
            reply.notify_admin(bot, &error);
        }
        if let Some(holiday) = holiday {
            reply.send(format!(
                "\n\n⚠️ *Market Closed*: US stock markets are closed today for {}.",
                holiday.name
            ));
        }
        Ok(())
    }
}

/// Steps a–d of §3.6; an `Err` (no Fear & Greed reading, no watchlist) is the error path.
async fn signals(
    chat: ChatId,
    bot: &Bot,
    explicit: Option<&str>,
    reply: &mut Reply,
) -> Result<(), String> {
    let fear_greed = bot
        .market
        .fear_greed(bot.repos.cache.as_ref())
        .await
        .map_err(|e| e.0)?;
    // Read even with an explicit ticker: it creates the default watchlist, as legacy did.
    let watchlist = bot
        .repos
        .watchlists
        .watchlist(chat)
        .await
        .map_err(|e| e.to_string())?;
    let tickers = match explicit {
        Some(ticker) => vec![ticker.to_owned()],
        None => watchlist,
    };
    let header = header(&fear_greed);
    let with_header = (explicit.is_some() || fear_greed.is_fear()).then_some(header.as_str());
    for message in Alerts::new(bot)
        .messages(chat, &tickers, &fear_greed, with_header)
        .await
    {
        reply.send(message);
    }
    Ok(())
}
