//! Native stand-ins for the worker's bindings, used by `cargo test` and the benches:
//! an in-memory KV with injectable failures, D1 on real SQLite, scripted HTTP, and clocks.

mod http;
mod memory_kv;
mod sqlite;

pub use http::ScriptedHttp;
pub use memory_kv::{KvOp, KvOpCounts, MemoryKv};
pub use sqlite::SqliteDatabase;

use super::Clock;
use std::cell::Cell;

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the system clock is after 1970");
        since_epoch.as_millis() as i64
    }
}

/// A clock that only moves when told to, for tests of time-dependent rules.
pub struct ManualClock(Cell<i64>);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(Cell::new(now_ms))
    }

    pub fn set(&self, now_ms: i64) {
        self.0.set(now_ms);
    }

    pub fn advance(&self, ms: i64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.get()
    }
}
