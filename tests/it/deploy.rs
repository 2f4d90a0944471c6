//! `POST /deploy-notify` (legacy §2.4, §8.4, §8.5, §9.8, A.11): credentials, fields, the
//! message to every subscriber and the report of failed sends.

use crate::helpers::{network_error, respond, run, telegram_ok, Backend, Fixture, BOT_TOKEN};
use fear_greed_bot::http::{Request, Response};
use fear_greed_bot::platform::native::KvOp;
use serde_json::json;

const BODY: &str = r#"{"commitHash":"abc1234","commitMessage":"Test commit\nWith multiple lines","commitUrl":"https://github.com/o/r/commit/abc1234","timestamp":"2024-01-15T00:00:00Z"}"#;

fn post(f: &Fixture, authorization: Option<&str>, body: &str) -> Response {
    let request = Request {
        method: "POST".into(),
        path: "/deploy-notify".into(),
        query: String::new(),
        headers: authorization
            .map(|a| vec![("authorization".to_owned(), a.to_owned())])
            .unwrap_or_default(),
        body: body.as_bytes().to_vec(),
    };
    run(f.app().handle(&request))
}

fn bearer() -> String {
    format!("Bearer {BOT_TOKEN}")
}

#[test]
fn every_subscriber_gets_the_first_line_and_the_link() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", "[1,2]");
    let response = post(&f, Some(&bearer()), BODY);
    assert_eq!(
        (response.status, response.body.as_str()),
        (
            200,
            r#"{"success":true,"broadcast":{"totalSubscribers":2,"successful":2,"failed":0,"errors":[]}}"#
        )
    );
    let text = "🚀 New version deployed!\n\nCommit: `abc1234`\nMessage: Test commit\n\n🔗 [View on GitHub](https://github.com/o/r/commit/abc1234)";
    assert_eq!(
        f.sent_messages(),
        vec![(1, text.to_owned()), (2, text.to_owned())]
    );
}

#[test]
fn the_token_may_come_in_the_body_but_a_wrong_bearer_wins() {
    let f = Fixture::new(Backend::Kv);
    let with_token = BODY.replacen('{', &format!(r#"{{"token":"{BOT_TOKEN}","#), 1);
    assert_eq!(post(&f, None, &with_token).status, 200);
    let refused = post(&f, Some("Bearer invalid-token"), &with_token);
    assert_eq!(
        (refused.status, refused.body.as_str()),
        (401, r#"{"ok":false,"error":"Invalid token"}"#)
    );
    let none = post(&f, None, "{}");
    assert_eq!(
        (none.status, none.body.as_str()),
        (401, r#"{"ok":false,"error":"Invalid token"}"#)
    );
    assert!(f.sent_messages().is_empty());
}

#[test]
fn json_is_checked_before_credentials_and_fields_after() {
    let f = Fixture::new(Backend::Kv);
    let garbage = post(&f, None, "not json");
    assert_eq!(
        (garbage.status, garbage.body.as_str()),
        (500, r#"{"ok":false,"error":"Internal server error"}"#)
    );
    let missing = post(
        &f,
        Some(&bearer()),
        r#"{"commitHash":"abc1234","commitMessage":""}"#,
    );
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (
            400,
            r#"{"ok":false,"error":"Missing required fields: commitHash, commitMessage, commitUrl"}"#
        )
    );
}

/// What threw in the legacy handler answers 500: a `null` body read for its token or fields,
/// a commit message that is not a string; other fields show as JavaScript's `String()`.
#[test]
fn what_threw_in_javascript_is_a_500_and_other_fields_show_as_string() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", "[1]");
    let internal = (500, r#"{"ok":false,"error":"Internal server error"}"#);
    for (authorization, body) in [
        (None, "null"),
        (Some(bearer()), "null"),
        (
            Some(bearer()),
            r#"{"commitHash":"a","commitMessage":5,"commitUrl":"u"}"#,
        ),
    ] {
        let response = post(&f, authorization.as_deref(), body);
        assert_eq!(
            (response.status, response.body.as_str()),
            internal,
            "{body}"
        );
    }
    let wrong = post(&f, Some("Bearer nope"), "null");
    assert_eq!(wrong.status, 401);
    assert!(f.sent_messages().is_empty());
    let odd = post(
        &f,
        Some(&bearer()),
        r#"{"commitHash":[1,null,"b"],"commitMessage":"m","commitUrl":{"a":1}}"#,
    );
    assert_eq!(odd.status, 200);
    assert_eq!(
        f.sent_messages(),
        vec![(
            1,
            "🚀 New version deployed!\n\nCommit: `1,,b`\nMessage: m\n\n🔗 [View on GitHub]([object Object])".to_owned()
        )]
    );
}

#[test]
fn no_subscribers_is_an_empty_report() {
    let f = Fixture::new(Backend::Kv);
    assert_eq!(
        post(&f, Some(&bearer()), BODY).body,
        r#"{"success":true,"broadcast":{"totalSubscribers":0,"successful":0,"failed":0,"errors":[]}}"#
    );
}

#[test]
fn refused_and_failed_sends_are_reported_per_chat() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", "[111111111,222222222,333333333]");
    f.http.answer_with(|request| {
        let body = request.body.as_deref().unwrap_or("");
        if body.contains("222222222") {
            Ok(respond(
                400,
                &json!({"ok": false, "description": "Bad Request: chat not found"}),
            ))
        } else if body.contains("333333333") {
            network_error()
        } else {
            Ok(telegram_ok(request))
        }
    });
    assert_eq!(
        post(&f, Some(&bearer()), BODY).body,
        r#"{"success":true,"broadcast":{"totalSubscribers":3,"successful":1,"failed":2,"errors":[{"chatId":222222222,"error":"Unknown error"},{"chatId":333333333,"error":"network connection lost"}]}}"#
    );
    // The network failure was retried three times, 1, 2 and 4 seconds apart; the 400 was not.
    assert_eq!(f.clock.sleeps(), vec![1_000, 2_000, 4_000]);
}

#[test]
fn a_stray_entry_is_a_failed_send_reported_as_stored() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed("chat_ids", r#"[1,"blocked_user",2]"#);
    assert_eq!(
        post(&f, Some(&bearer()), BODY).body,
        r#"{"success":true,"broadcast":{"totalSubscribers":3,"successful":2,"failed":1,"errors":[{"chatId":"blocked_user","error":"Unknown error"}]}}"#
    );
    assert_eq!(f.sent_messages().len(), 2);
    assert_eq!(f.kv.peek("chat_ids").unwrap(), r#"[1,"blocked_user",2]"#);
}

#[test]
fn an_unreadable_subscriber_list_is_reported_as_unknown() {
    let f = Fixture::new(Backend::Kv);
    f.kv.fail(KvOp::Get, "chat_ids");
    assert_eq!(
        post(&f, Some(&bearer()), BODY).body,
        r#"{"success":true,"broadcast":{"totalSubscribers":0,"successful":0,"failed":0,"errors":[{"chatId":"unknown","error":"Failed to get chat IDs"}]}}"#
    );
}

#[test]
fn thirty_one_subscribers_are_sent_in_two_batches() {
    let f = Fixture::new(Backend::Kv);
    let ids: Vec<i64> = (1..=31).collect();
    f.kv.seed("chat_ids", &serde_json::to_string(&ids).unwrap());
    assert!(post(&f, Some(&bearer()), BODY)
        .body
        .contains(r#""successful":31"#));
    assert_eq!(f.clock.sleeps(), vec![1_000]);
    let chats: Vec<i64> = f
        .sent_messages()
        .into_iter()
        .map(|(chat, _)| chat)
        .collect();
    assert_eq!(chats, ids);
}
