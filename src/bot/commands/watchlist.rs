//! `/watchlist`, `/watchlist add TICKER`, `/watchlist remove TICKER` (§3.7). The parser counts
//! tokens: one shows the list, three with `add`/`remove` (any case) change it, anything else
//! gets the format help. Storage failures while changing the list are not caught.

use crate::bot::text::{invalid_ticker, tokens, valid_ticker};
use crate::bot::Reply;
use crate::domain::ChatId;
use crate::storage::{AddTicker, RemoveTicker, Repos, StorageError};

const FORMAT: &str = "❌ Invalid format. Use:\n/watchlist - View your watchlist\n/watchlist add TICKER - Add ticker to watchlist\n/watchlist remove TICKER - Remove ticker from watchlist";
const READ_FAILED: &str = "❌ Failed to retrieve watchlist. Please try again.";

/// A parsed `/watchlist` command; tickers are kept as typed (validated when applied).
#[derive(Debug, Clone, PartialEq)]
pub enum Watchlist {
    Show,
    Add(String),
    Remove(String),
    BadFormat,
}

impl Watchlist {
    pub(crate) fn parse(text: &str) -> Self {
        match tokens(text).as_slice() {
            [_] => Self::Show,
            [_, verb, ticker] if verb.eq_ignore_ascii_case("add") => Self::Add((*ticker).into()),
            [_, verb, ticker] if verb.eq_ignore_ascii_case("remove") => {
                Self::Remove((*ticker).into())
            }
            _ => Self::BadFormat,
        }
    }

    pub(super) async fn apply(
        self,
        chat: ChatId,
        repos: &Repos,
        reply: &mut Reply,
    ) -> Result<(), StorageError> {
        match self {
            Self::Show => match repos.watchlists.watchlist(chat).await {
                Ok(tickers) => reply.send(show(&tickers)),
                Err(e) => {
                    tracing::error!(chat = %chat, error = %e, "watchlist read failed");
                    reply.send(READ_FAILED);
                }
            },
            Self::Add(raw) => reply.send(match valid_ticker(&raw) {
                None => invalid_ticker(&raw),
                Some(ticker) => match repos.watchlists.add(chat, &ticker).await? {
                    AddTicker::Added => format!("✅ Added {ticker} to your watchlist."),
                    AddTicker::AlreadyPresent => format!("❌ Ticker {ticker} is already in your watchlist."),
                },
            }),
            Self::Remove(raw) => reply.send(match valid_ticker(&raw) {
                None => invalid_ticker(&raw),
                Some(ticker) => match repos.watchlists.remove(chat, &ticker).await? {
                    RemoveTicker::Removed => format!("✅ Removed {ticker} from your watchlist."),
                    RemoveTicker::RemovedDefaultRestored => format!(
                        "✅ Removed {ticker} from your watchlist. SPY has been automatically added back to ensure you always have at least one ticker."
                    ),
                    RemoveTicker::NotPresent => format!("❌ Ticker {ticker} is not in your watchlist."),
                },
            }),
            Self::BadFormat => reply.send(FORMAT),
        }
        Ok(())
    }
}

fn show(tickers: &[String]) -> String {
    let lines: Vec<String> = tickers.iter().map(|t| format!("• ${t}")).collect();
    format!(
        "*Your Watchlist:*\n\n{}\n\nUse /watchlist add TICKER to add a ticker.\nUse /watchlist remove TICKER to remove a ticker.",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_token_count_and_verb_in_any_case() {
        let cases = [
            ("/watchlist", Watchlist::Show),
            ("/watchlist add AAPL", Watchlist::Add("AAPL".into())),
            ("/watchlist ADD aapl", Watchlist::Add("aapl".into())),
            ("/watchlist Remove spy", Watchlist::Remove("spy".into())),
            ("/watchlist add", Watchlist::BadFormat),
            ("/watchlist add A B", Watchlist::BadFormat),
            ("/watchlist foo BAR", Watchlist::BadFormat),
        ];
        for (text, want) in cases {
            assert_eq!(Watchlist::parse(text), want, "{text}");
        }
    }
}
