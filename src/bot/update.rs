//! Decoding a Telegram update into the one message the bot acts on (legacy §2.3, steps 2–5).

use crate::domain::{js_trim, ChatId, Json};

/// JavaScript's `Number.MAX_SAFE_INTEGER`, 2^53 − 1: the largest integer a double holds exactly.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The request body was not JSON (answered 400 `Invalid JSON`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidJson;

/// What the bot takes from an update.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Update {
    /// Telegram's id of this update, when present and a safe integer: D1's JavaScript binding
    /// carries numbers as doubles, so a larger id would be claimed rounded, and its row would
    /// make D1's `last_row_id` unreadable for the writes after it. Such an update runs
    /// unguarded, as one without an id does (Telegram's ids are far below 2^53).
    pub update_id: Option<i64>,
    /// The message to act on; `None` for updates the bot ignores.
    pub message: Option<Message>,
}

/// A text message from a chat, text already trimmed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub chat: ChatId,
    pub text: String,
}

impl Update {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, InvalidJson> {
        let update: Json = serde_json::from_slice(body).map_err(|_| InvalidJson)?;
        Ok(Self {
            update_id: update
                .at("update_id")
                .as_i64()
                .filter(|id| (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(id)),
            message: message_of(&update),
        })
    }
}

/// `message`, or `edited_message` when `message` is absent or falsy; it must carry a chat id
/// (number, or a string holding one) and non-empty string text.
fn message_of(update: &Json) -> Option<Message> {
    let message = match update.at("message") {
        m if m.truthy() => m,
        _ => update.get("edited_message")?,
    };
    let chat = match message.get("chat")?.get("id")? {
        Json::Number(n) => n.as_i64()?,
        Json::String(s) => s.parse().ok()?,
        _ => return None,
    };
    let text = match message.get("text") {
        Some(Json::String(s)) => js_trim(s),
        // No text (photo, sticker...) or text that is not a string: nothing to act on.
        _ => return None,
    };
    if text.is_empty() {
        return None;
    }
    Some(Message {
        chat: ChatId::new(chat),
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Option<Message> {
        Update::parse(body.as_bytes()).unwrap().message
    }

    #[test]
    fn takes_message_then_edited_message_and_trims_the_text() {
        let m = message(r#"{"update_id":7,"message":{"chat":{"id":-100},"text":"  /help  "}}"#)
            .unwrap();
        assert_eq!((m.chat, m.text.as_str()), (ChatId::new(-100), "/help"));
        let m = message(r#"{"message":null,"edited_message":{"chat":{"id":"5"},"text":"/start"}}"#)
            .unwrap();
        assert_eq!(m.chat, ChatId::new(5));
        let both = r#"{"message":{"chat":{"id":1},"text":"a"},"edited_message":{"chat":{"id":2},"text":"b"}}"#;
        assert_eq!(message(both).unwrap().chat, ChatId::new(1));
    }

    #[test]
    fn ignores_updates_without_a_usable_text_message() {
        for body in [
            r#"{"invalid":"payload"}"#,
            "[]",
            "5",
            r#"{"message":{"text":"/start"}}"#,
            r#"{"message":{"chat":{"id":true},"text":"/start"}}"#,
            r#"{"message":{"chat":{"id":1},"photo":[{}]}}"#,
            r#"{"message":{"chat":{"id":1},"text":"   "}}"#,
            r#"{"message":{"chat":{"id":1},"text":5}}"#,
            r#"{"callback_query":{"id":"1"}}"#,
        ] {
            assert_eq!(message(body), None, "{body}");
        }
    }

    #[test]
    fn refuses_bodies_that_are_not_json() {
        assert_eq!(Update::parse(b"invalid json {"), Err(InvalidJson));
    }

    #[test]
    fn reads_the_update_id_when_present() {
        assert_eq!(
            Update::parse(br#"{"update_id":42}"#).unwrap().update_id,
            Some(42)
        );
        assert_eq!(Update::parse(br#"{}"#).unwrap().update_id, None);
        for (id, kept) in [
            ("9007199254740991", Some(9_007_199_254_740_991)),
            ("-9007199254740991", Some(-9_007_199_254_740_991)),
            ("9007199254740992", None),
            ("-9223372036854775808", None),
            ("9223372036854775807", None),
            ("1.5", None),
            ("1e3", None),
        ] {
            let body = format!(r#"{{"update_id":{id}}}"#);
            assert_eq!(
                Update::parse(body.as_bytes()).unwrap().update_id,
                kept,
                "{id}"
            );
        }
    }
}
