//! `/subscribers` (legacy §3.11, §9.6, A.10): admin only, names from `getChat` in batches of
//! 30 a second apart, failed lookups pruned.

use crate::helpers::{ok_json, respond, telegram_ok, Backend, Fixture, ADMIN};
use fear_greed_bot::platform::native::KvOp;
use serde_json::{json, Value};

fn admin_says(f: &Fixture) -> String {
    let mut sent = f.converse(ADMIN, "/subscribers");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (chat, text) = sent.remove(0);
    assert_eq!(chat, ADMIN);
    text
}

#[test]
fn only_the_admin_gets_an_answer() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", "[111]");
    assert_eq!(f.converse(123, "/subscribers"), vec![]);
    assert!(f.http.sent().is_empty(), "no getChat for a non-admin");
    assert_eq!(admin_says(&f), "Total subscribers: 1\n\n1. @user111");
}

#[test]
fn an_empty_list_and_an_unreadable_one() {
    let f = Fixture::new(Backend::Kv);
    assert_eq!(
        admin_says(&f),
        "Total subscribers: 0\n\nNo subscribers found."
    );
    f.kv.fail(KvOp::Get, "chat_ids");
    assert_eq!(
        admin_says(&f),
        "Error retrieving subscriber list: Failed to get chat IDs"
    );
}

#[test]
fn failed_lookups_are_pruned_and_left_out() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", "[111111111,222222222,333333333]");
    f.http.answer_with(|request| {
        Ok(
            if request.body.as_deref().unwrap_or("").contains("222222222")
                && request.url.ends_with("/getChat")
            {
                respond(
                    400,
                    &json!({"ok": false, "description": "Bad Request: chat not found"}),
                )
            } else {
                telegram_ok(request)
            },
        )
    });
    assert_eq!(
        admin_says(&f),
        "Total subscribers: 2\n\n1. @user111111111\n2. @user333333333"
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[111111111,333333333]");
}

/// Legacy §9.6: a stored element that is no chat id is never a subscriber and is dropped; the
/// other elements stay as they were.
#[test]
fn a_stray_entry_like_blocked_user_is_left_out_and_dropped() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", r#"[111111111,"blocked_user",333333333]"#);
    assert_eq!(
        admin_says(&f),
        "Total subscribers: 2\n\n1. @user111111111\n2. @user333333333"
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[111111111,333333333]");
    f.kv.seed("chat_ids", r#"["blocked_user"]"#);
    assert_eq!(
        admin_says(&f),
        "Total subscribers: 0\n\nNo active subscribers found."
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[]");
}

#[test]
fn no_resolved_chat_reads_no_active_subscribers() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", "[111]");
    f.http.answer_with(|request| {
        Ok(if request.url.ends_with("/getChat") {
            ok_json(&json!({"ok": false}))
        } else {
            telegram_ok(request)
        })
    });
    assert_eq!(
        admin_says(&f),
        "Total subscribers: 0\n\nNo active subscribers found."
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[]");
}

#[test]
fn names_fall_back_and_are_escaped() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", "[1,2,3,4]");
    f.http.answer_with(|request| {
        if !request.url.ends_with("/getChat") {
            return Ok(telegram_ok(request));
        }
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
        let result = match body["chat_id"].as_i64().unwrap() {
            1 => json!({"username": "user_with_username"}),
            2 => json!({"first_name": "Jane", "last_name": "Doe"}),
            3 => json!({"first_name": "Bob"}),
            _ => json!({}),
        };
        Ok(ok_json(&json!({"ok": true, "result": result})))
    });
    assert_eq!(
        admin_says(&f),
        "Total subscribers: 4\n\n1. @user\\_with\\_username\n2. Jane Doe\n3. Bob\n4. User 4"
    );
}

#[test]
fn thirty_five_chats_take_two_batches_a_second_apart() {
    let f = Fixture::new(Backend::Kv);
    let ids: Vec<i64> = (1..=35).collect();
    f.kv.seed("chat_ids", &serde_json::to_string(&ids).unwrap());
    f.http.answer_with(|request| Ok(telegram_ok(request)));
    let text = admin_says(&f);
    assert!(text.starts_with("Total subscribers: 35\n\n1. @user1\n2. @user2\n"));
    assert!(text.ends_with("\n35. @user35"));
    assert_eq!(f.clock.sleeps(), vec![1_000]);
}
