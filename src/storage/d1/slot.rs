//! Where a statement sits in a `batch()` whose answer (rows changed per statement) a caller
//! reads: the position is taken when the statement is pushed, next to where the batch is
//! assembled, so no reader counts statements that were put together elsewhere.

use crate::platform::Statement;

/// One statement's place in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot(usize);

impl Slot {
    /// Pushes `statement` onto `batch`; its place there.
    pub(super) fn push(batch: &mut Vec<Statement>, statement: Statement) -> Self {
        batch.push(statement);
        Self(batch.len() - 1)
    }

    /// The rows this slot's statement changed, from the batch's answer.
    pub(super) fn changed(self, changed: &[u64]) -> u64 {
        changed[self.0]
    }
}
