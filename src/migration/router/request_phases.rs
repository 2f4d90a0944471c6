//! [`RequestPhases`]: the phases one request runs with, read from the flags by its first
//! storage call. A command that touches no storage (`/help`) reads no `settings`, so it makes
//! no D1 round trip in any phase, even on a cold isolate or once the flags' TTL has run out.

use crate::migration::Phases;
use futures_util::future::LocalBoxFuture;
use std::cell::Cell;
use std::rc::Rc;

/// Where the phases come from; clones share what was read.
#[derive(Clone)]
pub struct RequestPhases(Rc<Inner>);

struct Inner {
    read: Cell<Option<Phases>>,
    load: Box<dyn Fn() -> LocalBoxFuture<'static, Phases>>,
}

impl RequestPhases {
    /// Phases that `load` gives when a repository first needs them.
    pub(crate) fn on_first_use(
        load: impl Fn() -> LocalBoxFuture<'static, Phases> + 'static,
    ) -> Self {
        Self(Rc::new(Inner {
            read: Cell::new(None),
            load: Box::new(load),
        }))
    }

    /// The phases, read on the first call. Two first calls that overlap may both load; the
    /// first answer kept is the one every call of the request sees, so no repository changes
    /// phase within a request.
    pub(crate) async fn get(&self) -> Phases {
        if let Some(phases) = self.0.read.get() {
            return phases;
        }
        let loaded = (self.0.load)().await;
        let kept = self.0.read.get().unwrap_or(loaded);
        self.0.read.set(Some(kept));
        kept
    }
}

/// Phases known up front (the tests, a caller that has read the flags already).
impl From<Phases> for RequestPhases {
    fn from(phases: Phases) -> Self {
        Self(Rc::new(Inner {
            read: Cell::new(Some(phases)),
            load: Box::new(move || Box::pin(async move { phases })),
        }))
    }
}
