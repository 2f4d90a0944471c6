//! The commands, one module each, and the dispatch from a message's text (legacy §3.1):
//! case-sensitive, exact for `/start`, `/stop`, `/help` and `/subscribers`, by prefix for
//! `/now`, `/execute`, `/executions` and `/watchlist`, in that order.

mod execute;
mod executions;
mod help;
mod now;
mod start;
mod stop;
mod subscribers;
mod watchlist;

pub use execute::Execute;
pub use executions::Executions;
pub use now::Now;
pub use subscribers::{CHAT_IDS_UNREADABLE, LOOKUP_BATCH, LOOKUP_PAUSE_MS};
pub use watchlist::Watchlist;

use super::{Bot, Reply};
use crate::domain::ChatId;
use crate::storage::StorageError;
use futures_util::FutureExt;

/// A command the bot understood, or `Ignored` for any other text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    Start,
    Stop,
    Help,
    Now(Now),
    Execute(Execute),
    Executions(Executions),
    Watchlist(Watchlist),
    Subscribers,
    /// Text the bot does not answer.
    Ignored,
}

impl Command {
    /// Dispatches on the trimmed text, in the legacy order. `/executions` does not start with
    /// `/execute` (its eighth character is `i`), so both are reachable.
    pub(crate) fn from_text(text: &str) -> Self {
        match text {
            "/start" => Self::Start,
            "/stop" => Self::Stop,
            "/help" => Self::Help,
            _ if text.starts_with("/now") => Self::Now(Now::parse(text)),
            _ if text.starts_with("/execute") => Self::Execute(Execute::parse(text)),
            _ if text.starts_with("/executions") => Self::Executions(Executions::parse(text)),
            _ if text.starts_with("/watchlist") => Self::Watchlist(Watchlist::parse(text)),
            "/subscribers" => Self::Subscribers,
            _ => Self::Ignored,
        }
    }

    /// Whether the command may change what is stored for a user (subscriptions, watchlists,
    /// executions, positions), so that running it twice could apply it twice. The rest only
    /// read (showing a watchlist may store the default one: the same value each time).
    pub(crate) fn writes(&self) -> bool {
        match self {
            Self::Start | Self::Stop | Self::Execute(_) | Self::Subscribers => true,
            Self::Watchlist(watchlist) => {
                matches!(watchlist, Watchlist::Add(_) | Watchlist::Remove(_))
            }
            Self::Help | Self::Now(_) | Self::Executions(_) | Self::Ignored => false,
        }
    }

    /// Runs the command for `chat`. An `Err` is a storage failure the legacy bot let escape
    /// (HTTP 500, no reply, Telegram delivers the update again).
    ///
    /// Each command's future is boxed: the webhook's future then holds none of them inline, and
    /// a fresh isolate compiles only the code of the commands it runs.
    pub(crate) async fn apply(
        self,
        chat: ChatId,
        bot: &Bot,
        reply: &mut Reply,
    ) -> Result<(), StorageError> {
        match self {
            Self::Start => start::apply(chat, &bot.repos, reply).boxed_local().await,
            Self::Stop => stop::apply(chat, &bot.repos, reply).boxed_local().await,
            Self::Help => help::apply(reply),
            Self::Now(command) => command.apply(chat, bot, reply).boxed_local().await?,
            Self::Execute(command) => command.apply(chat, bot, reply).boxed_local().await?,
            Self::Executions(command) => command.apply(chat, bot, reply).boxed_local().await,
            Self::Watchlist(command) => {
                command.apply(chat, &bot.repos, reply).boxed_local().await?
            }
            Self::Subscribers => subscribers::apply(chat, bot, reply).boxed_local().await,
            Self::Ignored => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_is_exact_or_by_prefix_as_in_legacy() {
        let now = |t: Option<&str>| {
            Command::Now(Now {
                ticker: t.map(Into::into),
            })
        };
        let cases = [
            ("/start", Command::Start),
            ("/stop", Command::Stop),
            ("/help", Command::Help),
            ("/subscribers", Command::Subscribers),
            ("/start@MyBot", Command::Ignored),
            ("/START", Command::Ignored),
            ("/STOP", Command::Ignored),
            ("/start now", Command::Ignored),
            ("/help@MyBot", Command::Ignored),
            ("/subscribers@MyBot", Command::Ignored),
            ("hello", Command::Ignored),
            ("/unknown", Command::Ignored),
            ("/nowhere", now(None)),
            ("/nowSPY", now(None)),
            ("/now@MyBot SPY", now(Some("SPY"))),
            ("/executeAll", Command::Execute(Execute::BadFormat)),
            (
                "/executions@Bot",
                Command::Executions(Executions { ticker: None }),
            ),
            (
                "/executions spy",
                Command::Executions(Executions {
                    ticker: Some("spy".into()),
                }),
            ),
            ("/watchlistfoo", Command::Watchlist(Watchlist::Show)),
        ];
        for (text, want) in cases {
            assert_eq!(Command::from_text(text), want, "{text}");
        }
    }
}
