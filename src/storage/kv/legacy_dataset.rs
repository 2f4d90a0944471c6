//! A generated legacy KV dataset, as the legacy bot would have left it, for the sweep tests and
//! the backfill bench: subscribers and chats that never subscribed (or left), 1–10 tickers,
//! 0–30 executions, open positions, the cache, and corrupt records of every kind the
//! backfill must skip (legacy §3, §9.6). Values are in the legacy bytes (`JSON.stringify`'s),
//! as the legacy bot wrote them. Deterministic for a seed.

use super::{ACTIVE_POSITION_PREFIX, CHAT_IDS_KEY, EXECUTION_HISTORY_PREFIX, WATCHLIST_PREFIX};
use crate::domain::{js_stringify, ChatId, Execution, Position, SignalType, FEAR_GREED_CACHE_KEY};
use serde_json::{json, Value};

/// Every KV entry of the dataset, and what a faithful copy of it must hold.
#[derive(Debug, Clone, Default)]
pub struct LegacyDataset {
    /// Key and value, as KV stores them.
    pub entries: Vec<(String, String)>,
    /// The chats in `chat_ids`, in order (its stray elements left out).
    pub subscribers: Vec<ChatId>,
    /// Every chat with a record under a per-chat key (valid or not).
    pub chats: Vec<ChatId>,
    /// Keys whose value (or name) a backfill must skip, logged.
    pub corrupt: Vec<String>,
    /// Rows a faithful copy holds per table: watchlists, executions, active_positions.
    pub watchlist_rows: u64,
    pub execution_rows: u64,
    pub position_rows: u64,
}

const TICKERS: [&str; 12] = [
    "SPY", "AAPL", "MSFT", "QQQ", "TSLA", "NVDA", "AMZN", "GOOG", "META", "BRK.B", "VTI", "IWM",
];

/// SplitMix64: small, fast and deterministic; no quality beyond "spread out" is needed.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

impl LegacyDataset {
    /// `chats` chats' worth of legacy data; about 1 % of them carry a corrupt record, and a
    /// few keys name no chat at all.
    pub fn generate(chats: usize, seed: u64) -> Self {
        let mut draw = Draw(seed);
        let mut set = Self::default();
        let mut chat_ids: Vec<Value> = Vec::new();
        for i in 0..chats {
            let id = i64::try_from(i).unwrap_or(i64::MAX);
            // Private chats are positive, groups negative (-100…).
            let chat = if draw.chance(20) {
                ChatId::new(-1_000_000_000_000 - id)
            } else {
                ChatId::new(100_000 + id * 7)
            };
            set.chats.push(chat);
            if draw.chance(70) {
                set.subscribers.push(chat);
                chat_ids.push(json!(chat.get()));
            }
            let corrupt = draw.chance(1).then(|| draw.below(4));
            set.watchlist(&mut draw, chat, corrupt == Some(0));
            set.executions(&mut draw, chat, corrupt == Some(1), corrupt == Some(2));
            set.position(&mut draw, chat, corrupt == Some(3));
        }
        // A stray the legacy bot could leave in `chat_ids` (§9.6): not a subscriber, kept.
        chat_ids.insert(chat_ids.len() / 2, json!("blocked_user"));
        set.put(CHAT_IDS_KEY.into(), Value::Array(chat_ids).to_string());
        set.put(
            FEAR_GREED_CACHE_KEY.into(),
            json!({ "data": { "rating": "fear", "score": 31.5 }, "timestamp": 1_705_276_800_000_i64 })
                .to_string(),
        );
        for bad in ["watchlist:abc", "active_position:007"] {
            set.put(bad.into(), r#"["SPY"]"#.into());
            set.corrupt.push(bad.into());
        }
        set
    }

    fn put(&mut self, key: String, value: String) {
        self.entries.push((key, value));
    }

    fn watchlist(&mut self, draw: &mut Draw, chat: ChatId, corrupt: bool) {
        let key = format!("{WATCHLIST_PREFIX}{chat}");
        if corrupt {
            self.put(key.clone(), "[\"SPY\", \"AAPL\"".into());
            self.corrupt.push(key);
            return;
        }
        if !draw.chance(90) {
            return;
        }
        let n = 1 + draw.below(10);
        let start = draw.below(TICKERS.len() as u64);
        let tickers: Vec<&str> = (0..n)
            .map(|k| TICKERS[((start + k) % TICKERS.len() as u64) as usize])
            .collect();
        self.watchlist_rows += n;
        self.put(key, json!(tickers).to_string());
    }

    fn executions(&mut self, draw: &mut Draw, chat: ChatId, bad_shape: bool, not_array: bool) {
        let key = format!("{EXECUTION_HISTORY_PREFIX}{chat}");
        if not_array {
            self.put(key.clone(), r#"{"signalType":"BUY"}"#.into());
            self.corrupt.push(key);
            return;
        }
        let n = draw.below(31);
        if n == 0 && !bad_shape {
            return;
        }
        let mut records: Vec<Value> = (0..n)
            .map(|k| {
                let execution = Execution {
                    signal_type: if k % 2 == 0 {
                        SignalType::Buy
                    } else {
                        SignalType::Sell
                    },
                    ticker: TICKERS[(draw.below(TICKERS.len() as u64)) as usize].into(),
                    // Cents, as users type them; now and then the legacy `null` of `Infinity`.
                    execution_price: (!draw.chance(2))
                        .then(|| (1 + draw.below(90_000)) as f64 / 100.0),
                    execution_date: 1_600_000_000_000
                        + i64::try_from(draw.below(100_000_000_000)).unwrap_or(0),
                    signal_price: None,
                };
                serde_json::to_value(&execution).unwrap_or_default()
            })
            .collect();
        if bad_shape {
            records.push(json!({ "ticker": 7, "signalType": "HOLD" }));
            self.corrupt.push(key.clone());
        } else {
            self.execution_rows += n;
        }
        self.put(key, js_stringify(&Value::Array(records)));
    }

    fn position(&mut self, draw: &mut Draw, chat: ChatId, corrupt: bool) {
        let key = format!("{ACTIVE_POSITION_PREFIX}{chat}");
        if corrupt {
            self.put(key.clone(), r#"{"ticker":"SPY","entryPrice":"abc"}"#.into());
            self.corrupt.push(key);
            return;
        }
        if !draw.chance(30) {
            return;
        }
        let position = Position {
            ticker: TICKERS[(draw.below(TICKERS.len() as u64)) as usize].into(),
            entry_price: Some((1 + draw.below(50_000)) as f64 / 100.0),
        };
        self.position_rows += 1;
        self.put(
            key,
            js_stringify(&serde_json::to_value(&position).unwrap_or_default()),
        );
    }
}
