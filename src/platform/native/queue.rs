//! An in-memory queue: what the producer enqueued waits here, in order, until a test takes it
//! and hands it to the consumer (`App::on_queue`), as Queues would deliver it.

use crate::platform::{PlatformError, QueueProducer};
use async_trait::async_trait;
use std::cell::RefCell;

#[derive(Default)]
pub struct MemoryQueue {
    waiting: RefCell<Vec<String>>,
    /// The size of every `send_batch` call, in order.
    calls: RefCell<Vec<usize>>,
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

    /// The size of every `send_batch` call so far.
    pub fn calls(&self) -> Vec<usize> {
        self.calls.borrow().clone()
    }
}

#[async_trait(?Send)]
impl QueueProducer for MemoryQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), PlatformError> {
        self.calls.borrow_mut().push(bodies.len());
        self.waiting.borrow_mut().extend_from_slice(bodies);
        Ok(())
    }
}
