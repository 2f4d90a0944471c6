//! D1 on real SQLite (D1 *is* SQLite): the same SQL, constraints, foreign keys and error texts,
//! `batch` as one transaction. Counts round trips so tests can assert them.

use super::ManualClock;
use crate::platform::{PlatformError, Row, SqlDatabase, SqlValue, Statement};
use crate::schema::MIGRATIONS;
use async_trait::async_trait;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as SqliteValue, ValueRef};
use rusqlite::Connection;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;

/// A SQLite database standing in for D1 in native tests.
pub struct SqliteDatabase {
    conn: RefCell<Connection>,
    round_trips: Cell<u64>,
    /// Of those, the writes (`execute`, `batch`).
    writes: Cell<u64>,
}

fn platform_error(e: rusqlite::Error) -> PlatformError {
    PlatformError(e.to_string())
}

impl SqliteDatabase {
    /// An empty in-memory database with foreign keys enforced, as D1 enforces them.
    pub(crate) fn open_in_memory() -> Result<Self, PlatformError> {
        let conn = Connection::open_in_memory().map_err(platform_error)?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(platform_error)?;
        Ok(Self {
            conn: RefCell::new(conn),
            round_trips: Cell::new(0),
            writes: Cell::new(0),
        })
    }

    /// An in-memory database with every migration in `migrations/` applied.
    pub fn migrated() -> Result<Self, PlatformError> {
        let db = Self::open_in_memory()?;
        db.apply_migrations()?;
        Ok(db)
    }

    /// Applies every migration in order, as `wrangler d1 migrations apply` does.
    pub fn apply_migrations(&self) -> Result<(), PlatformError> {
        MIGRATIONS
            .iter()
            .try_for_each(|migration| self.run_script(migration.sql))
    }

    /// Keeps D1's own time (`unixepoch('subsec')`, which the triggers of `entity_versions`
    /// read) by `clock`, as D1 and the worker share real time in production: a test that
    /// moves the clock past KV's propagation window moves D1's view of it too.
    pub fn keep_time(&self, clock: &ManualClock) -> Result<(), PlatformError> {
        let now = clock.reading();
        self.conn
            .borrow()
            .create_scalar_function(
                "unixepoch",
                1,
                FunctionFlags::SQLITE_UTF8,
                move |ctx| match ctx.get::<String>(0)?.as_str() {
                    "subsec" => Ok(now.load(Ordering::Relaxed) as f64 / 1000.0),
                    other => Err(rusqlite::Error::UserFunctionError(
                        format!("unixepoch({other:?}) is not kept by the test clock").into(),
                    )),
                },
            )
            .map_err(platform_error)
    }

    /// Runs raw SQL outside the repositories: test set-up and sabotage (e.g. `DROP TABLE`).
    pub fn run_script(&self, sql: &str) -> Result<(), PlatformError> {
        self.conn
            .borrow()
            .execute_batch(sql)
            .map_err(platform_error)
    }

    /// How many calls (`query`, `execute`, `batch`) the database has served.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.get()
    }

    /// How many of those calls were writes (`execute`, `batch`): a command whose writes
    /// share one `batch()` makes one.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }

    pub fn reset_round_trips(&self) {
        self.round_trips.set(0);
        self.writes.set(0);
    }

    /// The `EXPLAIN QUERY PLAN` details of a statement, one line per plan step.
    pub fn query_plan(&self, statement: &Statement) -> Result<Vec<String>, PlatformError> {
        let conn = self.conn.borrow();
        let sql = format!("EXPLAIN QUERY PLAN {}", statement.sql);
        let mut stmt = conn.prepare(&sql).map_err(platform_error)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(bind(statement)), |row| {
                row.get::<_, String>(3)
            })
            .map_err(platform_error)?;
        rows.collect::<Result<_, _>>().map_err(platform_error)
    }

    /// The whole database as text, without counting a round trip: the schema (`sqlite_master`)
    /// and every row of every table, each table's rows sorted, so that two dumps are equal
    /// exactly when nothing was written in between.
    pub fn dump(&self) -> Result<Vec<String>, PlatformError> {
        let conn = self.conn.borrow();
        let rows_of = |sql: &str| -> Result<Vec<String>, rusqlite::Error> {
            let mut stmt = conn.prepare(sql)?;
            let columns = stmt.column_count();
            let mut rows = stmt
                .query_map([], |row| {
                    let values = (0..columns)
                        .map(|i| json_of(row.get_ref(i)?).map(|value| value.to_string()))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(values.join(" | "))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.sort();
            Ok(rows)
        };
        let dump = || -> Result<Vec<String>, rusqlite::Error> {
            let mut dump = rows_of("SELECT type, name, tbl_name, sql FROM sqlite_master")?;
            let tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for table in tables {
                dump.push(format!("table {table}"));
                dump.extend(rows_of(&format!(
                    "SELECT * FROM \"{}\"",
                    table.replace('"', "\"\"")
                ))?);
            }
            Ok(dump)
        };
        dump().map_err(platform_error)
    }

    fn count_round_trip(&self) {
        self.round_trips.set(self.round_trips.get() + 1);
    }

    fn count_write(&self) {
        self.count_round_trip();
        self.writes.set(self.writes.get() + 1);
    }
}

fn bind(statement: &Statement) -> impl Iterator<Item = SqliteValue> + '_ {
    statement.params.iter().map(|param| match param {
        SqlValue::Null => SqliteValue::Null,
        SqlValue::Integer(i) => SqliteValue::Integer(*i),
        SqlValue::Real(f) => SqliteValue::Real(*f),
        SqlValue::Text(s) => SqliteValue::Text(s.clone()),
    })
}

fn json_of(value: ValueRef<'_>) -> Result<Value, rusqlite::Error> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(bytes) => Value::from(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(_) => {
            return Err(rusqlite::Error::InvalidColumnType(
                0,
                "blob".into(),
                rusqlite::types::Type::Blob,
            ))
        }
    })
}

fn run_query(conn: &Connection, statement: &Statement) -> Result<Vec<Row>, rusqlite::Error> {
    let mut stmt = conn.prepare(statement.sql)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(bind(statement)))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut map = Row::new();
        for (i, name) in names.iter().enumerate() {
            map.insert(name.clone(), json_of(row.get_ref(i)?)?);
        }
        out.push(map);
    }
    Ok(out)
}

fn run_execute(conn: &Connection, statement: &Statement) -> Result<u64, rusqlite::Error> {
    let changed = conn.execute(statement.sql, rusqlite::params_from_iter(bind(statement)))?;
    Ok(changed as u64)
}

#[async_trait(?Send)]
impl SqlDatabase for SqliteDatabase {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, PlatformError> {
        self.count_round_trip();
        run_query(&self.conn.borrow(), statement).map_err(platform_error)
    }

    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError> {
        self.count_write();
        run_execute(&self.conn.borrow(), statement).map_err(platform_error)
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError> {
        self.count_write();
        let mut conn = self.conn.borrow_mut();
        // Dropping the transaction on the error path rolls it back, as a failed D1 batch does.
        let tx = conn.transaction().map_err(platform_error)?;
        let changed = statements
            .iter()
            .map(|statement| run_execute(&tx, statement))
            .collect::<Result<Vec<_>, _>>()
            .map_err(platform_error)?;
        tx.commit().map_err(platform_error)?;
        Ok(changed)
    }

    async fn query_after(
        &self,
        writes: &[Statement],
        read: &Statement,
    ) -> Result<Vec<Row>, PlatformError> {
        // One round trip; counted as a read, which is what the caller asked for.
        self.count_round_trip();
        let mut conn = self.conn.borrow_mut();
        let tx = conn.transaction().map_err(platform_error)?;
        for statement in writes {
            run_execute(&tx, statement).map_err(platform_error)?;
        }
        let rows = run_query(&tx, read).map_err(platform_error)?;
        tx.commit().map_err(platform_error)?;
        Ok(rows)
    }
}
