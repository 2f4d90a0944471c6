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
        Self::ALL
            .into_iter()
            .find(|repository| repository.as_str() == s)
            .ok_or_else(|| unknown_name("repository", s, Self::ALL.map(Repository::as_str)))
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
        [Self::Kv, Self::D1]
            .into_iter()
            .find(|store| store.as_str() == s)
            .ok_or_else(|| unknown_name("store", s, ["kv", "d1"]))
    }
}

/// The error for `name`, which is none of `expected`.
pub fn unknown_name<const N: usize>(
    kind: &'static str,
    name: &str,
    expected: [&str; N],
) -> UnknownName {
    UnknownName {
        kind,
        name: name.to_owned(),
        expected: expected.join(", "),
    }
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
