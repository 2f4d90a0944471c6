//! Guard rails (migration.md §4, §5): each one a pure verdict over facts the admin API gathers
//! (the I/O stays in the handlers), tested case by case. [`phase`]: whether a repository may
//! move to another phase.

pub(crate) mod phase;
