//! [`FixedWindows`]: a count per key over fixed windows, kept in the isolate. It is the
//! [`RateLimiter`] where no Workers Rate Limiting binding is bound, and where an isolate
//! remembers the keys a limiter refused. Pure: the caller passes the time.

use super::RateLimiter;
use async_trait::async_trait;
use std::cell::RefCell;

/// Most keys remembered at once; past it, new keys share one window ([`OVERFLOW`]), so many
/// clients cannot grow the isolate's memory or escape their count by crowding others out.
/// Few enough to look a key up by a scan (a map would cost the upload more).
const MAX_KEYS: usize = 1_024;

/// The key every client beyond [`MAX_KEYS`] is counted under.
const OVERFLOW: &str = "\u{0}overflow";

/// At most `limit` attempts per key in a window of `period_ms` that opens with the key's
/// first attempt after the last one closed (the binding's windows are aligned to the clock
/// instead; either way a key gets at most `limit` attempts a period).
pub struct FixedWindows {
    limit: u32,
    period_ms: i64,
    windows: RefCell<Vec<(String, Window)>>,
}

#[derive(Clone, Copy)]
struct Window {
    opened_ms: i64,
    count: u32,
}

impl FixedWindows {
    pub fn new(limit: u32, period_ms: i64) -> Self {
        Self {
            limit,
            period_ms,
            windows: RefCell::default(),
        }
    }

    /// Counts one attempt by `key`; `false`, counting nothing, when the key's window is full.
    pub fn hit(&self, key: &str, now_ms: i64) -> bool {
        let mut windows = self.windows.borrow_mut();
        let window = self.window(&mut windows, key, now_ms);
        if now_ms >= window.opened_ms + self.period_ms {
            *window = Window {
                opened_ms: now_ms,
                count: 0,
            };
        }
        let within = window.count < self.limit;
        window.count += u32::from(within);
        within
    }

    /// How long until `key` may try again; `None` while its window has room.
    pub fn retry_after_ms(&self, key: &str, now_ms: i64) -> Option<i64> {
        let windows = self.windows.borrow();
        let find = |key: &str| windows.iter().find(|(k, _)| k == key);
        let (_, window) = find(key).or_else(|| {
            (windows.len() >= MAX_KEYS)
                .then(|| find(OVERFLOW))
                .flatten()
        })?;
        let left = window.opened_ms + self.period_ms - now_ms;
        (window.count >= self.limit && left > 0).then_some(left)
    }

    /// Fills `key`'s window from now: what an isolate records when another limiter refused it.
    pub fn exhaust(&self, key: &str, now_ms: i64) {
        let mut windows = self.windows.borrow_mut();
        *self.window(&mut windows, key, now_ms) = Window {
            opened_ms: now_ms,
            count: self.limit,
        };
    }

    /// The window `key` is counted in: its own (an empty one opening now if it has none),
    /// unless it is new and the list is full even after the closed windows are dropped; then
    /// the [`OVERFLOW`] one.
    fn window<'w>(
        &self,
        windows: &'w mut Vec<(String, Window)>,
        key: &str,
        now_ms: i64,
    ) -> &'w mut Window {
        let mut key = key;
        if windows.len() >= MAX_KEYS && !windows.iter().any(|(k, _)| k == key) {
            windows.retain(|(_, window)| now_ms < window.opened_ms + self.period_ms);
            if windows.len() >= MAX_KEYS {
                key = OVERFLOW;
            }
        }
        let at = match windows.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                let empty = Window {
                    opened_ms: now_ms,
                    count: 0,
                };
                windows.push((key.to_owned(), empty));
                windows.len() - 1
            }
        };
        &mut windows[at].1
    }
}

#[async_trait(?Send)]
impl RateLimiter for FixedWindows {
    async fn limit(&self, key: &str, now_ms: i64) -> bool {
        self.hit(key, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_limit_per_window_and_a_new_window_after_the_period() {
        // (key, time, counted, retry after) in order, limit 3 per 1000 ms.
        let cases: &[(&str, i64, bool, Option<i64>)] = &[
            ("a", 0, true, None),
            ("a", 10, true, None),
            ("b", 20, true, None),
            ("a", 500, true, Some(500)),
            ("a", 600, false, Some(400)),
            ("b", 700, true, None),
            ("a", 999, false, Some(1)),
            ("a", 1000, true, None),
            ("b", 1019, true, Some(1)),
            ("b", 1020, true, None),
        ];
        let windows = FixedWindows::new(3, 1000);
        for &(key, at, counted, retry_after) in cases {
            assert_eq!(windows.hit(key, at), counted, "{key} at {at}");
            assert_eq!(
                windows.retry_after_ms(key, at),
                retry_after,
                "{key} at {at}"
            );
        }
    }

    #[test]
    fn an_exhausted_key_waits_a_whole_period_from_then() {
        let windows = FixedWindows::new(3, 1000);
        assert!(windows.hit("a", 0));
        windows.exhaust("a", 800);
        assert_eq!(windows.retry_after_ms("a", 800), Some(1000));
        assert!(!windows.hit("a", 1799));
        assert!(windows.hit("a", 1800));
        assert_eq!(windows.retry_after_ms("b", 800), None, "others untouched");
    }

    #[test]
    fn past_the_most_keys_closed_windows_are_dropped_then_new_keys_share_one() {
        let windows = FixedWindows::new(1, 1000);
        for i in 0..MAX_KEYS {
            assert!(windows.hit(&i.to_string(), 0));
        }
        assert!(windows.hit("new", 10), "counted under the overflow key");
        assert!(!windows.hit("newer", 20), "which is now full");
        assert_eq!(windows.retry_after_ms("newest", 20), Some(990));
        assert!(!windows.hit("0", 20), "known keys keep their own window");
        assert!(windows.hit("later", 1000), "closed windows are dropped");
        assert_eq!(
            windows.windows.borrow().len(),
            2,
            "the overflow's and the new key's"
        );
    }
}
