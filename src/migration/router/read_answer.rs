//! Read answers as the comparator sees them: canonical JSON of the domain value (never the
//! stored bytes, migration.md §2), and whether the answer holds a record at all (the
//! "D1 has no record where KV has one" half of the fallback rule), and [`AnyAnswer`], any of
//! them behind one type, so the shadow read is compiled once rather than once per answer type
//! (the worker's size).

use crate::domain::{CacheEntry, ChatId, Execution, Position};
use serde::Serialize;
use serde_json::{json, Value};
use std::any::Any;

/// The answer of a read the router can shadow.
pub(super) trait ReadAnswer {
    /// The domain value as canonical JSON.
    fn canonical(&self) -> Value;
    /// Whether the answer holds no record: an empty list or no value.
    fn is_absent(&self) -> bool;
}

/// A read's answer of whichever type, as the shadow read handles it.
pub(super) type AnyAnswer = Box<dyn Erased>;

/// A [`ReadAnswer`] that can be given back as its own type.
pub(super) trait Erased: ReadAnswer {
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: ReadAnswer + 'static> Erased for T {
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

impl ReadAnswer for AnyAnswer {
    fn canonical(&self) -> Value {
        (**self).canonical()
    }

    fn is_absent(&self) -> bool {
        (**self).is_absent()
    }
}

fn serialized<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("domain values always serialise to JSON")
}

/// The subscriber list.
impl ReadAnswer for Vec<ChatId> {
    fn canonical(&self) -> Value {
        self.iter().map(|chat| Value::from(chat.get())).collect()
    }

    fn is_absent(&self) -> bool {
        self.is_empty()
    }
}

/// A watchlist. Never absent in practice: both stores answer a missing list with the default
/// `["SPY"]` (and store it), so a chat D1 lacks reads the same as a chat that kept only SPY,
/// and the difference is the comparator's to find, never a fallback.
impl ReadAnswer for Vec<String> {
    fn canonical(&self) -> Value {
        serialized(self)
    }

    fn is_absent(&self) -> bool {
        self.is_empty()
    }
}

/// A chat's execution history.
impl ReadAnswer for Vec<Execution> {
    fn canonical(&self) -> Value {
        serialized(self)
    }

    fn is_absent(&self) -> bool {
        self.is_empty()
    }
}

/// A chat's latest execution.
impl ReadAnswer for Option<Execution> {
    fn canonical(&self) -> Value {
        serialized(self)
    }

    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

/// A chat's open position.
impl ReadAnswer for Option<Position> {
    fn canonical(&self) -> Value {
        serialized(self)
    }

    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

/// A fresh cache entry; a stale one is absent in both stores alike.
impl ReadAnswer for Option<CacheEntry> {
    fn canonical(&self) -> Value {
        self.as_ref().map_or(
            Value::Null,
            |entry| json!({ "data": entry.data, "writtenAt": entry.written_at }),
        )
    }

    fn is_absent(&self) -> bool {
        self.is_none()
    }
}
