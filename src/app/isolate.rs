//! What one isolate remembers between the requests it serves: the flags it read (one cache
//! for every request), the migration counters not yet written to D1, the admin API's failed
//! bearer attempts per client, and the updates it applied lately, so that a redelivery that
//! reaches the same isolate is answered without asking D1 (legacy §10.8). Nothing here is
//! needed for correctness across isolates: D1's claims are (see `storage::d1::UpdateClaim`).

use crate::admin::Attempts;
use crate::migration::{CounterBuffer, FlagCache};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// How many update ids an isolate remembers; the oldest is forgotten first.
const REMEMBERED_UPDATES: usize = 1_024;

/// One isolate's memory; clones share it.
#[derive(Clone, Default)]
pub struct Isolate {
    pub(crate) flags: FlagCache,
    pub(crate) counters: CounterBuffer,
    pub(crate) admin_attempts: Attempts,
    pub(crate) updates: RecentUpdates,
}

/// Where an update stands in this isolate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Not seen lately: this attempt runs it.
    New,
    /// An attempt in this isolate is running it now.
    Running,
    /// An attempt in this isolate applied it and answered.
    Applied,
}

/// The update ids this isolate ran lately, at most [`REMEMBERED_UPDATES`], oldest first. Found
/// by a scan (a microsecond at most): no hashing, which a fresh isolate would otherwise compile
/// for its first update.
#[derive(Clone, Default)]
pub(crate) struct RecentUpdates(Rc<RefCell<VecDeque<(i64, Seen)>>>);

impl RecentUpdates {
    /// Where `update_id` stands; a new one is taken as running from now on.
    pub(crate) fn begin(&self, update_id: i64) -> Seen {
        let mut recent = self.0.borrow_mut();
        if let Some((_, seen)) = recent.iter().find(|(id, _)| *id == update_id) {
            return *seen;
        }
        if recent.len() == REMEMBERED_UPDATES {
            recent.pop_front();
        }
        recent.push_back((update_id, Seen::Running));
        Seen::New
    }

    /// The attempt that began `update_id` applied it.
    pub(crate) fn applied(&self, update_id: i64) {
        let mut recent = self.0.borrow_mut();
        if let Some((_, seen)) = recent.iter_mut().find(|(id, _)| *id == update_id) {
            *seen = Seen::Applied;
        }
    }

    /// The attempt that began `update_id` did not apply it: a redelivery runs it again.
    pub(crate) fn forget(&self, update_id: i64) {
        self.0.borrow_mut().retain(|(id, _)| *id != update_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_is_new_then_running_then_applied_and_forgotten_when_it_failed() {
        let updates = RecentUpdates::default();
        assert_eq!(updates.begin(1), Seen::New);
        assert_eq!(updates.begin(1), Seen::Running);
        updates.applied(1);
        assert_eq!(updates.begin(1), Seen::Applied);
        assert_eq!(updates.begin(2), Seen::New);
        updates.forget(2);
        assert_eq!(updates.begin(2), Seen::New);
    }

    #[test]
    fn the_oldest_update_is_forgotten_first() {
        let updates = RecentUpdates::default();
        for id in 0..REMEMBERED_UPDATES as i64 {
            updates.begin(id);
            updates.applied(id);
        }
        assert_eq!(updates.begin(REMEMBERED_UPDATES as i64), Seen::New);
        assert_eq!(updates.begin(0), Seen::New, "the oldest was forgotten");
        assert_eq!(updates.begin(2), Seen::Applied);
    }
}
