//! The bot: Telegram updates in, replies out, storage only through the repository traits.
//! The chain is bytes → [`update::Update`] → [`commands::Command`] → `apply` → [`Reply`].

pub(crate) mod alerts;
pub(crate) mod commands;
pub(crate) mod text;
pub(crate) mod update;

use crate::domain::ChatId;
use crate::market::Market;
use crate::platform::Clock;
use crate::storage::Repos;
use crate::telegram::Telegram;
use std::cell::LazyCell;
use std::rc::Rc;

/// Repositories made on their first use: a command that touches no storage (`/help`) makes
/// none, and a fresh isolate does not compile their making for it.
pub(crate) type LazyRepos = LazyCell<Repos, Box<dyn FnOnce() -> Repos>>;

/// Everything a command or a broadcast may use, built once per update or cron run.
pub(crate) struct Bot {
    pub repos: LazyRepos,
    pub market: Market,
    pub telegram: Telegram,
    pub clock: Rc<dyn Clock>,
    /// `ADMIN_CHAT_ID` as configured: compared with chat ids as strings, like the legacy bot.
    pub admin: Option<String>,
}

impl Bot {
    /// `call` for every item, [`LOOKUP_BATCH`](commands::LOOKUP_BATCH) at a time with
    /// [`LOOKUP_PAUSE_MS`](commands::LOOKUP_PAUSE_MS) between batches (legacy §3.11, §8.5);
    /// the results in item order.
    pub(crate) async fn in_batches<'a, T, R, F>(
        &self,
        items: &'a [T],
        call: impl Fn(&'a T) -> F,
    ) -> Vec<R>
    where
        F: std::future::Future<Output = R>,
    {
        let mut results = Vec::with_capacity(items.len());
        for (i, batch) in items.chunks(commands::LOOKUP_BATCH).enumerate() {
            if i > 0 {
                self.clock.sleep(commands::LOOKUP_PAUSE_MS).await;
            }
            results.extend(futures_util::future::join_all(batch.iter().map(&call)).await);
        }
        results
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// `String(chatId) === String(ADMIN_CHAT_ID)`, no trimming; nobody without an admin.
    pub(crate) fn is_admin(&self, chat: ChatId) -> bool {
        self.admin.as_deref() == Some(chat.to_string().as_str())
    }

    /// The admin's chat, if one is configured (and is a chat id).
    pub(crate) fn admin_chat(&self) -> Option<ChatId> {
        let admin = self.admin.as_deref()?;
        match admin.parse() {
            Ok(chat) => Some(chat),
            Err(_) => {
                tracing::error!("ADMIN_CHAT_ID is not a chat id; admin notices are not sent");
                None
            }
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub chat: ChatId,
    pub text: String,
}

/// The messages a command sends, in order: replies to its chat and notices to the admin.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    chat: ChatId,
    pub messages: Vec<Outgoing>,
}

impl Reply {
    pub(crate) fn new(chat: ChatId) -> Self {
        Self {
            chat,
            messages: Vec::new(),
        }
    }

    /// A reply to the chat the command came from.
    pub(crate) fn send(&mut self, text: impl Into<String>) {
        self.send_to(self.chat, text);
    }

    pub(crate) fn send_to(&mut self, chat: ChatId, text: impl Into<String>) {
        self.messages.push(Outgoing {
            chat,
            text: text.into(),
        });
    }

    /// `An error occurred: <message>` to the admin, when there is one (§5.8, §10.3).
    pub(crate) fn notify_admin(&mut self, bot: &Bot, error: &str) {
        if let Some(admin) = bot.admin_chat() {
            self.send_to(admin, admin_notice(error));
        }
    }
}

/// The admin's error notice; the error text is escaped for legacy Markdown.
pub(crate) fn admin_notice(error: &str) -> String {
    format!("An error occurred: {}", text::escape_markdown(error))
}
