//! Native stand-ins for the worker's bindings, used by `cargo test` and the benches:
//! an in-memory KV with injectable failures, D1 on real SQLite, scripted HTTP, an in-memory
//! queue, and clocks.

mod http;
mod memory_kv;
mod queue;
mod sqlite;

pub use http::ScriptedHttp;
pub use memory_kv::{KvOp, KvOpCounts, MemoryKv};
pub use queue::MemoryQueue;
pub use sqlite::SqliteDatabase;

/// Metric points kept in memory, as a bound Analytics Engine dataset would receive them.
#[derive(Default)]
pub struct RecordedPoints(std::cell::RefCell<Vec<super::MetricPoint>>);

impl RecordedPoints {
    pub fn points(&self) -> Vec<super::MetricPoint> {
        self.0.borrow().clone()
    }
}

impl super::MetricSink for RecordedPoints {
    fn write(&self, point: &super::MetricPoint) {
        self.0.borrow_mut().push(point.clone());
    }
}

use super::Clock;
use async_trait::async_trait;
use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A clock that only moves when told to, for tests of time-dependent rules. Sleeping moves
/// it at once and is recorded, so retry back-offs cost no real time.
pub struct ManualClock {
    /// Shared with a [`SqliteDatabase`] that keeps D1's time by it ([`SqliteDatabase::keep_time`]).
    now: Arc<AtomicI64>,
    sleeps: RefCell<Vec<u64>>,
}

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(now_ms)),
            sleeps: RefCell::new(Vec::new()),
        }
    }

    pub fn set(&self, now_ms: i64) {
        self.now.store(now_ms, Ordering::Relaxed);
    }

    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::Relaxed);
    }

    /// The clock's reading, shared, for a database that keeps time by it.
    pub(super) fn reading(&self) -> Arc<AtomicI64> {
        self.now.clone()
    }

    /// Every sleep so far, in milliseconds, in order.
    pub fn sleeps(&self) -> Vec<u64> {
        self.sleeps.borrow().clone()
    }
}

#[async_trait(?Send)]
impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::Relaxed)
    }

    async fn sleep(&self, ms: u64) {
        self.sleeps.borrow_mut().push(ms);
        self.advance(ms as i64);
    }
}
