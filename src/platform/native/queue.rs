//! An in-memory queue: what the producer enqueued waits here, in order, until a test takes it
//! and hands it to the consumer (`App::on_queue`), as Queues would deliver it.

use crate::platform::{PlatformError, QueueProducer};
use async_trait::async_trait;
use std::cell::{Cell, RefCell};

#[derive(Default)]
pub struct MemoryQueue {
    waiting: RefCell<Vec<String>>,
    /// The size of every `send_batch` call, in order (failed ones too).
    calls: RefCell<Vec<usize>>,
    /// Calls to let through, then calls to fail (enqueueing nothing).
    failing: Cell<(usize, usize)>,
}

impl MemoryQueue {
    /// Takes up to `n` messages from the front, as a consumer batch.
    pub fn take(&self, n: usize) -> Vec<String> {
        let mut waiting = self.waiting.borrow_mut();
        let n = n.min(waiting.len());
        waiting.drain(..n).collect()
    }

    /// How many messages wait.
    pub fn len(&self) -> usize {
        self.waiting.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets the next `ok` calls through, then fails `n`, as a queue that became unreachable.
    pub fn fail_after(&self, ok: usize, n: usize) {
        self.failing.set((ok, n));
    }

    /// The size of every `send_batch` call so far.
    pub fn calls(&self) -> Vec<usize> {
        self.calls.borrow().clone()
    }
}

#[async_trait(?Send)]
impl QueueProducer for MemoryQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), PlatformError> {
        self.calls.borrow_mut().push(bodies.len());
        match self.failing.get() {
            (0, 0) => {}
            (0, n) => {
                self.failing.set((0, n - 1));
                return Err(PlatformError("queue unavailable".into()));
            }
            (ok, n) => self.failing.set((ok - 1, n)),
        }
        self.waiting.borrow_mut().extend_from_slice(bodies);
        Ok(())
    }
}
