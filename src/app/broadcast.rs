//! The scheduled broadcast (legacy §8.1–§8.3): on a weekday that is not a US market holiday,
//! every subscriber gets one signal per watchlist ticker, but only while the index reads fear
//! or extreme fear. With a queue bound the run is enqueued (`queued`); without one the sends go
//! here, one at a time, in subscriber and watchlist order. Both build a chat's messages with
//! [`chat_alerts`].

use super::{send_all, App};
use crate::bot::alerts::Alerts;
use crate::bot::commands::CHAT_IDS_UNREADABLE;
use crate::bot::{Bot, Reply};
use crate::domain::{holiday_on, ChatId, Date, FearGreed};
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
    /// Enqueued as `run`: `messages` queue messages for `subscribers` chats (none when a run
    /// of the same minute was enqueued already).
    Queued {
        run: String,
        subscribers: usize,
        messages: usize,
    },
}

/// What every chat of a run in fear is evaluated on: the index reading and the header built
/// from it once.
pub(crate) struct Reading<'a> {
    pub fear_greed: &'a FearGreed,
    pub header: &'a str,
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
        let outcome = self.run(&bot, &mut reply).await;
        // Admin notices (the only messages in `reply`) go out after the run.
        send_all(&bot, &reply.messages).await;
        outcome
    }

    /// Steps 1–8 of §8.3, through the queue when one is bound.
    async fn run(&self, bot: &Bot, notices: &mut Reply) -> Broadcast {
        let fear_greed = match bot.market.fear_greed(bot.repos.cache.as_ref()).await {
            Ok(reading) => reading,
            Err(e) => return failed(bot, notices, &e.0),
        };
        // Outside fear nothing is sent; the legacy bot still fetched every chart, for messages it
        // never sent, and those fetches are skipped.
        let header = fear_greed.is_fear().then(|| header(&fear_greed));
        let reading = header.as_deref().map(|header| Reading {
            fear_greed: &fear_greed,
            header,
        });
        if let (Some(queue), Some(reading)) = (self.queue(), reading.as_ref()) {
            return match self.enqueue_broadcast(bot, queue, reading).await {
                Ok(outcome) => outcome,
                Err(error) => failed(bot, notices, &error),
            };
        }
        match subscribers(bot).await {
            Ok(subscribers) => inline(bot, &subscribers, reading.as_ref()).await,
            Err(error) => failed(bot, notices, error),
        }
    }
}

/// The subscribers, through the phase router; the admin's notice when they cannot be read.
pub(super) async fn subscribers(bot: &Bot) -> Result<Vec<ChatId>, &'static str> {
    bot.repos.subscriptions.subscribers().await.map_err(|e| {
        tracing::error!(error = %e, "broadcast: subscriber list unreadable");
        CHAT_IDS_UNREADABLE
    })
}

/// Sends the run from this invocation, chat after chat. Alerts are sent as they are built, one
/// at a time.
async fn inline(bot: &Bot, subscribers: &[ChatId], reading: Option<&Reading<'_>>) -> Broadcast {
    let alerts = Alerts::new(bot);
    let mut sent = 0;
    for &chat in subscribers {
        for text in chat_alerts(bot, &alerts, chat, reading).await {
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

/// The messages `chat` gets in a run, in watchlist order (§8.3 steps 3–4): its watchlist is
/// read, which creates the default one (and stores a non-normalised one normalised) as the
/// legacy run did, in fear or not; in fear (`reading`), one signal per ticker under the header.
/// A watchlist that cannot be read is logged and the chat gets nothing.
pub(super) async fn chat_alerts(
    bot: &Bot,
    alerts: &Alerts<'_>,
    chat: ChatId,
    reading: Option<&Reading<'_>>,
) -> Vec<String> {
    let tickers = match bot.repos.watchlists.watchlist(chat).await {
        Ok(tickers) => tickers,
        Err(e) => {
            tracing::warn!(chat = %chat, error = %e, "broadcast: watchlist unreadable; skipping chat");
            return Vec::new();
        }
    };
    let Some(reading) = reading else {
        return Vec::new();
    };
    alerts
        .messages(chat, &tickers, reading.fear_greed, Some(reading.header))
        .await
}

fn failed(bot: &Bot, notices: &mut Reply, error: &str) -> Broadcast {
    tracing::error!(error, "broadcast failed");
    notices.notify_admin(bot, error);
    Broadcast::Failed(error.to_owned())
}
