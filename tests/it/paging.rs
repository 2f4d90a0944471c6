//! On-call paging from the maintenance cron (MIGRATION.md, "Watching"): what the Telegram
//! stand-in receives at `ADMIN_CHAT_ID`, run after run, with every run on a new isolate (the
//! page state lives in D1's `pages`).

use crate::helpers::{respond, run, telegram_ok, Backend, Fixture, ADMIN, T0};
use crate::logs::{logged, the_event};
use fear_greed_bot::app::config::Config;
use fear_greed_bot::app::cron::{CronOutcome, MAINTENANCE_CRON};
use fear_greed_bot::app::pager::PagesSent;
use fear_greed_bot::app::queued::Delivery;
use fear_greed_bot::app::App;
use fear_greed_bot::fanout::{QueueMessage, Work};
use fear_greed_bot::storage::d1::{PageRow, Pages};
use serde_json::json;

const MINUTE: i64 = 60_000;

/// One maintenance run on a new isolate of `config`: its paging step's outcome.
fn maintain_with(f: &Fixture, config: Config) -> Result<PagesSent, String> {
    let app = App::new(f.platform.clone(), config);
    match run(app.on_cron(MAINTENANCE_CRON)) {
        CronOutcome::Maintained { paging, .. } => paging,
        other => panic!("{other:?}"),
    }
}

fn maintain(f: &Fixture) -> Result<PagesSent, String> {
    maintain_with(f, f.config())
}

fn paged(keys: &[&str]) -> Result<PagesSent, String> {
    Ok(PagesSent {
        paged: keys.iter().map(|k| (*k).to_owned()).collect(),
        cleared: vec![],
    })
}

fn cleared(keys: &[&str]) -> Result<PagesSent, String> {
    Ok(PagesSent {
        paged: vec![],
        cleared: keys.iter().map(|k| (*k).to_owned()).collect(),
    })
}

/// 5 of 100 watchlists comparisons diverged, in the minute of T0.
fn divergence_spike(f: &Fixture) {
    f.db.run_script(&format!(
        "INSERT INTO migration_counters VALUES ({T0}, 'watchlists', 'get', 'compared', 100, 0);
         INSERT INTO migration_counters VALUES ({T0}, 'watchlists', 'get', 'divergence.value_mismatch', 5, 0);"
    ))
    .unwrap();
}

#[test]
fn a_divergence_spike_pages_once_again_after_the_repeat_and_clears_once() {
    let f = Fixture::new(Backend::D1);
    assert_eq!(maintain(&f), paged(&[]), "quiet: nothing");
    assert_eq!(f.pages(), []);

    divergence_spike(&f);
    assert_eq!(maintain(&f), paged(&["divergence_rate.watchlists"]));
    let first = "[fear-greed-bot] PAGE: divergence rate of watchlists above the guard\n\
                 divergence rate 0.05 (5 divergences in 100 comparisons) over the last 24 h; \
                 guard.max_divergence_rate is 0.001\n\
                 Dashboard: /admin/dashboard on the worker's URL (PUBLIC_URL is not set, so no link)";
    assert_eq!(f.pages(), [(ADMIN, first.to_owned())]);
    assert_eq!(f.count("SELECT COUNT(*) FROM pages"), 1);

    // Every run within page.repeat_seconds (3600) sends nothing more: no page storm.
    for _ in 0..11 {
        f.clock.advance(5 * MINUTE);
        assert_eq!(maintain(&f), paged(&[]));
    }
    assert_eq!(f.pages().len(), 1);

    // An hour after the first page it pages again.
    f.clock.advance(5 * MINUTE);
    assert_eq!(maintain(&f), paged(&["divergence_rate.watchlists"]));
    let pages = f.pages();
    assert_eq!(pages.len(), 2);
    assert!(
        pages[1].1.starts_with(
            "[fear-greed-bot] STILL FIRING (60 min since the first page): divergence rate of \
             watchlists above the guard\ndivergence rate 0.05"
        ),
        "{}",
        pages[1].1
    );
    f.clock.advance(5 * MINUTE);
    assert_eq!(maintain(&f), paged(&[]));

    // Cleared: exactly one message, then quiet.
    f.db.run_script("DELETE FROM migration_counters WHERE outcome LIKE 'divergence.%'")
        .unwrap();
    f.clock.advance(5 * MINUTE);
    assert_eq!(maintain(&f), cleared(&["divergence_rate.watchlists"]));
    let pages = f.pages();
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages[2],
        (
            ADMIN,
            "[fear-greed-bot] CLEARED after 70 min: divergence rate of watchlists above the guard\n\
             now: divergence rate 0.0 (0 divergences in 100 comparisons) over the last 24 h; \
             guard.max_divergence_rate is 0.001\n\
             last paged: divergence rate 0.05 (5 divergences in 100 comparisons) over the last \
             24 h; guard.max_divergence_rate is 0.001\n\
             Dashboard: /admin/dashboard on the worker's URL (PUBLIC_URL is not set, so no link)"
                .to_owned()
        )
    );
    for _ in 0..3 {
        f.clock.advance(5 * MINUTE);
        assert_eq!(maintain(&f), paged(&[]));
    }
    assert_eq!(f.pages().len(), 3);
    assert_eq!(f.count("SELECT COUNT(*) FROM pages"), 0);
    assert_eq!(f.sent_messages(), [], "no Markdown message either");
}

#[test]
fn unreadable_settings_page_and_clear_when_they_read_again() {
    let f = Fixture::new(Backend::D1);
    f.db.run_script("ALTER TABLE settings RENAME TO settings_gone")
        .unwrap();
    assert_eq!(maintain(&f), paged(&["settings_unreadable"]));
    let pages = f.pages();
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0]
            .1
            .starts_with("[fear-greed-bot] PAGE: settings unreadable\nthe D1 settings table"),
        "{}",
        pages[0].1
    );
    assert!(
        pages[0].1.contains("no such table: settings"),
        "{}",
        pages[0].1
    );
    f.clock.advance(5 * MINUTE);
    assert_eq!(maintain(&f), paged(&[]));

    f.db.run_script("ALTER TABLE settings_gone RENAME TO settings")
        .unwrap();
    f.clock.advance(5 * MINUTE);
    assert_eq!(maintain(&f), cleared(&["settings_unreadable"]));
    assert!(f.pages()[1]
        .1
        .starts_with("[fear-greed-bot] CLEARED after 10 min: settings unreadable\nnow: the D1 settings table reads again"));
    assert_eq!(f.pages().len(), 2);
}

#[test]
fn without_admin_chat_id_nothing_is_sent_or_recorded_and_a_line_says_why() {
    let f = Fixture::new(Backend::D1);
    divergence_spike(&f);
    let config = Config {
        admin_chat_id: None,
        ..f.config()
    };
    let (outcome, lines) = logged(|| maintain_with(&f, config));
    assert_eq!(outcome, paged(&[]));
    assert_eq!(f.http.sent(), []);
    assert_eq!(f.count("SELECT COUNT(*) FROM pages"), 0);
    let line = the_event(&lines, "on-call pages not sent: ADMIN_CHAT_ID is not set");
    assert_eq!(
        line["fields"]["firing"],
        r#"["divergence_rate.watchlists"]"#
    );
}

#[test]
fn thresholds_are_flags_and_the_page_links_the_dashboard_at_public_url() {
    let f = Fixture::new(Backend::D1);
    let set = |key: &str, value: serde_json::Value| {
        let body = json!({"key": key, "value": value, "reason": "test"}).to_string();
        let (status, answer) = f.admin("PUT", "/admin/flags", &body);
        assert_eq!(status, 200, "{answer}");
    };
    set("page.max_write_failures", json!(0));
    set("page.max_fallbacks", json!(3));
    f.db.run_script(&format!(
        "INSERT INTO migration_counters VALUES ({T0}, 'executions', 'append', 'write_failure.d1', 1, 0);
         INSERT INTO migration_counters VALUES ({T0}, 'cache', 'get', 'read', 40, 0);
         INSERT INTO migration_counters VALUES ({T0}, 'cache', 'get', 'fallback.d1_error', 3, 0);"
    ))
    .unwrap();
    f.http.clear();
    let config = Config {
        public_url: Some("https://fear-greed-bot.example.workers.dev/".into()),
        ..f.config()
    };
    // The cache's 3 fallbacks are at page.max_fallbacks, not past it: no page.
    assert_eq!(
        maintain_with(&f, config),
        paged(&["write_failures.executions"])
    );
    assert_eq!(
        f.pages(),
        [(
            ADMIN,
            "[fear-greed-bot] PAGE: failed second writes of executions\n\
             1 failed second writes over the last 24 h; page.max_write_failures is 0\n\
             Dashboard: https://fear-greed-bot.example.workers.dev/admin/dashboard"
                .to_owned()
        )]
    );
}

#[test]
fn a_page_that_could_not_be_sent_is_sent_by_the_next_run() {
    let f = Fixture::new(Backend::D1);
    divergence_spike(&f);
    sent_by_the_next_run(&f, "divergence_rate.watchlists", || {
        assert_eq!(
            f.count("SELECT COUNT(*) FROM pages"),
            0,
            "the claim given back"
        );
    });
}

/// Page `key`, due now, is refused by Telegram (the run fails naming it; `between` checks
/// what that left), then sent by the next run, alone.
fn sent_by_the_next_run(f: &Fixture, key: &str, between: impl FnOnce()) {
    f.http
        .answer_with(|_| Ok(respond(400, &json!({"ok": false}))));
    let error = maintain(f).unwrap_err();
    assert!(error.contains(&format!("{key}: page not sent")), "{error}");
    between();
    f.http.answer_with(|request| Ok(telegram_ok(request)));
    f.http.clear();
    f.clock.advance(5 * MINUTE);
    assert_eq!(maintain(f), paged(&[key]));
    assert_eq!(f.pages().len(), 1);
}

#[test]
fn of_two_runs_deciding_the_same_page_only_one_claims_it() {
    let f = Fixture::new(Backend::D1);
    let pages = Pages::new(&f.platform);
    let row = |last_paged_at: i64, numbers: &str| PageRow {
        condition: "settings_unreadable".into(),
        first_paged_at: T0,
        last_paged_at,
        numbers: numbers.into(),
    };
    let swap = |from: Option<&PageRow>, to: Option<&PageRow>| run(pages.swap(from, to)).unwrap();
    let (first, later) = (row(T0, "a"), row(T0 + 3_600_000, "b"));
    assert!(swap(None, Some(&first)));
    assert!(!swap(None, Some(&first)), "already paged");
    assert_eq!(run(pages.all()).unwrap(), std::slice::from_ref(&first));
    assert!(swap(Some(&first), Some(&later)), "a repeat");
    assert!(!swap(Some(&first), Some(&later)), "the row read is stale");
    assert_eq!(run(pages.all()).unwrap(), std::slice::from_ref(&later));
    assert!(!swap(Some(&first), None), "paged again since");
    assert!(swap(Some(&later), Some(&first)), "a repeat given back");
    assert!(swap(Some(&first), None), "cleared");
    assert!(!swap(Some(&first), None), "already cleared");
    assert!(swap(None, Some(&first)), "a clear given back");
    assert_eq!(run(pages.all()).unwrap(), [first]);
}

/// Queue messages of `run` (planned with 30 chats in 3 messages, 20 done) that ran out of
/// retries, as the dead-letter queue hands them to the bot: `n` of them.
fn dead_letters(f: &Fixture, run_id: &str, n: usize) {
    f.db.run_script(&format!(
        "INSERT INTO broadcast_runs (id, kind, planned_at, chats, messages, chats_done, sent, refused)
         VALUES ('{run_id}', 'broadcast', {T0}, 30, 3, 20, 25, 1) ON CONFLICT(id) DO NOTHING;"
    ))
    .unwrap();
    let body = QueueMessage {
        run: run_id.into(),
        seq: 2,
        chats: (21..=30).collect(),
        work: Work::Deploy { text: "x".into() },
        plans: Vec::new(),
    }
    .to_body();
    let letters = vec![Delivery { body, age_ms: 0 }; n];
    assert!(run(
        App::new(f.platform.clone(), f.config()).on_dead_letters(&letters)
    ));
}

#[test]
fn a_run_that_dead_letters_messages_pages_the_admin_chat_once() {
    let f = Fixture::new(Backend::D1);
    dead_letters(&f, "broadcast-1", 2);
    let key = "broadcast_dead_letters.broadcast-1";
    assert_eq!(maintain(&f), paged(&[key]));
    let text = "[fear-greed-bot] PAGE: broadcast run broadcast-1 dead-lettered 2 queue messages\n\
                20 of 30 chats done, 25 messages sent, 1 refused; the chats of each \
                dead-lettered message did not get what it carried (each logged: queue message \
                dead-lettered)\n\
                Dashboard: /admin/dashboard on the worker's URL (PUBLIC_URL is not set, so no link)";
    assert_eq!(f.pages(), [(ADMIN, text.to_owned())]);

    // Once a run: later runs, and more of its messages dead-lettered, page nothing more.
    f.clock.advance(5 * MINUTE);
    assert_eq!(maintain(&f), paged(&[]));
    dead_letters(&f, "broadcast-1", 1);
    f.clock.advance(2 * 3_600_000);
    assert_eq!(maintain(&f), paged(&[]));
    assert_eq!(f.pages().len(), 1);

    // Another run that dead-letters pages on its own; a send that fails is sent by the next run.
    dead_letters(&f, "deploy-2-abc1234", 1);
    sent_by_the_next_run(&f, "broadcast_dead_letters.deploy-2-abc1234", || {
        let claims = "SELECT COUNT(*) FROM broadcast_runs WHERE dead_letters_paged_at IS NOT NULL";
        assert_eq!(f.count(claims), 1, "the claim given back");
    });
    assert!(f.pages()[0]
        .1
        .contains("broadcast run deploy-2-abc1234 dead-lettered 1 queue messages"));
}
