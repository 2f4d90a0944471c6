//! The resumable sweeps over a generated legacy dataset of 10,000 chats (`BACKFILL_CHATS`
//! overrides), one `run_step` per invocation, on the native platform (KV in memory, D1 on
//! SQLite): invocations needed, entities per invocation and per second, KV operations, D1
//! statements and D1 round trips per entity, the largest invocation against the 1,000-operation
//! budget, and whether the backfill reads each KV key once. Counts do not depend on the machine;
//! wall time does (and is native SQLite's, not D1's).
//!
//! Run with `cargo bench --bench backfill` (or `bash scripts/bench.sh`). Exits non-zero on a
//! count over its target (an invocation over 1,000, a key read twice), never on a timing.

use async_trait::async_trait;
use fear_greed_bot::migration::sweep::{run_step, Budget, Kind, Progress, Tally};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::{KvOpCounts, ManualClock, MemoryKv};
use fear_greed_bot::platform::native::{ScriptedHttp, SqliteDatabase};
use fear_greed_bot::platform::{KvPage, KvStore, Platform, PlatformError};
use fear_greed_bot::storage::kv::LegacyDataset;
use fear_greed_bot::storage::Repository;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Tuesday 2026-11-24T09:00Z.
const NOW: i64 = 1_795_510_800_000;
/// migration.md §5: per invocation, at most this many KV operations and D1 statements.
const LIMIT: u64 = 1_000;

/// The bench's KV: a [`MemoryKv`] that also counts `get`s per key.
#[derive(Default)]
struct CountingKv {
    inner: MemoryKv,
    gets: RefCell<BTreeMap<String, u64>>,
}

#[async_trait(?Send)]
impl KvStore for CountingKv {
    async fn get(&self, key: &str) -> Result<Option<String>, PlatformError> {
        *self.gets.borrow_mut().entry(key.to_owned()).or_default() += 1;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &str) -> Result<(), PlatformError> {
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), PlatformError> {
        self.inner.delete(key).await
    }
    async fn list(&self, p: &str, at: Option<&str>, n: usize) -> Result<KvPage, PlatformError> {
        self.inner.list(p, at, n).await
    }
}

/// One sweep, run to its end: sums over its invocations, and the largest of them.
#[derive(Default)]
struct Summary {
    invocations: u64,
    entities: u64,
    fewest: u64,
    most: u64,
    wall: Duration,
    kv_ops: u64,
    statements: u64,
    trips: u64,
    /// D1 round trips as SQLite counted them, to check the meter against.
    seen: u64,
    kv_max: u64,
    d1_max: u64,
    kv: KvOpCounts,
    /// KV gets per key.
    gets: BTreeMap<String, u64>,
    sweeps: Vec<Progress>,
}

impl Summary {
    fn per(&self, x: u64) -> String {
        format!("{:.4}", x as f64 / self.entities.max(1) as f64)
    }
    fn mean(&self) -> String {
        let n = self.invocations.max(1) as f64;
        format!("{:.1}", self.entities as f64 / n)
    }
    fn rate(&self) -> String {
        format!("{:.0}", self.entities as f64 / self.wall.as_secs_f64())
    }
    fn gets_per_key(&self) -> String {
        let gets: u64 = self.gets.values().sum();
        format!("{:.3}", gets as f64 / self.gets.len().max(1) as f64)
    }
    fn tally(&self, f: fn(&Tally) -> u64) -> String {
        let n: u64 = self.sweeps.iter().map(|p| f(&p.tally)).sum();
        n.to_string()
    }
    fn within_budget(&self) -> bool {
        self.kv_max <= LIMIT && self.d1_max <= LIMIT
    }
}

fn pair(a: u64, b: u64) -> String {
    format!("{a}, {b}")
}

fn verdict(ok: bool) -> String {
    if ok { "PASS" } else { "FAIL" }.into()
}

/// A row of the table: a label, and its value for one sweep.
type Row = (&'static str, fn(&Summary) -> String);

const ROWS: [Row; 20] = [
    ("invocations needed", |s| s.invocations.to_string()),
    ("entities visited", |s| s.entities.to_string()),
    ("entities per invocation, mean", |s| s.mean()),
    ("  fewest, most", |s| pair(s.fewest, s.most)),
    ("entities per second (native SQLite)", |s| s.rate()),
    ("KV operations per entity", |s| s.per(s.kv_ops)),
    ("  gets, puts", |s| pair(s.kv.get, s.kv.put)),
    ("  deletes, lists", |s| pair(s.kv.delete, s.kv.list)),
    ("  KV gets per key read", |s| s.gets_per_key()),
    ("D1 statements per entity", |s| s.per(s.statements)),
    ("D1 round trips per entity", |s| s.per(s.trips)),
    ("  all, metered (SQLite's count)", |s| pair(s.trips, s.seen)),
    ("max per invocation: KV, D1", |s| pair(s.kv_max, s.d1_max)),
    ("  both ≤ 1,000", |s| verdict(s.within_budget())),
    ("entities written (or would be)", |s| s.tally(|t| t.written)),
    ("  their rows", |s| s.tally(|t| t.rows_written)),
    ("entities equal in both stores", |s| s.tally(|t| t.matched)),
    ("differences", |s| s.tally(|t| t.discrepancies)),
    ("skipped: corrupt, or no entity", |s| s.tally(|t| t.skipped)),
    ("deferred to the repair queue", |s| s.tally(|t| t.deferred)),
];

/// The platform's parts the bench reads.
struct Bench {
    kv: Rc<CountingKv>,
    db: Rc<SqliteDatabase>,
    clock: Rc<ManualClock>,
    http: Rc<ScriptedHttp>,
}

impl Bench {
    /// Runs `kind` over every repository to its end, one step per invocation.
    fn sweep(&self, kind: Kind, phases: Phases) -> Summary {
        let platform = Platform {
            kv: self.kv.clone(),
            db: self.db.clone(),
            clock: self.clock.clone(),
            http: self.http.clone(),
        };
        self.kv.inner.reset_counts();
        self.db.reset_round_trips();
        let (all, budget) = (&Repository::ALL, Budget::INVOCATION);
        let mut s = Summary {
            fewest: u64::MAX,
            ..Summary::default()
        };
        while s.sweeps.is_empty() {
            let started = Instant::now();
            let step = run_step(&platform, kind, all, phases, budget, false);
            let step = futures::executor::block_on(step)
                .unwrap_or_else(|e| panic!("{kind} invocation {}: {e}", s.invocations + 1));
            s.wall += started.elapsed();
            s.invocations += 1;
            let scanned: u64 = step.sweeps.iter().map(|p| p.tally.scanned).sum();
            let (entities, used) = (scanned - s.entities, step.usage);
            s.entities = scanned;
            s.fewest = s.fewest.min(entities);
            s.most = s.most.max(entities);
            s.kv_ops += used.kv_ops;
            s.statements += used.d1_statements;
            s.trips += used.d1_round_trips;
            s.kv_max = s.kv_max.max(used.kv_ops);
            s.d1_max = s.d1_max.max(used.d1_statements);
            if used.kv_ops > LIMIT || used.d1_statements > LIMIT {
                let n = s.invocations;
                println!("OVER BUDGET: {kind} invocation {n}: {used:?}, {entities} entities");
            }
            // The next invocation comes with a later cron tick.
            self.clock.advance(60_000);
            if step.finished() {
                s.sweeps = step.sweeps;
            }
            assert!(s.invocations < 100_000, "{kind} never finishes");
        }
        (s.kv, s.seen) = (self.kv.inner.counts(), self.db.round_trips());
        s.gets = self.kv.gets.take();
        s
    }
}

fn main() {
    let chats = std::env::var("BACKFILL_CHATS").ok();
    let chats: usize = chats.and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let dataset = LegacyDataset::generate(chats, 42);
    let kv = CountingKv::default();
    for (key, value) in &dataset.entries {
        kv.inner.seed(key, value);
    }
    let bench = Bench {
        kv: Rc::new(kv),
        db: Rc::new(SqliteDatabase::migrated().expect("migrations apply")),
        clock: Rc::new(ManualClock::new(NOW)),
        http: Rc::new(ScriptedHttp::new()),
    };
    let (keys, corrupt) = (dataset.entries.len(), dataset.corrupt.len());
    let subscribers = dataset.subscribers.len();
    let (w, e) = (dataset.watchlist_rows, dataset.execution_rows);
    let p = dataset.position_rows;
    println!("Legacy dataset (seed 42): {chats} chats, {keys} KV keys ({corrupt} corrupt);");
    println!("a faithful copy: {subscribers} subscribers, {w} watchlist, {e} execution rows,");
    println!("{p} position rows. An invocation = one run_step over every repository with");
    println!("Budget::INVOCATION on the native platform (KV in memory, D1 on SQLite): backfill,");
    println!("validation and dry run in dual_write, then the reverse sync in d1_only.");
    let dual_write = Phases::uniform(Phase::DualWrite);
    let summaries = [
        bench.sweep(Kind::Backfill, dual_write),
        bench.sweep(Kind::Validation, dual_write),
        bench.sweep(Kind::DryRun, dual_write),
        bench.sweep(Kind::ReverseSync, Phases::uniform(Phase::D1Only)),
    ];
    print!("\n{:<38}", "");
    for s in &summaries {
        print!("{:>14}", s.sweeps[0].kind.as_str());
    }
    for (label, value) in ROWS {
        print!("\n{label:<38}");
        for s in &summaries {
            print!("{:>14}", value(s));
        }
    }
    // Each KV key read once by the backfill.
    let gets = &summaries[0].gets;
    let twice: Vec<_> = gets.iter().filter(|(_, &n)| n > 1).collect();
    let never = dataset.entries.iter().map(|(k, _)| k);
    let never: Vec<_> = never.filter(|k| !gets.contains_key(*k)).collect();
    let once = verdict(twice.is_empty());
    println!("\n\nbackfill: each KV key read once          {once}");
    println!("  dataset keys never read (no entity):   {never:?}");
    for (key, n) in twice.iter().take(20) {
        println!("  READ {n} TIMES: {key}");
    }
    let sent = bench.http.sent().len();
    println!("outbound requests (none expected):        {sent}");
    let within = summaries.iter().all(Summary::within_budget);
    if !within || !twice.is_empty() || sent > 0 {
        println!("FAIL: a count above is over its target");
        std::process::exit(1);
    }
}
