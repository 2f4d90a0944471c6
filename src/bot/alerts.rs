//! The signal procedure shared by `/now` and the broadcasts (§3.6 d, §8.3 step 4): for one
//! chat and its tickers, evaluate each signal with the chat's own position and format it;
//! any failure for a ticker gives that ticker the "market data unavailable" HOLD.

use super::Bot;
use crate::domain::{ChatId, FearGreed, MarketData, Position};
use crate::market::MarketError;
use crate::signals::{evaluate, market_unavailable, signal_message, with_header};
use async_trait::async_trait;
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
    /// A queued run's charts, kept across its consumer invocations; `None` inline and for `/now`.
    run: Option<&'a dyn RunCharts>,
}

/// Where a queued broadcast run keeps the charts its chats are evaluated on: a run spans many
/// consumer invocations, and each chat must get the signal the inline run would have sent, on
/// the one chart of the run (docs/broadcast-queue.md, "Charts").
#[async_trait(?Send)]
pub(crate) trait RunCharts {
    /// The chart kept for `ticker`; `None` when there is none or it cannot be read.
    async fn kept(&self, ticker: &str) -> Option<MarketData>;
    /// Keeps `fetched` for `ticker` unless a chart was kept first; the one kept (`fetched` when
    /// it cannot be written).
    async fn keep(&self, ticker: &str, fetched: MarketData) -> MarketData;
}

impl<'a> Alerts<'a> {
    pub(crate) fn new(bot: &'a Bot) -> Self {
        Self {
            bot,
            charts: RefCell::default(),
            run: None,
        }
    }

    /// Alerts for a queued run whose charts `run` keeps.
    pub(crate) fn for_run(bot: &'a Bot, run: &'a dyn RunCharts) -> Self {
        Self {
            run: Some(run),
            ..Self::new(bot)
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
        let kept = match self.run {
            Some(run) => run.kept(ticker).await,
            None => None,
        };
        let chart = match kept {
            Some(kept) => kept,
            None => {
                let fetched = self.bot.market.chart(ticker).await?;
                match self.run {
                    Some(run) => run.keep(ticker, fetched).await,
                    None => fetched,
                }
            }
        };
        let chart = Rc::new(chart);
        self.charts
            .borrow_mut()
            .insert(ticker.to_owned(), chart.clone());
        Ok(chart)
    }
}
