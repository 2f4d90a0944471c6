//! The one storage error type, and the one place that turns a platform failure into it.
//!
//! workers-rs hands D1 failures over as text only, and SQLite's texts are the same natively and
//! in D1 (`UNIQUE constraint failed: watchlists.chat_id, watchlists.ticker`, prefixed by
//! `D1_ERROR:` and suffixed by `: SQLITE_CONSTRAINT` in workerd), so [`classify`] reads the text.

use crate::domain::ChatId;
use crate::platform::PlatformError;
use std::fmt;

/// What a repository call was doing: carried by every error it returns and logged with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub name: &'static str,
    pub chat: Option<ChatId>,
    pub ticker: Option<String>,
}

impl Operation {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            chat: None,
            ticker: None,
        }
    }

    pub(crate) fn chat(mut self, chat: ChatId) -> Self {
        self.chat = Some(chat);
        self
    }

    pub(crate) fn ticker(mut self, ticker: &str) -> Self {
        self.ticker = Some(ticker.to_owned());
        self
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        match (&self.chat, &self.ticker) {
            (Some(chat), Some(ticker)) => write!(f, "(chat={chat}, ticker={ticker})"),
            (Some(chat), None) => write!(f, "(chat={chat})"),
            (None, Some(ticker)) => write!(f, "(ticker={ticker})"),
            (None, None) => Ok(()),
        }
    }
}

/// A failed storage operation, after the seed design's error types.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    /// A D1 statement failed (the seed's `D1Error`).
    #[error("D1 error in {operation}: {message}")]
    D1 {
        operation: Operation,
        message: String,
    },
    /// A D1 write violated a constraint, named as SQLite names it, e.g.
    /// `UNIQUE(watchlists.chat_id, watchlists.ticker)` or `FOREIGN KEY` (`D1ConstraintError`).
    #[error("D1 constraint {constraint} violated in {operation}: {message}")]
    D1Constraint {
        operation: Operation,
        constraint: String,
        message: String,
    },
    /// A D1 batch failed and was rolled back as a whole (`D1TransactionError`).
    #[error("D1 transaction rolled back in {operation}: {message}")]
    D1Transaction {
        operation: Operation,
        message: String,
    },
    /// A KV get, put, delete or list failed.
    #[error("KV error in {operation} on key {key}: {message}")]
    Kv {
        operation: Operation,
        key: String,
        message: String,
    },
    /// A stored value is not what it should be: a corrupt KV record or an unexpected D1 row.
    #[error("cannot decode {key} in {operation}: {message}")]
    Decode {
        operation: Operation,
        key: String,
        message: String,
    },
}

impl StorageError {
    pub fn operation(&self) -> &Operation {
        match self {
            Self::D1 { operation, .. }
            | Self::D1Constraint { operation, .. }
            | Self::D1Transaction { operation, .. }
            | Self::Kv { operation, .. }
            | Self::Decode { operation, .. } => operation,
        }
    }
}

/// Which kind of D1 call failed: a failed batch was rolled back as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum D1Call {
    Single,
    Batch,
}

/// Turns a D1 failure into a [`StorageError`]: a constraint violation names its constraint
/// (inside a batch too: it is the more useful fact, and the batch was rolled back either way);
/// any other batch failure is a transaction error; anything else a plain D1 error.
pub fn classify(operation: Operation, call: D1Call, error: PlatformError) -> StorageError {
    let message = error.0;
    match (constraint_name(&message), call) {
        (Some(constraint), _) => StorageError::D1Constraint {
            operation,
            constraint,
            message,
        },
        (None, D1Call::Batch) => StorageError::D1Transaction { operation, message },
        (None, D1Call::Single) => StorageError::D1 { operation, message },
    }
}

/// `UNIQUE constraint failed: t.a, t.b: SQLITE_CONSTRAINT` → `UNIQUE(t.a, t.b)`;
/// `FOREIGN KEY constraint failed` → `FOREIGN KEY`.
fn constraint_name(message: &str) -> Option<String> {
    const MARKER: &str = " constraint failed";
    let at = message.find(MARKER)?;
    let kind_start = message[..at].rfind(':').map_or(0, |colon| colon + 1);
    let kind = message[kind_start..at].trim();
    let detail = message[at + MARKER.len()..]
        .trim_start_matches(':')
        .split("SQLITE_")
        .next()
        .unwrap_or_default()
        .trim()
        .trim_end_matches(':')
        .trim();
    Some(if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}({detail})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classified(message: &str, call: D1Call) -> StorageError {
        classify(
            Operation::new("test"),
            call,
            PlatformError(message.to_owned()),
        )
    }

    #[test]
    fn names_constraints_in_sqlite_and_d1_texts() {
        let cases = [
            (
                "UNIQUE constraint failed: watchlists.chat_id, watchlists.ticker",
                "UNIQUE(watchlists.chat_id, watchlists.ticker)",
            ),
            (
                "D1_ERROR: UNIQUE constraint failed: users.chat_id: SQLITE_CONSTRAINT",
                "UNIQUE(users.chat_id)",
            ),
            ("FOREIGN KEY constraint failed", "FOREIGN KEY"),
            (
                "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT",
                "FOREIGN KEY",
            ),
            (
                "CHECK constraint failed: signal_type IN ('BUY', 'SELL')",
                "CHECK(signal_type IN ('BUY', 'SELL'))",
            ),
        ];
        for (message, want) in cases {
            match classified(message, D1Call::Single) {
                StorageError::D1Constraint { constraint, .. } => {
                    assert_eq!(constraint, want, "for {message}")
                }
                other => panic!("{message} classified as {other:?}"),
            }
        }
    }

    #[test]
    fn other_failures_are_transaction_errors_in_a_batch_and_d1_errors_alone() {
        assert!(matches!(
            classified("no such table: users", D1Call::Batch),
            StorageError::D1Transaction { .. }
        ));
        assert!(matches!(
            classified("no such table: users", D1Call::Single),
            StorageError::D1 { .. }
        ));
    }
}
