//! Fixtures: fresh stores per test, and a runner that holds both repository implementations to
//! the same contract.

use fear_greed_bot::app::App;
use fear_greed_bot::platform::native::{ManualClock, MemoryKv, SqliteDatabase};
use fear_greed_bot::platform::Platform;
use fear_greed_bot::storage::Repos;
use std::rc::Rc;

/// 2024-01-15T00:00:00Z, a Monday.
pub const T0: i64 = 1_705_276_800_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Kv,
    D1,
}

/// Fresh stores, with direct handles for seeding and inspection.
pub struct Fixture {
    pub backend: Backend,
    pub kv: Rc<MemoryKv>,
    pub db: Rc<SqliteDatabase>,
    pub clock: Rc<ManualClock>,
    pub platform: Platform,
    pub repos: Repos,
}

impl Fixture {
    pub fn new(backend: Backend) -> Self {
        let kv = Rc::new(MemoryKv::new());
        let db = Rc::new(SqliteDatabase::migrated().expect("migrations apply"));
        let clock = Rc::new(ManualClock::new(T0));
        let platform = Platform {
            kv: kv.clone(),
            db: db.clone(),
            clock: clock.clone(),
        };
        let repos = match backend {
            Backend::Kv => Repos::kv(&platform),
            Backend::D1 => Repos::d1(&platform),
        };
        Self {
            backend,
            kv,
            db,
            clock,
            platform,
            repos,
        }
    }

    pub fn app(&self) -> App {
        App::new(self.platform.clone())
    }

    /// Count of rows a SQL query returns, for inspecting D1 state directly.
    pub fn count(&self, sql: &'static str) -> i64 {
        let rows = run(fear_greed_bot::platform::SqlDatabase::query(
            self.db.as_ref(),
            &fear_greed_bot::platform::Statement::new(sql, vec![]),
        ))
        .expect("inspection query runs");
        rows[0]
            .values()
            .next()
            .and_then(|v| v.as_i64())
            .expect("a count")
    }
}

/// Runs a future to completion: every native platform call resolves immediately.
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// Runs `check` against the KV and the D1 implementation, each on fresh stores.
pub fn contract(check: impl AsyncFn(&Fixture)) {
    for backend in [Backend::Kv, Backend::D1] {
        let fixture = Fixture::new(backend);
        run(check(&fixture));
    }
}
