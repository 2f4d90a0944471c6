//! The scheduled broadcast (legacy §8.1–§8.3): on a weekday that is not a US market holiday,
//! every subscriber gets one signal per watchlist ticker, but only while the index reads fear
//! or extreme fear. Sends go one at a time, in subscriber and watchlist order.

use super::{send_all, App};
use crate::bot::alerts::Alerts;
use crate::bot::commands::CHAT_IDS_UNREADABLE;
use crate::bot::{Bot, Reply};
use crate::domain::{holiday_on, ChatId, Date};
use crate::signals::header;
use crate::storage::d1::UpdateClaim;

/// What a broadcast run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broadcast {
    /// Saturday or Sunday by the wall clock at run time.
    NotWeekday {
        weekday: u32,
    },
    Holiday {
        name: &'static str,
        date: String,
    },
    /// The index or the subscriber list could not be read; the admin was told.
    Failed(String),
    /// Ran; `sent` messages went out (none unless the rating is fear).
    Ran {
        subscribers: usize,
        sent: usize,
    },
}

impl App {
    pub(super) async fn broadcast(&self) -> Broadcast {
        let bot = self.bot(UpdateClaim::none());
        let today = Date::from_ms(bot.now_ms());
        let weekday = today.weekday();
        if !(1..=5).contains(&weekday) {
            tracing::info!("Skipping scheduled execution - not a weekday (day: {weekday})");
            return Broadcast::NotWeekday { weekday };
        }
        if let Some(holiday) = holiday_on(today) {
            tracing::info!("Scheduled execution skipped: {} ({today})", holiday.name);
            return Broadcast::Holiday {
                name: holiday.name,
                date: today.to_string(),
            };
        }
        let mut reply = Reply::new(ChatId::new(0));
        let outcome = run(&bot, &mut reply).await;
        // Admin notices (the only messages in `reply`) go out after the run.
        send_all(&bot, &reply.messages).await;
        outcome
    }
}

/// Steps 1–8 of §8.3. Alerts are sent as they are built, one at a time.
async fn run(bot: &Bot, notices: &mut Reply) -> Broadcast {
    let fear_greed = match bot.market.fear_greed(bot.repos.cache.as_ref()).await {
        Ok(reading) => reading,
        Err(e) => return failed(bot, notices, &e.0),
    };
    let subscribers = match bot.repos.subscriptions.subscribers().await {
        Ok(subscribers) => subscribers,
        Err(e) => {
            tracing::error!(error = %e, "broadcast: subscriber list unreadable");
            return failed(bot, notices, CHAT_IDS_UNREADABLE);
        }
    };
    // Outside fear nothing is sent; the legacy bot still fetched every chart, for messages it
    // never sent, and those fetches are skipped.
    let header = fear_greed.is_fear().then(|| header(&fear_greed));
    let alerts = Alerts::new(bot);
    let mut sent = 0;
    for &chat in &subscribers {
        // Reading the watchlist creates the default one (and stores a non-normalised one
        // normalised) for every subscriber, as the legacy run did, in fear or not.
        let tickers = match bot.repos.watchlists.watchlist(chat).await {
            Ok(tickers) => tickers,
            Err(e) => {
                tracing::warn!(chat = %chat, error = %e, "broadcast: watchlist unreadable; skipping chat");
                continue;
            }
        };
        let Some(header) = &header else { continue };
        for text in alerts
            .messages(chat, &tickers, &fear_greed, Some(header))
            .await
        {
            if bot.telegram.send_message(chat, &text).await.is_ok() {
                sent += 1;
            }
        }
    }
    Broadcast::Ran {
        subscribers: subscribers.len(),
        sent,
    }
}

fn failed(bot: &Bot, notices: &mut Reply, error: &str) -> Broadcast {
    tracing::error!(error, "broadcast failed");
    notices.notify_admin(bot, error);
    Broadcast::Failed(error.to_owned())
}
