//! The signal procedure shared by `/now` and the broadcasts (§3.6 d, §8.3 step 4): for one
//! chat and its tickers, evaluate each signal with the chat's own position and format it;
//! any failure for a ticker gives that ticker the "market data unavailable" HOLD.

use super::Bot;
use crate::domain::{ChatId, FearGreed, MarketData, Position};
use crate::market::MarketError;
use crate::signals::{evaluate, market_unavailable, signal_message, with_header};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Signal messages for one update or one broadcast run.
///
/// A chart depends on the ticker only, so it is fetched once per run and shared by every chat
/// that watches the ticker; the legacy bot fetched it per chat and ticker, and §10.7 allows
/// caching as long as every message stays the same. A failed fetch is not remembered: the next
/// chat watching the ticker asks again, as legacy did.
pub(crate) struct Alerts<'a> {
    bot: &'a Bot,
    charts: RefCell<HashMap<String, Rc<MarketData>>>,
}

impl<'a> Alerts<'a> {
    pub(crate) fn new(bot: &'a Bot) -> Self {
        Self {
            bot,
            charts: RefCell::default(),
        }
    }

    /// One message per ticker, in order: `header + "\n\n" + signal` when a header is given,
    /// the signal alone otherwise.
    pub(crate) async fn messages(
        &self,
        chat: ChatId,
        tickers: &[String],
        fear_greed: &FearGreed,
        header: Option<&str>,
    ) -> Vec<String> {
        // The position is read once per chat, not per ticker; if it cannot be read, no signal
        // can be evaluated for this chat.
        let position = self.bot.repos.positions.position(chat).await.map_err(|e| {
            tracing::warn!(chat = %chat, error = %e, "position read failed; signals unavailable");
        });
        self.messages_at(
            position.as_ref().map(Option::as_ref),
            tickers,
            fear_greed,
            header,
        )
        .await
    }

    /// [`Alerts::messages`] for a chat whose position is known (`Err`: unreadable).
    pub(crate) async fn messages_at(
        &self,
        position: Result<Option<&Position>, &()>,
        tickers: &[String],
        fear_greed: &FearGreed,
        header: Option<&str>,
    ) -> Vec<String> {
        let mut messages = Vec::with_capacity(tickers.len());
        for ticker in tickers {
            let body = match position {
                Ok(position) => self.signal(ticker, fear_greed, position).await,
                Err(()) => market_unavailable(ticker, fear_greed),
            };
            messages.push(match header {
                Some(header) => with_header(header, &body),
                None => body,
            });
        }
        messages
    }

    async fn signal(
        &self,
        ticker: &str,
        fear_greed: &FearGreed,
        position: Option<&Position>,
    ) -> String {
        let evaluated = match self.chart(ticker).await {
            Ok(market) => {
                evaluate(ticker, &market, fear_greed, position).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.0),
        };
        match evaluated {
            Ok(signal) => signal_message(&signal),
            Err(error) => {
                tracing::warn!(ticker, error = %error, "signal unavailable");
                market_unavailable(ticker, fear_greed)
            }
        }
    }

    async fn chart(&self, ticker: &str) -> Result<Rc<MarketData>, MarketError> {
        if let Some(known) = self.charts.borrow().get(ticker) {
            return Ok(known.clone());
        }
        let fetched = Rc::new(self.bot.market.chart(ticker).await?);
        self.charts
            .borrow_mut()
            .insert(ticker.to_owned(), fetched.clone());
        Ok(fetched)
    }
}
