//! Phase flips an isolate has not seen yet: its flags are cached for up to
//! `flags.cache_ttl_seconds`, or kept longer when `settings` cannot be read. A write's claim
//! carries the phase rows its flags came from, so a write never runs in a phase its repository
//! has left: the claim fails, nothing lands, and the update runs again on fresh flags.

use crate::helpers::{run, Fixture};
use crate::redelivery::{deliver_on, in_phase, CHAT};
use async_trait::async_trait;
use fear_greed_bot::app::{App, Isolate};
use fear_greed_bot::domain::ChatId;
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::platform::{Platform, PlatformError, Row, SqlDatabase, Statement};
use fear_greed_bot::storage::Repos;
use serde_json::json;
use std::rc::Rc;

const OK: (u16, &str) = (200, r#"{"ok":true}"#);
const FAILED: (u16, &str) = (500, r#"{"ok":false,"error":"Internal server error"}"#);

/// An isolate that has read the flags in `f`'s current phase (its first write did), and
/// serves every later request on `platform`.
struct StaleIsolate {
    isolate: Isolate,
    platform: Platform,
}

impl StaleIsolate {
    fn warmed(f: &Fixture, platform: Platform) -> Self {
        let stale = Self {
            isolate: Isolate::default(),
            platform: f.platform.clone(),
        };
        assert_eq!(answer(&stale.deliver(f, 1, "/watchlist add AAA")), OK);
        Self { platform, ..stale }
    }

    fn app(&self, f: &Fixture) -> App {
        App::new(self.platform.clone(), f.config()).with_isolate(self.isolate.clone())
    }

    fn deliver(&self, f: &Fixture, update_id: i64, text: &str) -> (u16, String) {
        deliver_on(&self.app(f), update_id, text)
    }
}

/// Moves every repository to `phase` through the admin API of another isolate.
fn flip(f: &Fixture, phase: &str) {
    let body = json!({"key": "storage.phase.all", "value": phase, "force": true, "reason": "test"});
    let (status, answer) = f.admin("PUT", "/admin/flags", &body.to_string());
    assert_eq!(status, 200, "{phase}: {answer}");
}

fn answer(given: &(u16, String)) -> (u16, &str) {
    (given.0, given.1.as_str())
}

fn watchlist(repos: &Repos) -> Vec<String> {
    run(repos.watchlists.watchlist(ChatId::new(CHAT))).unwrap()
}

fn has_bbb(repos: &Repos) -> bool {
    watchlist(repos).iter().any(|ticker| ticker == "BBB")
}

fn replies(f: &Fixture) -> Vec<String> {
    f.sent_messages()
        .into_iter()
        .filter(|(chat, _)| *chat == CHAT)
        .map(|(_, text)| text)
        .collect()
}

#[test]
fn a_write_on_an_isolate_holding_the_old_phase_runs_in_the_new_one() {
    // (old, new, the store a write in the new phase reaches: KV, D1)
    let flips = [
        ("kv_only", "dual_write", (true, true)),
        ("dual_write", "kv_only", (true, false)),
        ("shadow", "d1_only", (false, true)),
        ("dual_write", "shadow", (true, true)),
        ("shadow", "dual_write", (true, true)),
    ];
    for (old, new, (in_kv, in_d1)) in flips {
        let f = in_phase(old);
        let stale = StaleIsolate::warmed(&f, f.platform.clone());
        flip(&f, new);
        let before = replies(&f).len();
        let given = stale.deliver(&f, 2, "/watchlist add BBB");
        assert_eq!(answer(&given), OK, "{old} → {new}");
        // One attempt's reply, not two.
        assert_eq!(
            replies(&f)[before..],
            ["✅ Added BBB to your watchlist.".to_owned()],
            "{old} → {new}"
        );
        let (kv, d1) = (Repos::kv(&f.platform), Repos::d1(&f.platform));
        assert_eq!(
            (has_bbb(&kv), has_bbb(&d1)),
            (in_kv, in_d1),
            "{old} → {new}"
        );
        // Applied once: a redelivery is acknowledged and sends nothing.
        assert_eq!(answer(&stale.deliver(&f, 2, "/watchlist add BBB")), OK);
        assert_eq!(replies(&f).len(), before + 1, "{old} → {new}");
    }
}

/// D1 whose batches that write a watchlist fail.
struct WatchlistWritesFail(Rc<dyn SqlDatabase>);

impl WatchlistWritesFail {
    fn refuses(statements: &[Statement]) -> Result<(), PlatformError> {
        match statements.iter().any(|s| s.sql.contains("INTO watchlists")) {
            true => Err(PlatformError("D1: network connection lost".into())),
            false => Ok(()),
        }
    }
}

#[async_trait(?Send)]
impl SqlDatabase for WatchlistWritesFail {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, PlatformError> {
        self.0.query(statement).await
    }

    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError> {
        Self::refuses(std::slice::from_ref(statement))?;
        self.0.execute(statement).await
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError> {
        Self::refuses(statements)?;
        self.0.batch(statements).await
    }

    async fn query_after(
        &self,
        writes: &[Statement],
        read: &Statement,
    ) -> Result<Vec<Row>, PlatformError> {
        Self::refuses(writes)?;
        self.0.query_after(writes, read).await
    }
}

/// Between `dual_write` and `shadow` the store that answers changes, and the old phase writes
/// it second, after the replies. Were the old phase to run, its write would be acknowledged
/// with that second write failed: missing from the store the new phase reads. It runs in the
/// new phase instead, where that store fails the write before any reply: a 500, and the
/// redelivery applies it once.
#[test]
fn no_write_is_acknowledged_that_the_new_phase_cannot_read() {
    for (old, new) in [("dual_write", "shadow"), ("shadow", "dual_write")] {
        let f = in_phase(old);
        let platform = match new {
            "shadow" => Platform {
                db: Rc::new(WatchlistWritesFail(f.platform.db.clone())),
                ..f.platform.clone()
            },
            // The fixture's own KV fails the puts once the isolate is warm.
            _ => f.platform.clone(),
        };
        let stale = StaleIsolate::warmed(&f, platform);
        flip(&f, new);
        if new == "dual_write" {
            f.kv.fail(KvOp::Put, "watchlist:");
        }
        let before = replies(&f).len();
        assert_eq!(
            answer(&stale.deliver(&f, 2, "/watchlist add BBB")),
            FAILED,
            "{old} → {new}"
        );
        assert_eq!(
            replies(&f).len(),
            before,
            "{old} → {new}: nothing acknowledged"
        );
        f.kv.heal();
        // Telegram delivers it again, to a healthy isolate: applied once.
        assert_eq!(answer(&deliver_on(&f.app(), 2, "/watchlist add BBB")), OK);
        assert_eq!(
            replies(&f)[before..],
            ["✅ Added BBB to your watchlist.".to_owned()]
        );
        let answering = match new {
            "shadow" => Repos::d1(&f.platform),
            _ => Repos::kv(&f.platform),
        };
        assert!(has_bbb(&answering), "{old} → {new}");
    }
}

/// The fence spells the phase rows in SQL as the isolate spelled the rows it read: in key order,
/// only `storage.phase.*`, whatever else `settings` holds (unknown keys, invalid values).
#[test]
fn the_fence_matches_the_phase_rows_the_flags_were_read_from_whatever_else_settings_holds() {
    let f = in_phase("shadow");
    for (key, value) in [
        ("storage.phase.zz", "not a phase"),
        ("storage.phases.watchlists", "kv_only"),
        ("storage.phase", "kv_only"),
        ("storage.phase.a", "é\n=x"),
        ("shadow.sample_rate", "0.5"),
    ] {
        crate::flags::store_raw(&f, key, value);
    }
    let app = f.app();
    assert_eq!(answer(&deliver_on(&app, 2, "/watchlist add BBB")), OK);
    assert_eq!(
        replies(&f).last().map(String::as_str),
        Some("✅ Added BBB to your watchlist.")
    );
    // Those rows are not phases: the write ran in shadow, D1 first.
    assert!(has_bbb(&Repos::d1(&f.platform)));
}
