//! The two stores a repository lives in during the move (migration.md §1): named in repair
//! rows, observations and logs.

use super::UnknownName;
use std::fmt;
use std::str::FromStr;

/// One of the two stores: Workers KV (legacy) or D1 (target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    Kv,
    D1,
}

impl Store {
    /// The store that is not this one.
    pub fn other(self) -> Store {
        match self {
            Self::Kv => Self::D1,
            Self::D1 => Self::Kv,
        }
    }

    pub fn as_str(self) -> &'static str {
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
            .ok_or_else(|| UnknownName {
                kind: "store",
                name: s.to_owned(),
                expected: "kv, d1".to_owned(),
            })
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
