//! The D1 schema, embedded from `migrations/` so native tests apply exactly the files that
//! `wrangler d1 migrations apply` applies (a test checks this list against the directory).
//! Native only: the worker needs none of the text (`storage::d1::census` keeps the names of
//! what the migrations create, and a test derives them from here).
#![cfg(not(target_arch = "wasm32"))]

/// One migration file.
pub struct Migration {
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in the order wrangler applies them (by file name).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_storage_tables.sql",
        sql: include_str!("../migrations/0001_storage_tables.sql"),
    },
    Migration {
        name: "0002_migration_control.sql",
        sql: include_str!("../migrations/0002_migration_control.sql"),
    },
    Migration {
        name: "0003_telegram_updates.sql",
        sql: include_str!("../migrations/0003_telegram_updates.sql"),
    },
    Migration {
        name: "0004_repair_queue.sql",
        sql: include_str!("../migrations/0004_repair_queue.sql"),
    },
    Migration {
        name: "0005_shadow_evidence.sql",
        sql: include_str!("../migrations/0005_shadow_evidence.sql"),
    },
    Migration {
        name: "0006_copy_sweeps.sql",
        sql: include_str!("../migrations/0006_copy_sweeps.sql"),
    },
    Migration {
        name: "0007_drop_recent_writes.sql",
        sql: include_str!("../migrations/0007_drop_recent_writes.sql"),
    },
    Migration {
        name: "0009_settings_history_restore.sql",
        sql: include_str!("../migrations/0009_settings_history_restore.sql"),
    },
    Migration {
        name: "0010_pages.sql",
        sql: include_str!("../migrations/0010_pages.sql"),
    },
    Migration {
        name: "0011_broadcast_runs.sql",
        sql: include_str!("../migrations/0011_broadcast_runs.sql"),
    },
    Migration {
        name: "0012_broadcast_charts.sql",
        sql: include_str!("../migrations/0012_broadcast_charts.sql"),
    },
    Migration {
        name: "0013_repair_queue_by_target.sql",
        sql: include_str!("../migrations/0013_repair_queue_by_target.sql"),
    },
];
