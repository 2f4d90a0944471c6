//! An in-memory Workers KV namespace: lexicographic `list` with cursor and limit, counts of
//! every operation (for round-trip assertions and benches), and injectable failures.

use crate::platform::{KvPage, KvStore, PlatformError, KV_LIST_LIMIT};
use async_trait::async_trait;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// The four KV operations, for counting and for failure injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    Get,
    Put,
    Delete,
    List,
}

/// How many of each operation the namespace has served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvOpCounts {
    pub get: u64,
    pub put: u64,
    pub delete: u64,
    pub list: u64,
}

impl KvOpCounts {
    pub fn total(&self) -> u64 {
        self.get + self.put + self.delete + self.list
    }
}

/// In-memory KV namespace shared by everything a test builds.
#[derive(Default)]
pub struct MemoryKv {
    entries: RefCell<BTreeMap<String, String>>,
    counts: Cell<KvOpCounts>,
    /// Operations on keys with these prefixes fail until [`MemoryKv::heal`].
    failures: RefCell<Vec<(KvOp, String)>>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a raw value without counting an operation (test seeding).
    pub fn seed(&self, key: &str, value: &str) {
        self.entries.borrow_mut().insert(key.into(), value.into());
    }

    /// Reads a raw value without counting an operation (test inspection).
    pub fn peek(&self, key: &str) -> Option<String> {
        self.entries.borrow().get(key).cloned()
    }

    /// Every key, in order, without counting an operation.
    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    /// Every key with its value, in key order, without counting an operation.
    pub fn entries(&self) -> Vec<(String, String)> {
        let entries = self.entries.borrow();
        entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Makes every `op` on a key starting with `key_prefix` fail.
    pub fn fail(&self, op: KvOp, key_prefix: &str) {
        self.failures.borrow_mut().push((op, key_prefix.into()));
    }

    /// Removes every injected failure.
    pub fn heal(&self) {
        self.failures.borrow_mut().clear();
    }

    pub fn counts(&self) -> KvOpCounts {
        self.counts.get()
    }

    pub fn reset_counts(&self) {
        self.counts.set(KvOpCounts::default());
    }

    fn begin(&self, op: KvOp, key: &str) -> Result<(), PlatformError> {
        let mut counts = self.counts.get();
        match op {
            KvOp::Get => counts.get += 1,
            KvOp::Put => counts.put += 1,
            KvOp::Delete => counts.delete += 1,
            KvOp::List => counts.list += 1,
        }
        self.counts.set(counts);
        let failing = self
            .failures
            .borrow()
            .iter()
            .any(|(failing_op, prefix)| *failing_op == op && key.starts_with(prefix.as_str()));
        if failing {
            return Err(PlatformError(format!(
                "injected KV {op:?} failure on {key}"
            )));
        }
        Ok(())
    }
}

#[async_trait(?Send)]
impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<String>, PlatformError> {
        self.begin(KvOp::Get, key)?;
        Ok(self.peek(key))
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), PlatformError> {
        self.begin(KvOp::Put, key)?;
        self.seed(key, value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), PlatformError> {
        self.begin(KvOp::Delete, key)?;
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KvPage, PlatformError> {
        self.begin(KvOp::List, prefix)?;
        if limit == 0 || limit > KV_LIST_LIMIT {
            return Err(PlatformError(format!(
                "KV list limit must be 1..={KV_LIST_LIMIT}, got {limit}"
            )));
        }
        let entries = self.entries.borrow();
        let mut matching = entries
            .keys()
            .filter(|key| key.starts_with(prefix))
            .filter(|key| cursor.is_none_or(|after| key.as_str() > after));
        let keys: Vec<String> = matching.by_ref().take(limit).cloned().collect();
        // The cursor is the last key returned; the real KV's is opaque, so callers never parse it.
        let cursor = match matching.next() {
            Some(_) => keys.last().cloned(),
            None => None,
        };
        Ok(KvPage { keys, cursor })
    }
}
