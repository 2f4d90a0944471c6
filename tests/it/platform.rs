//! The native platform stand-ins behave like the real bindings where tests rely on them.

use crate::helpers::run;
use fear_greed_bot::platform::native::{KvOp, MemoryKv};
use fear_greed_bot::platform::KvStore;

#[test]
fn kv_list_pages_by_prefix_in_key_order_until_the_cursor_runs_out() {
    let kv = MemoryKv::new();
    for i in 0..25 {
        kv.seed(&format!("watchlist:{i:02}"), "[]");
    }
    kv.seed("watchlist", "legacy key without a colon");
    kv.seed("active_position:1", "{}");
    let mut cursor = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = run(kv.list("watchlist:", cursor.as_deref(), 10)).unwrap();
        pages += 1;
        seen.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..25).map(|i| format!("watchlist:{i:02}")).collect();
    assert_eq!(seen, want);
}

#[test]
fn kv_list_refuses_limits_outside_1_to_1000() {
    let kv = MemoryKv::new();
    assert!(run(kv.list("", None, 0)).is_err());
    assert!(run(kv.list("", None, 1001)).is_err());
    assert!(run(kv.list("", None, 1000)).is_ok());
}

#[test]
fn injected_kv_failures_hit_only_the_chosen_operation_and_prefix_until_healed() {
    let kv = MemoryKv::new();
    kv.fail(KvOp::Get, "watchlist:");
    assert!(run(kv.get("watchlist:1")).is_err());
    assert!(run(kv.get("chat_ids")).is_ok());
    assert!(run(kv.put("watchlist:1", "[]")).is_ok());
    kv.heal();
    assert_eq!(run(kv.get("watchlist:1")).unwrap().as_deref(), Some("[]"));
}
