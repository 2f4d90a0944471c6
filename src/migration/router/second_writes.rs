//! When a request's second writes run (migration.md §2: the authoritative store first, then
//! the other one). *Inline*, each runs right after its authoritative write. *Queued*, they
//! wait until the app has sent the replies: the user's answer does not wait for the store that
//! does not serve it. They still run in the order they were queued and before the request
//! ends, never in `wait_until`, which the runtime may cut short.

use futures_util::future::LocalBoxFuture;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;

/// The second writes of one request; clones share the queue.
#[derive(Clone)]
pub struct SecondWrites(Option<Rc<RefCell<VecDeque<LocalBoxFuture<'static, ()>>>>>);

impl SecondWrites {
    /// Each second write runs as soon as its authoritative write succeeded.
    pub fn inline() -> Self {
        Self(None)
    }

    /// Second writes wait for [`SecondWrites::run`].
    pub fn queued() -> Self {
        Self(Some(Rc::default()))
    }

    /// Runs `write` now (inline) or queues it.
    pub(super) async fn start(&self, write: impl Future<Output = ()> + 'static) {
        match &self.0 {
            None => write.await,
            Some(queue) => queue.borrow_mut().push_back(Box::pin(write)),
        }
    }

    /// Runs the queued writes one after another, oldest first, until none is left.
    pub async fn run(&self) {
        let Some(queue) = &self.0 else { return };
        loop {
            let next = queue.borrow_mut().pop_front();
            let Some(write) = next else { return };
            write.await;
        }
    }
}
