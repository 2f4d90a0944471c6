//! The broadcast crons (legacy §8.1–§8.3, §9.7): weekdays only, never on a holiday, messages
//! only in fear, one per subscriber and watchlist ticker, in order.

use crate::helpers::{
    answer_market, linear_chart, ok_json, respond, run, telegram_ok, Backend, Fixture, ADMIN, CNN,
    YAHOO,
};
use fear_greed_bot::app::broadcast::Broadcast;
use fear_greed_bot::app::cron::CronOutcome;
use fear_greed_bot::domain::{holidays_of, Date};
use fear_greed_bot::platform::native::KvOp;
use serde_json::json;
use std::collections::HashMap;

const TUESDAY_2024_03_05_1400: i64 = 1_709_647_200_000;
const SATURDAY_2024_01_06_0900: i64 = 1_704_531_600_000;
const CHRISTMAS_2024_0900: i64 = 1_735_117_200_000;
const THANKSGIVING_2025_1430: i64 = 1_764_253_800_000;
const THURSDAY_2024_12_26_0100: i64 = 1_735_174_800_000;
const FRIDAY_2021_12_31_1400: i64 = 1_640_959_200_000;

fn broadcast(f: &Fixture) -> Broadcast {
    match run(f.app().on_cron("0 9 * * 1-5")) {
        CronOutcome::Broadcast(outcome) => outcome,
        other => panic!("not a broadcast: {other:?}"),
    }
}

fn outbound_to(f: &Fixture, base: &str) -> usize {
    f.http
        .sent()
        .iter()
        .filter(|r| r.url.starts_with(base))
        .count()
}

#[test]
fn in_fear_each_subscriber_gets_one_message_per_ticker_in_order() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(TUESDAY_2024_03_05_1400);
    answer_market(&f, "Fear", 25.0, 380.0);
    f.kv.seed("chat_ids", "[1,2,3]");
    f.kv.seed("watchlist:2", r#"["AAPL","MSFT"]"#);
    assert_eq!(
        broadcast(&f),
        Broadcast::Ran {
            subscribers: 3,
            sent: 4
        }
    );
    let sent = f.sent_messages();
    let order: Vec<i64> = sent.iter().map(|(chat, _)| *chat).collect();
    assert_eq!(order, vec![1, 2, 2, 3]);
    for (chat, text) in &sent {
        assert!(
            text.starts_with("⚠️ The current [Fear and Greed Index](https://quickchart.io/chart?"),
            "{chat}"
        );
        assert!(
            text.contains("rating is 25.00% (*FEAR*).\n\n🟢 *Trading Signal: BUY*"),
            "{text}"
        );
    }
    assert!(sent[1].1.contains("[AAPL Price]") && sent[2].1.contains("[MSFT Price]"));
    // Chats without a watchlist got the default one.
    assert_eq!(f.kv.peek("watchlist:1").unwrap(), r#"["SPY"]"#);
    // One chart per distinct ticker, however many chats watch it.
    assert_eq!(outbound_to(&f, YAHOO), 3);
    assert_eq!(outbound_to(&f, CNN), 1);
}

#[test]
fn each_subscriber_is_evaluated_with_its_own_position() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(TUESDAY_2024_03_05_1400);
    answer_market(&f, "Extreme Fear", 10.0, 380.0);
    f.kv.seed("chat_ids", "[1,2]");
    f.kv.seed("active_position:2", r#"{"ticker":"SPY","entryPrice":500}"#);
    broadcast(&f);
    let sent = f.sent_messages();
    assert!(sent[0].1.contains("🟢 *Trading Signal: BUY*"));
    assert!(
        sent[1].1.contains("🟡 *Trading Signal: HOLD*")
            && sent[1].1.contains("📈 Entry Price: $500.00\n")
    );
}

/// A chart that could not be fetched for one chat is asked for again for the next one: a
/// passing outage does not spread to every chat watching the ticker.
#[test]
fn a_failed_chart_is_fetched_again_for_the_next_chat() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(TUESDAY_2024_03_05_1400);
    answer_market(&f, "Fear", 25.0, 380.0);
    f.kv.seed("chat_ids", "[1,2,3]");
    let chart = linear_chart(380.0);
    let yahoo_calls = std::cell::Cell::new(0);
    f.http.answer_with(move |request| {
        Ok(if request.url.starts_with(YAHOO) {
            yahoo_calls.set(yahoo_calls.get() + 1);
            if yahoo_calls.get() == 1 {
                respond(404, &json!({"chart": {"result": null, "error": null}}))
            } else {
                ok_json(&chart)
            }
        } else if request.url.starts_with(CNN) {
            ok_json(&json!({"rating": "Fear", "score": 25.0}))
        } else {
            telegram_ok(request)
        })
    });
    broadcast(&f);
    let sent = f.sent_messages();
    assert!(sent[0].1.contains("⚠️ *Data Unavailable*"), "{}", sent[0].1);
    assert!(sent[1].1.contains("🟢 *Trading Signal: BUY*"));
    assert!(sent[2].1.contains("🟢 *Trading Signal: BUY*"));
    assert_eq!(outbound_to(&f, YAHOO), 2, "fetched again once, then shared");
}

#[test]
fn outside_fear_nothing_is_sent_and_no_chart_is_fetched() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(TUESDAY_2024_03_05_1400);
    answer_market(&f, "Greed", 75.0, 380.0);
    f.kv.seed("chat_ids", "[1,2,3]");
    f.kv.seed("watchlist:2", r#"[" aapl","spy","AAPL"]"#);
    assert_eq!(
        broadcast(&f),
        Broadcast::Ran {
            subscribers: 3,
            sent: 0
        }
    );
    assert!(f.sent_messages().is_empty());
    assert_eq!(outbound_to(&f, YAHOO), 0);
    assert_eq!(
        f.kv.peek("watchlist:3").unwrap(),
        r#"["SPY"]"#,
        "defaults are still created"
    );
    assert_eq!(
        f.kv.peek("watchlist:2").unwrap(),
        r#"["AAPL","SPY"]"#,
        "lists are still read, and so stored normalised"
    );
}

#[test]
fn weekends_and_holidays_fetch_nothing() {
    let cases = [
        (
            SATURDAY_2024_01_06_0900,
            Broadcast::NotWeekday { weekday: 6 },
        ),
        (
            CHRISTMAS_2024_0900,
            Broadcast::Holiday {
                name: "Christmas Day",
                date: "2024-12-25".into(),
            },
        ),
        (
            THANKSGIVING_2025_1430,
            Broadcast::Holiday {
                name: "Thanksgiving Day",
                date: "2025-11-27".into(),
            },
        ),
    ];
    for (now, want) in cases {
        let f = Fixture::new(Backend::Kv);
        f.clock.set(now);
        answer_market(&f, "Fear", 25.0, 380.0);
        f.kv.seed("chat_ids", "[1]");
        assert_eq!(broadcast(&f), want);
        assert!(f.http.sent().is_empty(), "{now}");
    }
}

/// Legacy §9.7: every holiday from 2020 to 2030 skips the run (with its name and date), and
/// every other weekday runs. A holiday observed on December 31 belongs to the next year's list
/// and, by the §7.2 quirk, is a trading day.
#[test]
fn from_2020_to_2030_exactly_the_holidays_skip() {
    let f = Fixture::new(Backend::Kv);
    answer_market(&f, "Greed", 75.0, 380.0);
    let skipped: HashMap<Date, &str> = (2020..=2030)
        .flat_map(|year| {
            // Only a year's own list is consulted (§7.2).
            holidays_of(year)
                .into_iter()
                .filter(move |holiday| holiday.date.year == year)
        })
        .map(|holiday| (holiday.date, holiday.name))
        .collect();
    let (mut holidays, mut trading_days) = (0, 0);
    let mut day = Date::from_ms(1_577_836_800_000); // 2020-01-01
    while day.year <= 2030 {
        f.clock.set(day.to_ms() + 14 * 3_600_000 + 30 * 60_000);
        let outcome = broadcast(&f);
        match (day.weekday(), skipped.get(&day)) {
            (0 | 6, _) => {}
            (_, Some(name)) => {
                holidays += 1;
                assert_eq!(
                    outcome,
                    Broadcast::Holiday {
                        name,
                        date: day.to_string()
                    }
                );
            }
            (_, None) => {
                trading_days += 1;
                assert_eq!(
                    outcome,
                    Broadcast::Ran {
                        subscribers: 0,
                        sent: 0
                    },
                    "{day}"
                );
            }
        }
        day = Date::from_ms(day.to_ms() + 86_400_000);
    }
    assert_eq!(holidays, skipped.len());
    assert!(trading_days > 2_700, "{trading_days}");
}

#[test]
fn the_1am_run_after_christmas_and_new_years_eve_2021_are_trading_days() {
    for now in [THURSDAY_2024_12_26_0100, FRIDAY_2021_12_31_1400] {
        let f = Fixture::new(Backend::Kv);
        f.clock.set(now);
        answer_market(&f, "Fear", 25.0, 380.0);
        f.kv.seed("chat_ids", "[1]");
        assert_eq!(
            broadcast(&f),
            Broadcast::Ran {
                subscribers: 1,
                sent: 1
            },
            "{now}"
        );
    }
}

#[test]
fn a_cnn_failure_tells_only_the_admin() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(TUESDAY_2024_03_05_1400);
    f.kv.seed("chat_ids", "[1,2]");
    f.http.answer_with(|request| {
        Ok(if request.url.starts_with(CNN) {
            respond(503, &json!({}))
        } else {
            telegram_ok(request)
        })
    });
    assert_eq!(
        broadcast(&f),
        Broadcast::Failed("Failed to fetch Fear & Greed Index: 503 Service Unavailable".into())
    );
    assert_eq!(
        f.sent_messages(),
        vec![(
            ADMIN,
            "An error occurred: Failed to fetch Fear & Greed Index: 503 Service Unavailable"
                .to_owned()
        )]
    );
    // 503 is retried: four attempts.
    assert_eq!(outbound_to(&f, CNN), 4);
}

#[test]
fn an_unreadable_subscriber_list_tells_the_admin() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(TUESDAY_2024_03_05_1400);
    answer_market(&f, "Fear", 25.0, 380.0);
    f.kv.fail(KvOp::Get, "chat_ids");
    broadcast(&f);
    assert_eq!(
        f.sent_messages(),
        vec![(
            ADMIN,
            "An error occurred: Failed to get chat IDs".to_owned()
        )]
    );
}

#[test]
fn start_three_chats_then_a_fear_broadcast_sends_six_messages() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(TUESDAY_2024_03_05_1400);
    answer_market(&f, "Fear", 25.0, 380.0);
    for chat in [1, 2, 3] {
        f.send_text(chat, "/start");
    }
    broadcast(&f);
    let sent = f.sent_messages();
    assert_eq!(sent.len(), 6);
    for chat in [1, 2, 3] {
        assert_eq!(sent.iter().filter(|(c, _)| *c == chat).count(), 2);
    }
}
