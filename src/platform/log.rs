//! The worker's log lines: a `tracing` subscriber that writes each event as one JSON object,
//! in the format `tracing-subscriber`'s `json()` layer wrote them (which this replaces, with
//! its dependencies, to keep the wasm small):
//!
//! `{"timestamp":"2026-01-02T03:04:05.6Z","level":"INFO","fields":{"message":"…","k":1},"target":"fear_greed_bot::app"}`
//!
//! and a newline. Strings, `?debug` and `%display` values are JSON strings; integers, floats and
//! booleans JSON values. Every level is written (that layer had no filter). The code opens no
//! spans, so spans are accepted and ignored. Where the line goes (workerd's console) is the
//! caller's `write`.

use crate::domain::Date;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// The subscriber: `now_ms` stamps each line, `write` takes it with the event's level.
pub struct JsonLog<N, W> {
    now_ms: N,
    write: W,
}

impl<N, W> JsonLog<N, W>
where
    N: Fn() -> i64 + 'static,
    W: Fn(&Level, &str) + 'static,
{
    pub fn new(now_ms: N, write: W) -> Self {
        Self { now_ms, write }
    }
}

impl<N, W> Subscriber for JsonLog<N, W>
where
    N: Fn() -> i64 + 'static,
    W: Fn(&Level, &str) + 'static,
{
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let line = json_line(&rfc3339((self.now_ms)()), event);
        (self.write)(event.metadata().level(), &line);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// `event` as one JSON object and a newline, stamped with `timestamp`.
pub(crate) fn json_line(timestamp: &str, event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut line = String::from("{\"timestamp\":");
    push_json(&mut line, timestamp);
    line.push_str(",\"level\":\"");
    line.push_str(meta.level().as_str());
    line.push_str("\",\"fields\":{");
    event.record(&mut Fields {
        line: &mut line,
        first: true,
    });
    line.push_str("},\"target\":");
    push_json(&mut line, meta.target());
    line.push_str("}\n");
    line
}

/// Appends `value` as JSON (serde_json's escaping and number formats).
fn push_json<T: serde::Serialize + ?Sized>(line: &mut String, value: &T) {
    // Strings, integers, floats and booleans always serialize.
    line.push_str(&serde_json::to_string(value).unwrap_or_default());
}

/// Writes an event's fields as the members of a JSON object.
struct Fields<'a> {
    line: &'a mut String,
    first: bool,
}

impl Fields<'_> {
    fn member<T: serde::Serialize + ?Sized>(&mut self, field: &Field, value: &T) {
        if !std::mem::take(&mut self.first) {
            self.line.push(',');
        }
        push_json(self.line, field.name());
        self.line.push(':');
        push_json(self.line, value);
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, &format!("{value:?}"));
    }
}

/// `ms` since the epoch in RFC 3339 UTC as the `time` crate's `Rfc3339` writes it (the
/// fraction's trailing zeros dropped, none when zero), the format the log lines have always had.
pub(crate) fn rfc3339(ms: i64) -> String {
    let date = Date::from_ms(ms);
    let ms_of_day = ms - date.to_ms();
    let secs = ms_of_day / 1000;
    let mut out = format!(
        "{date}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    // Writing to a `String` cannot fail.
    let _ = match ms_of_day % 1000 {
        0 => Ok(()),
        ms if ms % 100 == 0 => write!(out, ".{}", ms / 100),
        ms if ms % 10 == 0 => write!(out, ".{:02}", ms / 10),
        ms => write!(out, ".{ms:03}"),
    };
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The lines `log` writes, with their levels, under a clock at 2026-01-02T03:04:05.600Z.
    fn lines(log: impl FnOnce()) -> Vec<(Level, String)> {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&written);
        let subscriber = JsonLog::new(
            || 1_767_323_045_600,
            move |level: &Level, line: &str| sink.lock().unwrap().push((*level, line.to_owned())),
        );
        tracing::subscriber::with_default(subscriber, log);
        let lines = written.lock().unwrap().clone();
        lines
    }

    #[test]
    fn a_line_has_the_json_layers_members_in_its_order() {
        let written = lines(|| tracing::info!("started"));
        assert_eq!(
            written,
            [(
                Level::INFO,
                "{\"timestamp\":\"2026-01-02T03:04:05.6Z\",\"level\":\"INFO\",\
                 \"fields\":{\"message\":\"started\"},\
                 \"target\":\"fear_greed_bot::platform::log::tests\"}\n"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn fields_keep_their_json_types_and_debug_and_display_become_strings() {
        let error = "quote \" and\nnewline";
        let written = lines(|| {
            tracing::warn!(
                text = "a",
                n = -3,
                count = 7u64,
                ratio = 0.5,
                whole = 2.0,
                ok = true,
                error = %error,
                outcome = ?Some(429),
                "retry {}",
                1
            )
        });
        let fields = written[0].1.split("\"fields\":").nth(1).unwrap();
        assert_eq!(
            fields.split(",\"target\"").next().unwrap(),
            "{\"message\":\"retry 1\",\"text\":\"a\",\"n\":-3,\"count\":7,\"ratio\":0.5,\
             \"whole\":2.0,\"ok\":true,\"error\":\"quote \\\" and\\nnewline\",\
             \"outcome\":\"Some(429)\"}"
        );
        assert_eq!(written[0].0, Level::WARN);
        assert!(written[0].1.contains("\"level\":\"WARN\""));
    }

    #[test]
    fn every_level_is_written() {
        let written = lines(|| {
            tracing::trace!("t");
            tracing::debug!("d");
            tracing::error!("e");
        });
        let levels: Vec<Level> = written.iter().map(|(level, _)| *level).collect();
        assert_eq!(levels, [Level::TRACE, Level::DEBUG, Level::ERROR]);
    }

    #[test]
    fn timestamps_drop_the_fractions_trailing_zeros() {
        let at = |ms_of_day: i64| rfc3339(1_767_312_000_000 + ms_of_day);
        assert_eq!(at(0), "2026-01-02T00:00:00Z");
        assert_eq!(at(11_045_600), "2026-01-02T03:04:05.6Z");
        assert_eq!(at(11_045_620), "2026-01-02T03:04:05.62Z");
        assert_eq!(at(86_399_999), "2026-01-02T23:59:59.999Z");
        assert_eq!(at(1_005), "2026-01-02T00:00:01.005Z");
    }
}
