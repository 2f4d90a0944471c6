//! What the stores and the move call things: the five repositories that move ([`Repository`]),
//! the two stores each lives in ([`Store`]), and the error of a name that is neither. Storage
//! names them in its rows and keys; the migration routes, repairs and sweeps by them.

use std::fmt;
use std::str::FromStr;

/// A name that is not a phase or repository; its `Display` is the message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}; expected one of: {expected}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
    pub expected: String,
}

/// The five repositories that move, each with its own phase (migration.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Repository {
    Subscriptions,
    Watchlists,
    Executions,
    Positions,
    Cache,
}

impl Repository {
    pub const ALL: [Repository; 5] = [
        Repository::Subscriptions,
        Repository::Watchlists,
        Repository::Executions,
        Repository::Positions,
        Repository::Cache,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscriptions => "subscriptions",
            Self::Watchlists => "watchlists",
            Self::Executions => "executions",
            Self::Positions => "positions",
            Self::Cache => "cache",
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Repository {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name("repository", s, Self::ALL, Self::as_str)
    }
}

/// One of the two stores: Workers KV (legacy) or D1 (target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    Kv,
    D1,
}

impl Store {
    /// The store that is not this one.
    pub(crate) fn other(self) -> Store {
        match self {
            Self::Kv => Self::D1,
            Self::D1 => Self::Kv,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Kv => "kv",
            Self::D1 => "d1",
        }
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Store {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name("store", s, [Self::Kv, Self::D1], Self::as_str)
    }
}

/// The one of `all` named `name` (by `as_str`), or the error that lists every name.
pub(crate) fn by_name<T: Copy, const N: usize>(
    kind: &'static str,
    name: &str,
    all: [T; N],
    as_str: fn(T) -> &'static str,
) -> Result<T, UnknownName> {
    all.into_iter()
        .find(|item| as_str(*item) == name)
        .ok_or_else(|| UnknownName {
            kind,
            name: name.to_owned(),
            expected: all.map(as_str).join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_round_trip() {
        for store in [Store::Kv, Store::D1] {
            assert_eq!(store.as_str().parse(), Ok(store));
        }
        assert!("KV".parse::<Store>().is_err());
    }
}
