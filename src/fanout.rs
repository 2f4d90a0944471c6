//! The rules of the broadcast through a queue (docs/broadcast-queue.md), apart from any runtime:
//! what a queue message carries, how a run is split into messages and `sendBatch` calls within
//! Queues' limits, what a consumer does for a chat given what the chat already got, and how
//! long a message waits before it is retried.

use crate::domain::{parse_json, Position, DEFAULT_TICKER};
use serde_json::{json, Value};
use std::borrow::Cow;

/// Chats per queue message: small enough that a consumer batch of [`MAX_BATCH_SIZE`] messages
/// stays far inside one invocation's subrequests and wall clock.
pub const CHATS_PER_MESSAGE: usize = 10;
/// Messages per `sendBatch` call (the Queues limit).
const SEND_BATCH_MESSAGES: usize = 100;
/// Bytes of bodies per `sendBatch` call: under the 256 KB limit with room for the ~100 bytes of
/// metadata each message carries.
const SEND_BATCH_BYTES: usize = 200_000;
/// The consumer's `max_batch_size` in wrangler.toml: the duplicate bound is this many messages'
/// chats.
pub const MAX_BATCH_SIZE: usize = 10;
/// The pause between two sends of one consumer: 25 a second, under Telegram's ~30 (the
/// `BROADCAST_SEND_SPACING_MS` var overrides it: `Config::broadcast_send_spacing_ms`).
pub const SEND_SPACING_MS: u64 = 40;
/// The shortest and longest back-off after a 5xx or no answer ([`backoff_seconds`]).
const FIRST_BACKOFF_S: u32 = 30;
const MAX_BACKOFF_S: u32 = 900;

/// One queue message: a group of chats of one run and what they are sent. Its body is JSON
/// text, written and read by hand: derived serde code would weigh on the upload.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub run: String,
    /// Its place in the run, for logs and the dead-letter queue.
    pub seq: usize,
    pub chats: Vec<i64>,
    pub work: Work,
    /// Each chat's plan, in the order of `chats`, when the producer read it (`d1_only`: pages
    /// of D1); empty when the consumer reads each chat's watchlist and position itself.
    pub plans: Vec<ChatPlan>,
}

/// What a chat of a run is evaluated on, read by the producer: its watchlist (empty: none
/// stored, the default applies) and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPlan {
    pub tickers: Vec<String>,
    pub position: Option<Position>,
}

impl ChatPlan {
    /// The tickers the chat is evaluated on: its watchlist, or, with none stored, the default,
    /// as a read would give it (not written).
    pub fn evaluated_tickers(&self) -> Cow<'_, [String]> {
        match self.tickers.is_empty() {
            true => Cow::Owned(vec![DEFAULT_TICKER.to_owned()]),
            false => Cow::Borrowed(&self.tickers),
        }
    }
}

/// What every chat of a run gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// One signal per watchlist ticker, evaluated on this index reading, under this header.
    Broadcast {
        rating: String,
        score: f64,
        header: String,
    },
    /// The deploy notification's text.
    Deploy { text: String },
}

impl QueueMessage {
    /// The body: `{"run":…,"seq":…,"chats":[…],"work":{"broadcast":{"rating":…,"score":…,
    /// "header":…}}}` or `…"work":{"deploy":{"text":…}}}`, with `"plans":[[[tickers…],
    /// [ticker, entry price] or null]…]` when it carries plans.
    pub fn to_body(&self) -> String {
        let work = match &self.work {
            Work::Broadcast {
                rating,
                score,
                header,
            } => json!({ "broadcast": { "rating": rating, "score": score, "header": header } }),
            Work::Deploy { text } => json!({ "deploy": { "text": text } }),
        };
        let mut body =
            json!({ "run": self.run, "seq": self.seq, "chats": self.chats, "work": work });
        if !self.plans.is_empty() {
            let plans: Vec<Value> = self
                .plans
                .iter()
                .map(|plan| {
                    let position = plan
                        .position
                        .as_ref()
                        .map(|p| json!([p.ticker, p.entry_price]));
                    json!([plan.tickers, position])
                })
                .collect();
            body["plans"] = Value::Array(plans);
        }
        body.to_string()
    }

    /// The message a body holds; `None` for anything else.
    pub fn from_body(body: &str) -> Option<Self> {
        let value: Value = parse_json(body).ok()?;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let work = &value["work"];
        let work = if let Some(b) = work.get("broadcast") {
            Work::Broadcast {
                rating: text(&b["rating"])?,
                score: b["score"].as_f64()?,
                header: text(&b["header"])?,
            }
        } else {
            Work::Deploy {
                text: text(&work.get("deploy")?["text"])?,
            }
        };
        Some(Self {
            run: text(&value["run"])?,
            seq: usize::try_from(value["seq"].as_u64()?).ok()?,
            chats: value["chats"]
                .as_array()?
                .iter()
                .map(Value::as_i64)
                .collect::<Option<_>>()?,
            work,
            plans: match value.get("plans") {
                None => Vec::new(),
                Some(plans) => plans
                    .as_array()?
                    .iter()
                    .map(plan_from)
                    .collect::<Option<_>>()?,
            },
        })
    }
}

/// A chat's plan from its JSON form: `[[tickers…], [ticker, entry price] or null]`.
fn plan_from(value: &Value) -> Option<ChatPlan> {
    let tickers = value[0]
        .as_array()?
        .iter()
        .map(|t| t.as_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    let position = match &value[1] {
        Value::Null => None,
        p => Some(Position {
            ticker: p[0].as_str()?.to_owned(),
            entry_price: p[1].as_f64(),
        }),
    };
    Some(ChatPlan { tickers, position })
}

/// The run's queue messages as JSON bodies, [`CHATS_PER_MESSAGE`] chats each, in order, each
/// with its chats' plans when `plans` (in the order of `chats`) has them.
pub fn split(run: &str, chats: &[i64], plans: &[ChatPlan], work: &Work) -> Vec<String> {
    chats
        .chunks(CHATS_PER_MESSAGE)
        .enumerate()
        .map(|(seq, chats)| {
            let start = seq * CHATS_PER_MESSAGE;
            QueueMessage {
                run: run.to_owned(),
                seq,
                chats: chats.to_vec(),
                work: work.clone(),
                plans: plans
                    .get(start..start + chats.len())
                    .unwrap_or_default()
                    .to_vec(),
            }
            .to_body()
        })
        .collect()
}

/// `bodies` cut into `sendBatch` calls of at most 100 messages and [`SEND_BATCH_BYTES`], in
/// order. A body above the byte budget on its own (none is: a message is under 2 KB) goes alone.
pub fn send_batches(bodies: &[String]) -> Vec<&[String]> {
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, body) in bodies.iter().enumerate() {
        let full = i - start == SEND_BATCH_MESSAGES || bytes + body.len() > SEND_BATCH_BYTES;
        if i > start && full {
            calls.push(&bodies[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += body.len();
    }
    if start < bodies.len() {
        calls.push(&bodies[start..]);
    }
    calls
}

/// What a chat of a run has got so far (a `broadcast_deliveries` row).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    /// The chat's messages in the run, as counted when they were built.
    pub total: usize,
    /// Of them, those behind it, in order: sent or refused.
    pub handled: usize,
    pub sent: usize,
    pub refused: usize,
}

impl Record {
    pub fn complete(&self) -> bool {
        self.handled >= self.total
    }
}

/// What the consumer does for a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Every message was handled by an earlier delivery of the queue message: nothing is read
    /// or sent again.
    Skip,
    /// Build the chat's messages and send them from this index on.
    SendFrom(usize),
}

/// The decision for a chat, given its record.
pub fn decide(record: Option<&Record>) -> Decision {
    match record {
        Some(record) if record.complete() => Decision::Skip,
        Some(record) => Decision::SendFrom(record.handled),
        None => Decision::SendFrom(0),
    }
}

/// The delay before a message is retried after a 5xx or no answer, from its age (since the
/// producer enqueued it; Queues does not tell the Worker a message's attempt count): as long as
/// it has waited so far, at least 30 s and at most 15 minutes, so the delays double: 30 s,
/// 60 s, 120 s…
pub fn backoff_seconds(age_ms: i64) -> u32 {
    let age_s = u32::try_from(age_ms.max(0) / 1000).unwrap_or(u32::MAX);
    age_s.clamp(FIRST_BACKOFF_S, MAX_BACKOFF_S)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broadcast() -> Work {
        Work::Broadcast {
            rating: "Fear".into(),
            score: 25.3,
            header: "⚠️ The current [Fear and Greed Index](https://quickchart.io/chart?c=…) rating is 25.30% (*FEAR*).".into(),
        }
    }

    #[test]
    fn a_run_is_split_in_order_into_messages_of_ten_chats() {
        let chats: Vec<i64> = (1..=25).collect();
        let bodies = split("broadcast-1", &chats, &[], &broadcast());
        let messages: Vec<QueueMessage> = bodies
            .iter()
            .map(|b| QueueMessage::from_body(b).unwrap())
            .collect();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].chats, (1..=10).collect::<Vec<_>>());
        assert_eq!(messages[2].chats, vec![21, 22, 23, 24, 25]);
        assert_eq!(
            messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(messages
            .iter()
            .all(|m| m.run == "broadcast-1" && m.work == broadcast()));
        assert!(split("deploy-1", &[], &[], &broadcast()).is_empty());
    }

    #[test]
    fn a_body_reads_back_as_the_message_it_was_written_from() {
        let deploy = Work::Deploy {
            text: "🚀 New version deployed!\n\nCommit: `abc`".into(),
        };
        for work in [broadcast(), deploy] {
            let message = QueueMessage {
                run: "run-1".into(),
                seq: 7,
                chats: vec![1, -1_001_234_567_890],
                work,
                plans: Vec::new(),
            };
            assert_eq!(QueueMessage::from_body(&message.to_body()), Some(message));
        }
        let planned = QueueMessage {
            run: "run-2".into(),
            seq: 0,
            chats: vec![1, 2, 3],
            work: broadcast(),
            plans: vec![
                ChatPlan {
                    tickers: vec!["AAPL".into(), "MSFT".into()],
                    position: None,
                },
                ChatPlan {
                    tickers: vec![],
                    position: Some(Position {
                        ticker: "SPY".into(),
                        entry_price: Some(500.5),
                    }),
                },
                ChatPlan {
                    tickers: vec!["QQQ".into()],
                    position: Some(Position {
                        ticker: "QQQ".into(),
                        entry_price: None,
                    }),
                },
            ],
        };
        assert_eq!(QueueMessage::from_body(&planned.to_body()), Some(planned));
        let body = r#"{"run":"r","seq":0,"chats":[1],"work":{"broadcast":{"rating":"Fear","score":25.0,"header":"h"}}}"#;
        assert!(QueueMessage::from_body(body).is_some());
        for broken in [
            "",
            "[]",
            r#"{"run":"r","seq":0,"chats":["1"],"work":{"deploy":{"text":"t"}}}"#,
            r#"{"run":"r","seq":0,"chats":[1],"work":{}}"#,
        ] {
            assert_eq!(QueueMessage::from_body(broken), None, "{broken}");
        }
    }

    #[test]
    fn a_message_stays_far_below_the_message_size_limit() {
        let chats = vec![-1_001_234_567_890_i64; CHATS_PER_MESSAGE];
        let body = &split("broadcast-1709647200000", &chats, &[], &broadcast())[0];
        assert!(body.len() < 2_000, "{}", body.len());
    }

    #[test]
    fn send_batches_hold_at_most_100_messages_and_200_kb() {
        let chats: Vec<i64> = (0..100_000).collect();
        let bodies = split("broadcast-1", &chats, &[], &broadcast());
        let calls = send_batches(&bodies);
        assert_eq!(calls.len(), 100);
        assert!(calls.iter().all(|c| c.len() == 100));
        assert_eq!(calls.concat(), bodies);

        let big: Vec<String> = (0..10)
            .map(|i| format!("{i}{}", "x".repeat(70_000)))
            .collect();
        let calls = send_batches(&big);
        assert_eq!(
            calls.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [2, 2, 2, 2, 2]
        );
        assert!(calls
            .iter()
            .all(|c| c.iter().map(String::len).sum::<usize>() <= SEND_BATCH_BYTES));
        assert_eq!(calls.concat(), big);
        assert!(send_batches(&[]).is_empty());
    }

    #[test]
    fn a_chat_already_delivered_is_skipped_and_a_half_delivered_one_resumes() {
        assert_eq!(decide(None), Decision::SendFrom(0));
        let record = |total, handled| Record {
            total,
            handled,
            sent: handled,
            refused: 0,
        };
        assert_eq!(decide(Some(&record(3, 1))), Decision::SendFrom(1));
        assert_eq!(decide(Some(&record(3, 3))), Decision::Skip);
        // A chat whose watchlist could not be read got nothing, and is done.
        assert_eq!(decide(Some(&record(0, 0))), Decision::Skip);
    }

    #[test]
    fn backoff_doubles_from_30_seconds_up_to_15_minutes() {
        // Each retry waits as long as the message has waited so far.
        let mut age_ms = 2_000;
        let mut delays = Vec::new();
        for _ in 0..7 {
            let delay = backoff_seconds(age_ms);
            delays.push(delay);
            age_ms += i64::from(delay) * 1000 + 1_000;
        }
        assert_eq!(delays, [30, 33, 67, 135, 271, 543, 900]);
        assert_eq!(backoff_seconds(-5), 30);
        assert_eq!(backoff_seconds(i64::MAX), 900);
    }
}
