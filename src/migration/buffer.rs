//! The migration counters of one isolate, held between writes to D1 so that observability does
//! not multiply D1's write load: counters of many requests add up in memory and go to D1 in one
//! `batch()` at most every [`FLUSH_MS`]. The first publication of an isolate is written at
//! once (nothing is held yet), and so is any with a divergence record (on-call wants those
//! now); otherwise the first request that has counters to hold stays on after its response
//! ([`CounterBuffer::plan`] says [`Flush::After`]) and writes what the isolate gathered by then.
//!
//! What an isolate that is evicted can lose: the counters of the requests it served within its
//! last [`FLUSH_MS`] (divergence records are never held). Analytics Engine, when bound, gets
//! every request's points at once.

use crate::storage::d1::Count;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The longest an isolate holds counters before writing them.
pub const FLUSH_MS: i64 = 5_000;

/// A counter's identity: its minute, repository, operation and outcome.
type Key = (i64, String, String, String);

/// One isolate's unwritten counters; clones share them.
#[derive(Clone, Default)]
pub struct CounterBuffer(Rc<RefCell<Held>>);

#[derive(Default)]
struct Held {
    counts: BTreeMap<Key, (i64, i64)>,
    /// When the oldest held counter was added, ms since the epoch.
    since: Option<i64>,
    /// Whether this isolate has written counters before.
    written_once: bool,
    /// Whether a request has promised to write the held counters once they are due.
    awaited: bool,
}

/// When the counters of a publication go to D1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Now, with everything held.
    Now,
    /// In this many ms, by this request: it waits, then takes what is held.
    After(i64),
    /// Another request will write them.
    Held,
}

impl CounterBuffer {
    /// Adds `counts` to what the isolate holds, and says when they go to D1: at once for the
    /// isolate's first write or when `urgent` (a divergence record goes with them), when the
    /// oldest held counter is [`FLUSH_MS`] old, else later.
    pub(crate) fn plan(&self, counts: Vec<Count>, now: i64, urgent: bool) -> Flush {
        let mut held = self.0.borrow_mut();
        for c in counts {
            let entry = held
                .counts
                .entry((c.minute, c.repository, c.operation, c.outcome))
                .or_default();
            entry.0 += c.count;
            entry.1 += c.total_ms;
        }
        if held.counts.is_empty() {
            return Flush::Held;
        }
        let since = *held.since.get_or_insert(now);
        let wait = since + FLUSH_MS - now;
        if urgent || !held.written_once || wait <= 0 {
            Flush::Now
        } else if held.awaited {
            Flush::Held
        } else {
            held.awaited = true;
            Flush::After(wait)
        }
    }

    /// Everything held, for one write; the buffer is empty afterwards.
    pub(crate) fn take(&self) -> Vec<Count> {
        let mut held = self.0.borrow_mut();
        held.since = None;
        held.written_once = true;
        held.awaited = false;
        std::mem::take(&mut held.counts)
            .into_iter()
            .map(
                |((minute, repository, operation, outcome), (count, total_ms))| Count {
                    minute,
                    repository,
                    operation,
                    outcome,
                    count,
                    total_ms,
                },
            )
            .collect()
    }

    /// Counters whose write failed, held again for the next one.
    pub(crate) fn put_back(&self, counts: Vec<Count>, now: i64) {
        self.plan(counts, now, false);
        self.0.borrow_mut().awaited = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(outcome: &str, n: i64) -> Count {
        Count {
            minute: 60_000,
            repository: "watchlists".into(),
            operation: "watchlists.watchlist".into(),
            outcome: outcome.into(),
            count: n,
            total_ms: 2 * n,
        }
    }

    #[test]
    fn the_first_write_is_at_once_then_counters_wait_for_one_request_to_write_them() {
        let buffer = CounterBuffer::default();
        assert_eq!(buffer.plan(vec![count("read", 1)], 0, false), Flush::Now);
        assert_eq!(buffer.take(), [count("read", 1)]);
        assert_eq!(
            buffer.plan(vec![count("read", 1)], 1_000, false),
            Flush::After(FLUSH_MS)
        );
        assert_eq!(
            buffer.plan(vec![count("read", 2)], 2_000, false),
            Flush::Held
        );
        assert_eq!(buffer.plan(vec![], 3_000, false), Flush::Held);
        assert_eq!(buffer.take(), [count("read", 3)], "added up");
        assert_eq!(
            buffer.plan(vec![], 4_000, false),
            Flush::Held,
            "nothing held"
        );
    }

    #[test]
    fn a_divergence_or_counters_held_too_long_are_written_at_once() {
        let buffer = CounterBuffer::default();
        buffer.plan(vec![count("read", 1)], 0, false);
        buffer.take();
        assert_eq!(
            buffer.plan(vec![count("read", 1)], 0, false),
            Flush::After(FLUSH_MS)
        );
        assert_eq!(buffer.plan(vec![count("matched", 1)], 10, true), Flush::Now);
        buffer.take();
        buffer.plan(vec![count("read", 1)], 100, false);
        // The request that promised to write them was evicted: the next one past the due
        // time writes them itself.
        assert_eq!(
            buffer.plan(vec![count("read", 1)], 100 + FLUSH_MS, false),
            Flush::Now
        );
    }

    #[test]
    fn counters_whose_write_failed_are_held_for_the_next_one() {
        let buffer = CounterBuffer::default();
        buffer.plan(vec![count("read", 1)], 0, false);
        let taken = buffer.take();
        buffer.put_back(taken, 5);
        assert_eq!(
            buffer.plan(vec![count("read", 1)], 6, false),
            Flush::After(FLUSH_MS - 1)
        );
        assert_eq!(buffer.take(), [count("read", 2)]);
    }
}
