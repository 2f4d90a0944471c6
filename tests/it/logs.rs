//! The log lines a test's code writes, captured as the worker writes them (`platform::log`'s
//! JSON lines, parsed), for assertions on the structured events the migration relies on.

use crate::helpers::T0;
use fear_greed_bot::platform::log::JsonLog;
use serde_json::Value;
use std::sync::{Arc, Mutex, Once};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// Runs `work` with this thread's log lines captured; its answer and the lines, each
/// `{"timestamp", "level", "fields": {"message", …}, "target"}`.
pub fn logged<T>(work: impl FnOnce() -> T) -> (T, Vec<Value>) {
    static ANCHOR: Once = Once::new();
    ANCHOR.call_once(|| {
        // Only this test binary's process; nothing else sets a global subscriber.
        let _ = tracing::subscriber::set_global_default(PerEvent);
    });
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let log = JsonLog::new(
        || T0,
        move |_: &tracing::Level, line: &str| {
            let parsed: Value = serde_json::from_str(line).expect("a log line is JSON");
            sink.lock().unwrap().push(parsed);
        },
    );
    let answer = tracing::subscriber::with_default(log, work);
    let lines = lines.lock().unwrap().clone();
    (answer, lines)
}

/// Asserts that one line has the message of `fields`, at `level`, with exactly `fields`.
pub fn assert_one_event(lines: &[Value], level: &str, fields: Value) {
    let line = the_event(lines, fields["message"].as_str().expect("a message"));
    assert_eq!(
        (&line["level"], &line["fields"]),
        (&Value::from(level), &fields)
    );
}

/// The one line whose message is `message`.
pub fn the_event<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == message)
        .collect();
    let [line] = found.as_slice() else {
        panic!("one {message:?} event, found {}: {lines:#?}", found.len());
    };
    line
}

/// The process's default subscriber, which writes nothing: it keeps every callsite asking
/// the thread's subscriber per event. Without it a callsite first reached on a thread that
/// captures nothing (a test running alongside) would be cached as never enabled, and a
/// capture running at the same time would miss its events.
struct PerEvent;

impl Subscriber for PerEvent {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
