//! Counting decorators over a platform's KV namespace and D1 database: how many KV operations,
//! D1 statements and D1 round trips a bounded job has used, so it can stop short of its
//! budget (migration.md §5: under 1,000 of each per invocation) and report what it took.

use super::{KvPage, KvStore, Platform, PlatformError, Row, SqlDatabase, Statement};
use async_trait::async_trait;
use std::cell::Cell;
use std::rc::Rc;

/// What a metered platform has been asked for so far; failed calls count too.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    kv_ops: Cell<u64>,
    d1_statements: Cell<u64>,
    d1_round_trips: Cell<u64>,
}

/// A snapshot of a [`Meter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub kv_ops: u64,
    /// Statements, each of a batch counted (D1 counts queries that way).
    pub d1_statements: u64,
    pub d1_round_trips: u64,
}

impl Meter {
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            kv_ops: self.kv_ops.get(),
            d1_statements: self.d1_statements.get(),
            d1_round_trips: self.d1_round_trips.get(),
        }
    }

    fn kv(&self) {
        self.kv_ops.set(self.kv_ops.get() + 1);
    }

    fn d1(&self, statements: usize) {
        self.d1_round_trips.set(self.d1_round_trips.get() + 1);
        let statements = u64::try_from(statements).unwrap_or(u64::MAX);
        self.d1_statements
            .set(self.d1_statements.get().saturating_add(statements));
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.kv_ops += other.kv_ops;
        self.d1_statements += other.d1_statements;
        self.d1_round_trips += other.d1_round_trips;
    }
}

/// `platform` with its KV and D1 calls counted on the returned meter.
pub(crate) fn metered(platform: &Platform) -> (Platform, Rc<Meter>) {
    let meter = Rc::new(Meter::default());
    let platform = Platform {
        kv: Rc::new(MeteredKv(platform.kv.clone(), meter.clone())),
        db: Rc::new(MeteredDb(platform.db.clone(), meter.clone())),
        clock: platform.clock.clone(),
        http: platform.http.clone(),
    };
    (platform, meter)
}

struct MeteredKv(Rc<dyn KvStore>, Rc<Meter>);

#[async_trait(?Send)]
impl KvStore for MeteredKv {
    async fn get(&self, key: &str) -> Result<Option<String>, PlatformError> {
        self.1.kv();
        self.0.get(key).await
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), PlatformError> {
        self.1.kv();
        self.0.put(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<(), PlatformError> {
        self.1.kv();
        self.0.delete(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KvPage, PlatformError> {
        self.1.kv();
        self.0.list(prefix, cursor, limit).await
    }
}

struct MeteredDb(Rc<dyn SqlDatabase>, Rc<Meter>);

#[async_trait(?Send)]
impl SqlDatabase for MeteredDb {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, PlatformError> {
        self.1.d1(1);
        self.0.query(statement).await
    }

    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError> {
        self.1.d1(1);
        self.0.execute(statement).await
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError> {
        self.1.d1(statements.len());
        self.0.batch(statements).await
    }
}
