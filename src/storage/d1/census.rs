//! What D1 holds, for the guard rails (migration.md §4): which tables exist, and how many
//! entities each repository has.

use super::Sql;
use crate::platform::{Platform, Statement};
use crate::storage::{Operation, Repository, StorageResult};
use serde::Deserialize;

const TABLES: &str = "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')";
const SUBSCRIBED: &str = "SELECT COUNT(*) AS n FROM users WHERE subscription_status = 1";
const WATCHLISTS: &str = "SELECT COUNT(DISTINCT chat_id) AS n FROM watchlists";
const HISTORIES: &str = "SELECT COUNT(DISTINCT chat_id) AS n FROM executions";
const POSITIONS: &str = "SELECT COUNT(*) AS n FROM active_positions";
const CACHE: &str = "SELECT COUNT(*) AS n FROM cache";

/// Every table and trigger the migrations in `migrations/` leave, in their order (a test
/// derives this list from the migration files, so the two cannot drift apart).
const CREATED: &[&str] = &[
    "users",
    "watchlists",
    "executions",
    "active_positions",
    "cache",
    "settings",
    "settings_history",
    "_migration_status",
    "telegram_updates",
    "repair_queue",
    "migration_counters",
    "divergences",
    "entity_versions",
    "version_users_insert",
    "version_users_update",
    "version_users_delete",
    "version_watchlists_insert",
    "version_watchlists_update",
    "version_watchlists_delete",
    "version_executions_insert",
    "version_executions_update",
    "version_executions_delete",
    "version_positions_insert",
    "version_positions_update",
    "version_positions_delete",
    "version_cache_insert",
    "version_cache_update",
    "version_cache_delete",
    "copy_guard",
    "sweeps",
    "sweep_findings",
    "settings_history_restore",
    "pages",
    "broadcast_runs",
    "broadcast_deliveries",
    "broadcast_charts",
];

#[derive(Deserialize)]
struct Name {
    name: String,
}

#[derive(Deserialize)]
struct Number {
    n: i64,
}

/// Counts over the D1 tables.
pub struct Census(Sql);

impl Census {
    pub(crate) fn new(platform: &Platform) -> Self {
        Self(Sql::new(platform))
    }

    /// The tables and triggers the migrations leave that D1 lacks (none when the
    /// schema is at the latest migration).
    pub(crate) async fn missing_tables(&self) -> StorageResult<Vec<&'static str>> {
        let op = Operation::new("census.tables");
        let present: Vec<Name> = self.0.query_as(&op, Statement::new(TABLES, vec![])).await?;
        Ok(CREATED
            .iter()
            .copied()
            .filter(|table| !present.iter().any(|p| p.name == *table))
            .collect())
    }

    /// How many entities `repository` holds: the subscriber list counts once whatever its
    /// length (it is one KV value), the others one per chat or cache key.
    pub async fn entities(&self, repository: Repository) -> StorageResult<i64> {
        let sql = match repository {
            Repository::Subscriptions => SUBSCRIBED,
            Repository::Watchlists => WATCHLISTS,
            Repository::Executions => HISTORIES,
            Repository::Positions => POSITIONS,
            Repository::Cache => CACHE,
        };
        let op = Operation::new("census.entities");
        let rows: Vec<Number> = self.0.query_as(&op, Statement::new(sql, vec![])).await?;
        let n = rows.first().map_or(0, |row| row.n);
        Ok(match repository {
            Repository::Subscriptions => n.min(1),
            _ => n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::MIGRATIONS;

    /// Every table and trigger the migrations create (`CREATE TABLE IF NOT EXISTS <name>`,
    /// `CREATE TRIGGER IF NOT EXISTS <name>`) and no later one drops (`DROP TABLE IF EXISTS
    /// <name>`), in their order.
    fn created_objects() -> Vec<&'static str> {
        const CREATE: [&str; 2] = [
            "CREATE TABLE IF NOT EXISTS ",
            "CREATE TRIGGER IF NOT EXISTS ",
        ];
        let dropped = named_by(&["DROP TABLE IF EXISTS "]);
        named_by(&CREATE)
            .into_iter()
            .filter(|name| !dropped.contains(name))
            .collect()
    }

    /// The names that follow any of `statements` in the migrations, in their order.
    fn named_by(statements: &[&str]) -> Vec<&'static str> {
        MIGRATIONS
            .iter()
            .flat_map(|migration| {
                let mut found: Vec<(usize, &'static str)> = statements
                    .iter()
                    .flat_map(|create| {
                        migration.sql.match_indices(create).filter_map(|(at, _)| {
                            let rest = &migration.sql[at + create.len()..];
                            let name = rest
                                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                                .next()
                                .filter(|name| !name.is_empty())?;
                            Some((at, name))
                        })
                    })
                    .collect();
                found.sort_unstable();
                found.into_iter().map(|(_, name)| name)
            })
            .collect()
    }

    #[test]
    fn the_list_is_what_the_migrations_create() {
        assert_eq!(created_objects(), CREATED);
    }
}
