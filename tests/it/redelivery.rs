//! Telegram redelivery (legacy §10.8), in every storage phase: an update id is applied once; a
//! failed attempt can be redelivered; a claim left by a crashed attempt expires. The claim is
//! taken by the update's first write (in D1's own batch where D1 answers the write), so
//! commands that write nothing never ask D1, and an isolate that applied an update answers its
//! redelivery from memory.

use crate::helpers::{run, telegram_ok, webhook_request, Backend, Fixture, WEBHOOK_SECRET};
use async_trait::async_trait;
use fear_greed_bot::app::{App, Isolate};
use fear_greed_bot::domain::ChatId;
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::platform::{Platform, PlatformError, Row, SqlDatabase, Statement};
use fear_greed_bot::storage::d1::CLAIM_EXPIRY_MS;
use fear_greed_bot::storage::Repos;
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;

pub(crate) const CHAT: i64 = 123_456_789;
const PHASES: [&str; 4] = ["kv_only", "dual_write", "shadow", "d1_only"];

/// A fixture with every repository in `phase` (forced: the stores start empty).
pub(crate) fn in_phase(phase: &str) -> Fixture {
    let f = Fixture::new(Backend::Kv);
    let at = PHASES.iter().position(|p| *p == phase).unwrap();
    for step in &PHASES[1..=at] {
        let body =
            json!({"key": "storage.phase.all", "value": step, "force": true, "reason": "test"});
        let (status, answer) = f.admin("PUT", "/admin/flags", &body.to_string());
        assert_eq!(status, 200, "{step}: {answer}");
    }
    if at >= 2 {
        f.after_handover();
    }
    f
}

/// Delivers `update_id` carrying `text` on `app`, as the worker does: the response, then the
/// work after it. Each test delivery on a fresh app reaches a new isolate.
pub(crate) fn deliver_on(app: &App, update_id: i64, text: &str) -> (u16, String) {
    let body = json!({"update_id": update_id, "message": {"chat": {"id": CHAT}, "text": text}});
    let request = webhook_request(Some(WEBHOOK_SECRET), body.to_string().as_bytes());
    let response = run(app.handle(&request));
    run(app.after_response());
    (response.status, response.body)
}

fn deliver(f: &Fixture, update_id: i64, text: &str) -> (u16, String) {
    deliver_on(&f.app(), update_id, text)
}

fn claim_state(f: &Fixture, update_id: i64) -> Option<String> {
    let statement = Statement::new(
        "SELECT state FROM telegram_updates WHERE update_id = ?1",
        vec![update_id.into()],
    );
    let rows = run(f.db.query(&statement)).unwrap();
    rows.first()
        .map(|row| row["state"].as_str().unwrap().to_owned())
}

pub(crate) fn put_claim(f: &Fixture, update_id: i64, state: &str) {
    let claim = Statement::new(
        "INSERT INTO telegram_updates (update_id, state, claimed_at) VALUES (?1, ?2, ?3)",
        vec![update_id.into(), state.into(), f.clock_now().into()],
    );
    run(f.db.execute(&claim)).unwrap();
}

/// The repositories of the store that answers `phase`'s reads.
fn answering(f: &Fixture, phase: &str) -> Repos {
    match phase {
        "kv_only" | "dual_write" => Repos::kv(&f.platform),
        _ => Repos::d1(&f.platform),
    }
}

fn executions_seen(f: &Fixture, phase: &str) -> usize {
    let repos = answering(f, phase);
    run(repos.executions.history(ChatId::new(CHAT), None))
        .unwrap()
        .len()
}

const OK: (u16, &str) = (200, r#"{"ok":true}"#);
const BUSY: (u16, &str) = (503, r#"{"ok":false,"error":"Update is being processed"}"#);

fn answer(given: &(u16, String)) -> (u16, &str) {
    (given.0, given.1.as_str())
}

#[test]
fn a_redelivered_write_is_acknowledged_and_not_applied_again_in_every_phase() {
    for phase in PHASES {
        let f = in_phase(phase);
        assert_eq!(answer(&deliver(&f, 7, "/execute SPY 400")), OK, "{phase}");
        assert_eq!(answer(&deliver(&f, 7, "/execute SPY 400")), OK, "{phase}");
        assert_eq!(f.sent_messages().len(), 1, "{phase}: one reply only");
        assert_eq!(executions_seen(&f, phase), 1, "{phase}");
        assert_eq!(claim_state(&f, 7).as_deref(), Some("done"), "{phase}");
        // An edit is a new update and runs (here it meets the monthly limit).
        assert_eq!(answer(&deliver(&f, 8, "/execute SPY 400")), OK, "{phase}");
        assert!(
            f.sent_messages()[1]
                .1
                .starts_with("❌ Trading frequency limit"),
            "{phase}"
        );
    }
}

#[test]
fn an_update_another_attempt_applied_meanwhile_is_not_applied_again_in_every_phase() {
    for phase in PHASES {
        let f = in_phase(phase);
        // Another isolate applied update 9 while this one read the watchlist.
        put_claim(&f, 9, "done");
        assert_eq!(
            answer(&deliver(&f, 9, "/watchlist add AAPL")),
            OK,
            "{phase}"
        );
        assert!(f.sent_messages().is_empty(), "{phase}");
        assert_eq!(
            run(answering(&f, phase).watchlists.watchlist(ChatId::new(CHAT))).unwrap(),
            vec!["SPY".to_owned()],
            "{phase}: the add did not land"
        );
    }
}

#[test]
fn an_attempt_that_failed_with_500_runs_again_when_redelivered_in_every_phase() {
    for phase in PHASES {
        let f = in_phase(phase);
        // The store that answers the write fails it.
        let d1_answers = matches!(phase, "shadow" | "d1_only");
        if d1_answers {
            f.db.run_script("CREATE TRIGGER refuse BEFORE INSERT ON watchlists WHEN NEW.ticker = 'AAPL' BEGIN SELECT RAISE(ABORT, 'injected'); END;")
                .unwrap();
        } else {
            f.kv.fail(KvOp::Put, "watchlist:");
        }
        assert_eq!(deliver(&f, 9, "/watchlist add AAPL").0, 500, "{phase}");
        assert_eq!(claim_state(&f, 9), None, "{phase}: nothing claimed");
        if d1_answers {
            f.db.run_script("DROP TRIGGER refuse;").unwrap();
        } else {
            f.kv.heal();
        }
        assert_eq!(
            answer(&deliver(&f, 9, "/watchlist add AAPL")),
            OK,
            "{phase}"
        );
        assert_eq!(
            f.sent_messages(),
            vec![(CHAT, "✅ Added AAPL to your watchlist.".to_owned())],
            "{phase}"
        );
    }
}

#[test]
fn a_running_claim_holds_off_duplicates_until_it_expires_in_every_phase() {
    for phase in PHASES {
        let f = in_phase(phase);
        // An attempt that crashed mid-way left its claim behind.
        put_claim(&f, 11, "running");
        assert_eq!(
            answer(&deliver(&f, 11, "/watchlist add AAPL")),
            BUSY,
            "{phase}"
        );
        assert!(f.sent_messages().is_empty(), "{phase}");
        f.clock.advance(CLAIM_EXPIRY_MS - 1);
        assert_eq!(
            answer(&deliver(&f, 11, "/watchlist add AAPL")),
            BUSY,
            "{phase}: still running"
        );
        f.clock.advance(1);
        assert_eq!(
            answer(&deliver(&f, 11, "/watchlist add AAPL")),
            OK,
            "{phase}"
        );
        assert_eq!(f.sent_messages().len(), 1, "{phase}");
        assert_eq!(claim_state(&f, 11).as_deref(), Some("done"), "{phase}");
    }
}

/// D1 whose first call that claims an update lands, then fails: its answer is lost on the way
/// back (found by the workerd fault soak, `tests/e2e/faults.test.mjs`).
struct LosesClaimAnswer {
    db: Rc<dyn SqlDatabase>,
    armed: Cell<bool>,
}

impl LosesClaimAnswer {
    fn answer<T>(
        &self,
        sent: &[Statement],
        answer: Result<T, PlatformError>,
    ) -> Result<T, PlatformError> {
        let claims = sent
            .iter()
            .any(|s| s.sql.contains("INSERT INTO telegram_updates"));
        if claims && self.armed.replace(false) {
            return Err(PlatformError("D1: network connection lost".into()));
        }
        answer
    }
}

#[async_trait(?Send)]
impl SqlDatabase for LosesClaimAnswer {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, PlatformError> {
        self.db.query(statement).await
    }

    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError> {
        self.db.execute(statement).await
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError> {
        let answer = self.db.batch(statements).await;
        self.answer(statements, answer)
    }

    async fn query_after(
        &self,
        writes: &[Statement],
        read: &Statement,
    ) -> Result<Vec<Row>, PlatformError> {
        let answer = self.db.query_after(writes, read).await;
        self.answer(writes, answer)
    }
}

/// An app on `f`'s storage whose first claim-carrying D1 call lands and loses its answer.
fn losing_the_claims_answer(f: &Fixture) -> App {
    let db = Rc::new(LosesClaimAnswer {
        db: f.platform.db.clone(),
        armed: Cell::new(true),
    });
    App::new(
        Platform {
            db,
            ..f.platform.clone()
        },
        f.config(),
    )
}

#[test]
fn an_attempt_whose_claim_landed_with_its_answer_lost_runs_on_and_once_in_every_phase() {
    for phase in PHASES {
        let f = in_phase(phase);
        let app = losing_the_claims_answer(&f);
        // Not 503 "being processed" for a claim that is its own.
        assert_eq!(
            answer(&deliver_on(&app, 12, "/execute QQQ 300 2024-01-15")),
            OK,
            "{phase}"
        );
        let sent = f.sent_messages();
        assert_eq!(sent.len(), 1, "{phase}");
        assert!(
            sent[0].1.starts_with("🟢 *Execution Recorded*"),
            "{phase}: {sent:?}"
        );
        assert_eq!(executions_seen(&f, phase), 1, "{phase}");
        if phase != "kv_only" {
            // The claim rode in the lost call's transaction (in `dual_write`, the history's
            // version bump before the command reads): it is this attempt's, marked done, and a
            // redelivery is acknowledged.
            assert_eq!(claim_state(&f, 12).as_deref(), Some("done"), "{phase}");
            let again = deliver(&f, 12, "/execute QQQ 300 2024-01-15");
            assert_eq!(answer(&again), OK, "{phase}");
        } else {
            // A claim D1 did not confirm lets the update run unguarded (MIGRATION.md,
            // "Redelivery"); what landed is left `running`, and expires.
            assert_eq!(claim_state(&f, 12).as_deref(), Some("running"), "{phase}");
        }
        assert_eq!(f.sent_messages().len(), 1, "{phase}: not applied again");
        assert_eq!(executions_seen(&f, phase), 1, "{phase}");
    }
}

fn executions_version(f: &Fixture) -> Option<i64> {
    let statement = Statement::new(
        "SELECT version FROM entity_versions WHERE repository = 'executions' AND entity_key = ?1",
        vec![CHAT.to_string().into()],
    );
    let rows = run(f.db.query(&statement)).unwrap();
    rows.first().map(|row| row["version"].as_i64().unwrap())
}

/// In `dual_write` an `/execute` bumps its history's D1 version before KV is written (so a
/// backfill cannot copy the append from KV before D1 has it). The bump comes before the
/// command reads and carries the update's claim: one D1 round trip before the reply, as in
/// `kv_only`. A redelivery is refused by that call, and its bump is rolled back with it.
#[test]
fn in_dual_write_an_execute_claims_with_its_version_bump_in_one_round_trip() {
    let f = in_phase("dual_write");
    let app = f.app();
    // The isolate's flags, read once per TTL, are not the command's cost.
    assert_eq!(answer(&deliver_on(&app, 1, "/executions")), OK);
    let trips_at_reply = Rc::new(Cell::new(None));
    let (db, seen) = (f.db.clone(), trips_at_reply.clone());
    f.http.answer_with(move |request| {
        if seen.get().is_none() {
            seen.set(Some(db.round_trips()));
        }
        Ok(telegram_ok(request))
    });
    f.db.reset_round_trips();
    assert_eq!(answer(&deliver_on(&app, 2, "/execute SPY 400.5")), OK);
    assert_eq!(
        trips_at_reply.get(),
        Some(1),
        "the claim and the bump, together"
    );
    assert_eq!(claim_state(&f, 2).as_deref(), Some("done"));
    let (version, sent) = (executions_version(&f), f.sent_messages().len());
    assert!(version.is_some(), "the history's version was bumped");

    // A new isolate gets the redelivery: the claim is found done, nothing lands or replies.
    assert_eq!(answer(&deliver(&f, 2, "/execute SPY 400.5")), OK);
    assert_eq!(executions_version(&f), version, "the bump rolled back");
    assert_eq!(f.sent_messages().len(), sent, "no second reply");
    assert_eq!(executions_seen(&f, "dual_write"), 1);
}

/// The worker hands the work after the response to `wait_until` only when
/// `has_work_after_response` says there is some: never after `/help`, always after a write
/// (its claim is marked done) and after a `shadow` read (its comparison).
#[test]
fn the_work_after_the_response_is_handed_on_exactly_when_there_is_some() {
    for phase in PHASES {
        let f = in_phase(phase);
        let app = f.app();
        let shadow = phase == "shadow";
        for (id, text, work) in [
            (50, "/help", false),
            (51, "/watchlist add AAPL", true),
            (52, "/watchlist", shadow),
        ] {
            let body = json!({"update_id": id, "message": {"chat": {"id": CHAT}, "text": text}});
            let request = webhook_request(Some(WEBHOOK_SECRET), body.to_string().as_bytes());
            assert_eq!(run(app.handle(&request)).status, 200, "{phase} {text}");
            assert_eq!(app.has_work_after_response(), work, "{phase} {text}");
            f.db.reset_round_trips();
            run(app.after_response());
            let trips = f.db.round_trips();
            assert_eq!(
                trips > 0,
                work,
                "{phase} {text}: {trips} D1 calls after the response"
            );
        }
        assert_eq!(claim_state(&f, 51).as_deref(), Some("done"), "{phase}");
    }
}

#[test]
fn a_command_that_writes_nothing_claims_nothing_and_in_kv_only_never_asks_d1() {
    for phase in PHASES {
        let f = in_phase(phase);
        // The chat's watchlist exists, so showing it writes nothing; the isolate has read the
        // flags already.
        let isolate = Isolate::default();
        let app = || App::in_isolate(f.platform.clone(), f.config(), isolate.clone());
        deliver_on(&app(), 19, "/watchlist add AAPL");
        f.db.reset_round_trips();
        let updates = [(20, "/help"), (21, "/watchlist"), (22, "/executions")];
        for (id, text) in updates {
            assert_eq!(answer(&deliver_on(&app(), id, text)), OK, "{phase} {text}");
        }
        if phase == "kv_only" {
            assert_eq!(f.db.round_trips(), 0, "kv_only reads never ask D1");
        }
        for (id, text) in updates {
            assert_eq!(claim_state(&f, id), None, "{phase} {text}");
        }
    }
}

#[test]
fn help_on_a_fresh_isolate_reads_no_flags_and_touches_no_store_in_any_phase() {
    for phase in PHASES {
        let f = in_phase(phase);
        f.db.reset_round_trips();
        f.kv.reset_counts();
        // A new app is a new isolate: no flags cached, so only a storage call would read them.
        assert_eq!(answer(&deliver(&f, 40, "/help")), OK);
        assert_eq!(
            f.sent_messages().len(),
            1,
            "{phase}: the help text went out"
        );
        assert_eq!(f.db.round_trips(), 0, "{phase}: no settings read, no claim");
        assert_eq!(f.kv.counts().total(), 0, "{phase}");
        // The next command of a fresh isolate that needs storage reads the flags first, and
        // runs in the phase they say.
        f.db.reset_round_trips();
        assert_eq!(answer(&deliver(&f, 41, "/executions")), OK);
        match phase {
            "kv_only" => assert_eq!(f.db.round_trips(), 1, "settings only"),
            "d1_only" => assert_eq!(f.db.round_trips(), 2, "settings, then the history"),
            _ => {}
        }
    }
}

#[test]
fn an_isolate_answers_a_redelivery_of_what_it_ran_from_memory() {
    let f = in_phase("d1_only");
    let isolate = Isolate::default();
    let app = || App::in_isolate(f.platform.clone(), f.config(), isolate.clone());
    assert_eq!(answer(&deliver_on(&app(), 30, "/help")), OK);
    f.db.reset_round_trips();
    assert_eq!(answer(&deliver_on(&app(), 30, "/help")), OK);
    assert_eq!(f.sent_messages().len(), 1, "one reply only");
    assert_eq!(f.db.round_trips(), 0, "answered without D1");
    // A redelivery that reaches another isolate runs a command that wrote nothing again:
    // the cost of asking D1 nothing for it (MIGRATION.md, "Redelivery").
    assert_eq!(answer(&deliver(&f, 30, "/help")), OK);
    assert_eq!(f.sent_messages().len(), 2);
}

#[test]
fn updates_without_an_id_and_ignored_texts_claim_nothing() {
    let f = Fixture::new(Backend::Kv);
    let body = br#"{"message":{"chat":{"id":1},"text":"/watchlist add AAPL"}}"#;
    for _ in 0..2 {
        f.handle(&webhook_request(Some(WEBHOOK_SECRET), body));
    }
    assert_eq!(f.sent_messages().len(), 2);
    deliver(&f, 12, "hello");
    assert_eq!(f.count("SELECT COUNT(*) FROM telegram_updates"), 0);
}

#[test]
fn maintenance_forgets_updates_after_two_days() {
    let f = Fixture::new(Backend::Kv);
    deliver(&f, 13, "/watchlist add AAPL");
    assert_eq!(claim_state(&f, 13).as_deref(), Some("done"));
    f.clock.advance(48 * 3600 * 1000);
    run(f.app().on_cron("*/5 * * * *"));
    assert_eq!(
        claim_state(&f, 13).as_deref(),
        Some("done"),
        "kept for two days"
    );
    f.clock.advance(1);
    run(f.app().on_cron("*/5 * * * *"));
    assert_eq!(f.count("SELECT COUNT(*) FROM telegram_updates"), 0);
}

#[test]
fn a_failed_attempt_gives_up_a_claim_that_landed_with_its_answer_lost() {
    for phase in ["shadow", "d1_only"] {
        let f = in_phase(phase);
        let app = losing_the_claims_answer(&f);
        // The add and its claim landed in one batch whose answer was lost: 500, and the claim
        // is given up with the attempt, so the redelivery runs (and finds the ticker there)
        // instead of meeting 503 for 15 minutes.
        assert_eq!(
            deliver_on(&app, 13, "/watchlist add AAPL").0,
            500,
            "{phase}"
        );
        assert_eq!(claim_state(&f, 13), None, "{phase}");
        assert_eq!(
            answer(&deliver(&f, 13, "/watchlist add AAPL")),
            OK,
            "{phase}"
        );
        assert_eq!(
            f.sent_messages(),
            vec![(
                CHAT,
                "❌ Ticker AAPL is already in your watchlist.".to_owned()
            )],
            "{phase}"
        );
    }
}
