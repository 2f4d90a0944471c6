//! Phase flips an isolate has not seen yet: its flags are cached for up to
//! `flags.cache_ttl_seconds`, or kept longer when `settings` cannot be read. A write's claim
//! carries the phase rows its flags came from, so a write never runs in a phase its repository
//! has left: the claim fails, nothing lands, and the update runs again on fresh flags.

use crate::helpers::{run, Fixture, SWITCH_MS};
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
        App::in_isolate(self.platform.clone(), f.config(), self.isolate.clone())
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

/// The platform whose store the new phase reads fails every watchlist write (D1 for `shadow`;
/// for `dual_write`, the fixture's KV is told to fail its puts once the isolate is warm).
fn failing_towards(f: &Fixture, new: &str) -> Platform {
    match new {
        "shadow" => Platform {
            db: Rc::new(WatchlistWritesFail(f.platform.db.clone())),
            ..f.platform.clone()
        },
        _ => f.platform.clone(),
    }
}

/// D1's repositories, or KV's.
fn repos_of(f: &Fixture, d1: bool) -> Repos {
    match d1 {
        true => Repos::d1(&f.platform),
        false => Repos::kv(&f.platform),
    }
}

/// Whether the chat's watchlist, as a fresh isolate shows it to the user, lists BBB.
fn shows_bbb(f: &Fixture) -> bool {
    f.replies(CHAT, "/watchlist")[0].contains("$BBB")
}

/// Between `dual_write` and `shadow` the store that answers changes, and each phase writes the
/// other phase's store second. So the move is handed over: an isolate holding the old flags has
/// its write fenced and run again in the old phase, with caution (both writes before the
/// reply); when the new phase's store fails its half, the write is acknowledged, its repair
/// queued before the reply; and from the switch on, the read finds the repair and is answered
/// by the store that has the write, until the drain copies it over.
#[test]
fn a_write_acknowledged_around_a_move_is_read_back_whichever_store_serves() {
    for (old, new) in [("dual_write", "shadow"), ("shadow", "dual_write")] {
        let f = in_phase(old);
        let stale = StaleIsolate::warmed(&f, failing_towards(&f, new));
        flip(&f, new);
        if new == "dual_write" {
            f.kv.fail(KvOp::Put, "watchlist:");
        }
        let before = replies(&f).len();
        assert_eq!(answer(&stale.deliver(&f, 2, "/watchlist add BBB")), OK);
        assert_eq!(
            replies(&f)[before..],
            ["✅ Added BBB to your watchlist.".to_owned()],
            "{old} → {new}: acknowledged once"
        );
        f.kv.heal();
        // Fresh repositories for each look: KV's remember what they read.
        let (new_store, old_store) = (
            || repos_of(&f, new == "shadow"),
            || repos_of(&f, new != "shadow"),
        );
        assert!(
            has_bbb(&old_store()) && !has_bbb(&new_store()),
            "{old} → {new}"
        );
        assert_eq!(f.count("SELECT COUNT(*) FROM repair_queue"), 1);
        // Until the switch the old phase serves; after it the new one, whose store missed the
        // write: the read finds the repair and the old store answers; so it does once the
        // handover is over, until the drain.
        assert!(shows_bbb(&f), "{old} → {new}: before the switch");
        f.clock.advance(SWITCH_MS);
        assert!(shows_bbb(&f), "{old} → {new}: after the switch");
        f.after_handover();
        assert!(shows_bbb(&f), "{old} → {new}: once handed over");
        let (_, metrics) = f.admin("GET", "/admin/metrics?minutes=5", "");
        assert_eq!(
            metrics["repositories"]["watchlists"]["fallbacks"].as_i64(),
            Some(2),
            "{old} → {new}: {metrics}"
        );
        // KV's propagation window passes before KV is the source of a copy.
        f.clock.advance(60_000);
        let (status, body) = f.admin("POST", "/admin/repair", "");
        assert_eq!(status, 200, "{body}");
        assert!(has_bbb(&new_store()), "{old} → {new}: the drain copied it");
        assert!(shows_bbb(&f), "{old} → {new}: after the drain");
        let (_, metrics) = f.admin("GET", "/admin/metrics?minutes=1", "");
        assert_eq!(
            metrics["repositories"]["watchlists"]["fallbacks"].as_i64(),
            Some(0),
            "{old} → {new}: the store that serves has it now: {metrics}"
        );
    }
}

/// A write whose claim was taken before the move may still have its second half to make: the
/// switch waits until every such attempt has finished, however long after the flags' TTL.
#[test]
fn a_move_switches_stores_only_once_the_writes_claimed_before_it_have_finished() {
    let f = in_phase("dual_write");
    // The stores disagree about the chat's watchlist, so each reply tells which one answered.
    f.kv.seed(&format!("watchlist:{CHAT}"), r#"["KVSTORE"]"#);
    run(Repos::d1(&f.platform)
        .watchlists
        .add(ChatId::new(CHAT), "DSTORE"))
    .unwrap();
    let served_by = |f: &Fixture| {
        let reply = f.replies(CHAT, "/watchlist").remove(0);
        match (reply.contains("$KVSTORE"), reply.contains("$DSTORE")) {
            (true, false) => "kv",
            (false, true) => "d1",
            _ => panic!("{reply}"),
        }
    };
    crate::redelivery::put_claim(&f, 77, "running");
    f.clock.advance(1);
    flip(&f, "shadow");
    f.clock.advance(SWITCH_MS + 60_000);
    assert_eq!(
        served_by(&f),
        "kv",
        "an attempt claimed before the move runs"
    );
    let done = Statement::new(
        "UPDATE telegram_updates SET state = 'done', finished_at = ?1 WHERE update_id = 77",
        vec![f.clock_now().into()],
    );
    run(f.db.execute(&done)).unwrap();
    assert_eq!(
        served_by(&f),
        "d1",
        "every attempt claimed before it finished"
    );
}

/// Every isolate that can read `settings` switches at the same moment: the flags' TTL after the
/// change, by when an isolate that read the old flags has read them again.
#[test]
fn an_isolate_that_read_the_flags_before_the_move_switches_with_the_others() {
    let f = in_phase("dual_write");
    let stale = StaleIsolate::warmed(&f, f.platform.clone());
    f.kv.seed(&format!("watchlist:{CHAT}"), r#"["KVSTORE"]"#);
    let served_by = |reply: (u16, String)| {
        assert_eq!(reply.0, 200);
        let text = replies(&f).pop().unwrap();
        if text.contains("$KVSTORE") {
            "kv"
        } else {
            "d1"
        }
    };
    flip(&f, "shadow");
    f.clock.advance(SWITCH_MS - 1);
    assert_eq!(served_by(stale.deliver(&f, 10, "/watchlist")), "kv");
    assert_eq!(served_by(deliver_on(&f.app(), 11, "/watchlist")), "kv");
    f.clock.advance(1);
    assert_eq!(served_by(stale.deliver(&f, 12, "/watchlist")), "d1");
    assert_eq!(served_by(deliver_on(&f.app(), 13, "/watchlist")), "d1");
}

/// Outside a handover too: a move forced while D1 still missed a write serves that entity from
/// KV, counted as a fallback, until the drain copies it; other entities are served by D1.
#[test]
fn a_store_that_missed_a_write_does_not_serve_it_after_a_forced_move() {
    let f = in_phase("dual_write");
    let app = App::new(failing_towards(&f, "shadow"), f.config());
    assert_eq!(answer(&deliver_on(&app, 2, "/watchlist add BBB")), OK);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM repair_queue WHERE target = 'd1'"),
        1
    );
    flip(&f, "shadow");
    f.after_handover();
    assert!(!has_bbb(&Repos::d1(&f.platform)));
    assert!(shows_bbb(&f));
    // Another chat, whose stores disagree, is served by D1.
    f.kv.seed("watchlist:42", r#"["KVSTORE"]"#);
    run(Repos::d1(&f.platform)
        .watchlists
        .add(ChatId::new(42), "DSTORE"))
    .unwrap();
    assert!(f.replies(42, "/watchlist")[0].contains("$DSTORE"));
    f.clock.advance(60_000);
    assert_eq!(f.admin("POST", "/admin/repair", "").0, 200);
    assert!(has_bbb(&Repos::d1(&f.platform)));
    assert!(shows_bbb(&f));
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
