//! Users see no change (migration.md §2): one scripted conversation gives byte-identical
//! Telegram messages with every repository in each of the four phases, and across phase flips
//! made through the admin API in the middle of it.

use crate::helpers::{answer_market, telegram_ok, Backend, Fixture, ADMIN, SWITCH_MS};
use fear_greed_bot::platform::{SqlDatabase, Statement};
use futures::FutureExt;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;

const A: i64 = 111;
const B: i64 = 222;

/// Every command that reads or writes storage, with its error paths.
const SCRIPT: &[(i64, &str)] = &[
    (A, "/start"),
    (A, "/watchlist"),
    (A, "/watchlist add aapl"),
    (A, "/watchlist add AAPL"),
    (B, "/start"),
    (A, "/now"),
    (B, "/now MSFT"),
    (A, "/execute SPY 400.5"),
    (A, "/executions"),
    (A, "/execute SPY 410"),
    (B, "/execute AAPL 150 2024-01-02"),
    (B, "/executions aapl"),
    (ADMIN, "/subscribers"),
    (A, "/watchlist remove SPY"),
    (A, "/watchlist remove AAPL"),
    (A, "/now"),
    (A, "/stop"),
    (ADMIN, "/subscribers"),
    (B, "/watchlist"),
    (B, "/now"),
    (A, "/start"),
    (A, "/executions SPY"),
];

fn fixture() -> Fixture {
    let f = Fixture::new(Backend::Kv);
    // Tuesday 2024-01-16: a trading day, and the fixture's Monday + 1.
    f.clock.advance(24 * 60 * 60 * 1000);
    answer_market(&f, "Fear", 25.0, 380.0);
    f
}

fn say(f: &Fixture, script: &[(i64, &str)]) -> Vec<(i64, String)> {
    script
        .iter()
        .flat_map(|(chat, text)| f.converse(*chat, text))
        .collect()
}

/// Every repository in `phase`, as an operator would set it (guard rails forced: the stores
/// start empty, so there is nothing to backfill).
fn move_all(f: &Fixture, phase: &str) {
    let body = json!({"key": "storage.phase.all", "value": phase, "force": true, "reason": "test"});
    let (status, answer) = f.admin("PUT", "/admin/flags", &body.to_string());
    assert_eq!(status, 200, "{phase}: {answer}");
}

#[test]
fn the_conversation_reads_the_same_in_every_phase() {
    let reference = say(&fixture(), SCRIPT);
    assert!(reference.len() > SCRIPT.len(), "the script gets replies");
    for path in [
        &["dual_write"][..],
        &["dual_write", "shadow"],
        &["dual_write", "shadow", "d1_only"],
    ] {
        let f = fixture();
        for phase in path {
            move_all(&f, phase);
        }
        assert_eq!(say(&f, SCRIPT), reference, "in {}", path.last().unwrap());
    }
}

#[test]
fn flips_in_the_middle_of_the_conversation_change_nothing_users_see() {
    let reference = say(&fixture(), SCRIPT);
    let f = fixture();
    move_all(&f, "dual_write");
    let mut messages = say(&f, &SCRIPT[..4]);
    move_all(&f, "shadow");
    // While it is handed over, dual_write serves with caution; then shadow.
    messages.extend(say(&f, &SCRIPT[4..6]));
    f.after_handover();
    messages.extend(say(&f, &SCRIPT[6..14]));
    move_all(&f, "d1_only");
    messages.extend(say(&f, &SCRIPT[14..]));
    assert_eq!(messages, reference);
    let (_, metrics) = f.admin("GET", "/admin/metrics?minutes=60", "");
    for (repository, totals) in metrics["repositories"].as_object().unwrap() {
        assert_eq!(
            (totals["divergences"].as_i64(), totals["fallbacks"].as_i64()),
            (Some(0), Some(0)),
            "{repository}: {totals}"
        );
    }
    assert!(
        metrics["repositories"]["watchlists"]["compared"]
            .as_i64()
            .unwrap()
            > 0
    );
}

/// Whether chat A's watchlist holds AAPL in (KV, D1) when the reply to `/watchlist add AAPL`
/// goes out, and once the webhook answered.
fn aapl_at_reply_and_after(f: &Fixture) -> ((bool, bool), (bool, bool)) {
    let at_reply = Rc::new(RefCell::new(None));
    let (kv, db, seen) = (f.kv.clone(), f.db.clone(), at_reply.clone());
    let holds = move || {
        let in_kv = kv
            .peek("watchlist:111")
            .is_some_and(|list| list.contains("AAPL"));
        let count = Statement::new(
            "SELECT COUNT(*) AS n FROM watchlists WHERE ticker = 'AAPL'",
            vec![],
        );
        // SQLite answers at once: the future is ready on its first poll.
        let rows = db.query(&count).now_or_never().unwrap().unwrap();
        (in_kv, rows[0]["n"] == 1)
    };
    let holds_now = holds.clone();
    f.http.answer_with(move |request| {
        *seen.borrow_mut() = Some(holds());
        Ok(telegram_ok(request))
    });
    assert_eq!(
        f.replies(A, "/watchlist add AAPL"),
        ["✅ Added AAPL to your watchlist."]
    );
    let at_reply = at_reply.borrow().expect("a reply was sent");
    (at_reply, holds_now())
}

/// The second writes wait for the replies (migration.md §2: the user does not wait for the
/// store that does not answer them) and land before the webhook answers.
#[test]
fn the_second_write_runs_after_the_reply_and_before_the_response() {
    // (phase, what KV and D1 hold at the reply)
    for (phase, at_reply) in [("dual_write", (true, false)), ("shadow", (false, true))] {
        let f = fixture();
        move_all(&f, "dual_write");
        move_all(&f, phase);
        f.after_handover();
        assert_eq!(
            aapl_at_reply_and_after(&f),
            (at_reply, (true, true)),
            "{phase}: the answering store at the reply, both once the webhook answered"
        );
    }
}

/// While a move between `dual_write` and `shadow` is handed over, both writes land before the
/// reply, whichever phase serves: an isolate still reading the old store, or one already on
/// the new, finds every write acknowledged.
#[test]
fn while_a_move_is_handed_over_both_writes_land_before_the_reply() {
    for (old, new) in [("dual_write", "shadow"), ("shadow", "dual_write")] {
        // Announced (the old phase serves), then switched (the new one does).
        for wait in [0, SWITCH_MS] {
            let f = fixture();
            move_all(&f, "dual_write");
            if old == "shadow" {
                move_all(&f, "shadow");
                f.after_handover();
            }
            move_all(&f, new);
            f.clock.advance(wait);
            assert_eq!(
                aapl_at_reply_and_after(&f),
                ((true, true), (true, true)),
                "{old} → {new}, {wait} ms after"
            );
        }
    }
}
