//! When a request's work on the store that does not answer the user runs: the second writes
//! (migration.md §2: the authoritative store first, then the other one) and, in `shadow`, the
//! KV reads that only the comparator needs. *Inline*, each runs as soon as it is started.
//! *Queued*, they wait until the app has sent the replies: the user's answer does not wait for
//! the store that does not serve it. They still run in the order they were started and before
//! the request ends, never in `wait_until`, which the runtime may cut short.

use futures_util::future::LocalBoxFuture;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;

/// The work of one request left for after its replies; clones share the queue.
#[derive(Clone)]
pub struct AfterReplies(Option<Rc<RefCell<VecDeque<LocalBoxFuture<'static, ()>>>>>);

impl AfterReplies {
    /// Each piece of work runs as soon as it is started.
    pub fn inline() -> Self {
        Self(None)
    }

    /// The work waits for [`AfterReplies::run`].
    pub fn queued() -> Self {
        Self(Some(Rc::default()))
    }

    /// Runs `work` now (inline) or queues it.
    pub(super) async fn start(&self, work: impl Future<Output = ()> + 'static) {
        match &self.0 {
            None => work.await,
            Some(queue) => queue.borrow_mut().push_back(Box::pin(work)),
        }
    }

    /// Runs the queued work one piece after another, oldest first, until none is left.
    pub async fn run(&self) {
        let Some(queue) = &self.0 else { return };
        loop {
            let next = queue.borrow_mut().pop_front();
            let Some(work) = next else { return };
            work.await;
        }
    }
}
