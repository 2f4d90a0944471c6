//! Every migration works with the worker version still running when it is applied: a deploy
//! applies the schema before it uploads the code that needs it. So a migration adds (tables,
//! indexes, triggers, nullable or defaulted columns, rows) and never takes away; a drop or a
//! rename is a *contract* migration, marked and shipped a release after the code stopped using
//! what it removes (MIGRATION.md, "Schema changes while the worker runs").

use fear_greed_bot::schema::MIGRATIONS;

/// The marker a contract migration starts a line with, followed by the objects it removes.
const CONTRACT: &str = "-- contract:";

/// Why `sql` (the migration `name`) would break the worker version still running, if it would.
fn violations(name: &str, sql: &str) -> Vec<String> {
    let contracted: Vec<String> = sql
        .lines()
        .filter_map(|line| line.trim().strip_prefix(CONTRACT))
        .flat_map(|objects| objects.split(','))
        .map(|object| {
            object
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        })
        .filter(|object| !object.is_empty())
        .collect();
    let code: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut found = Vec::new();
    for statement in code.split(';') {
        let words: Vec<String> = statement
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c| c == '(' || c == ')' || c == ',')
                    .to_ascii_lowercase()
            })
            .collect();
        let text = words.join(" ");
        if text.is_empty() {
            continue;
        }
        if let Some(object) = removed(&words) {
            if !contracted.contains(&object) {
                found.push(format!(
                    "{name}: `{text}` removes {object} without a contract marker"
                ));
            }
        }
        let adds_column = text.starts_with("alter table") && words.contains(&"add".to_owned());
        if adds_column && text.contains("not null") && !text.contains("default") {
            found.push(format!(
                "{name}: `{text}` adds a NOT NULL column without a default, which the running \
                 version's inserts do not fill"
            ));
        }
    }
    found
}

/// The object a statement drops or renames away, if it does.
fn removed(words: &[String]) -> Option<String> {
    let at = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let name_after = |i: usize| {
        let skip = if at(i) == "if" && at(i + 1) == "exists" {
            2
        } else {
            0
        };
        at(i + skip).to_owned()
    };
    match (at(0), at(1)) {
        ("drop", "table" | "index" | "trigger" | "view") => Some(name_after(2)),
        ("alter", "table") if words.iter().any(|w| w == "rename" || w == "drop") => {
            Some(name_after(2))
        }
        _ => None,
    }
}

#[test]
fn every_migration_only_adds_unless_it_is_a_marked_contract() {
    let found: Vec<String> = MIGRATIONS
        .iter()
        .flat_map(|m| violations(m.name, m.sql))
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn what_a_contract_migration_removes_is_no_longer_named_by_the_code() {
    let mut sources = String::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("schema.rs") {
                sources.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    for migration in MIGRATIONS {
        for line in migration.sql.lines() {
            let Some(objects) = line.trim().strip_prefix(CONTRACT) else {
                continue;
            };
            for object in objects
                .split(',')
                .filter_map(|o| o.split_whitespace().next())
            {
                assert!(
                    !sources.contains(object),
                    "{}: {object} is removed but src/ still names it",
                    migration.name
                );
            }
        }
    }
}

#[test]
fn the_check_refuses_what_would_break_the_running_version() {
    let refused = [
        "DROP TABLE users;",
        "DROP INDEX IF EXISTS idx_users_chat;",
        "drop trigger bump_version;",
        "ALTER TABLE users RENAME TO people;",
        "ALTER TABLE users RENAME COLUMN chat_id TO chat;",
        "ALTER TABLE users DROP COLUMN created_at;",
        "ALTER TABLE users ADD COLUMN locale TEXT NOT NULL;",
        "-- contract: watchlists\nDROP TABLE users;",
    ];
    for sql in refused {
        assert_eq!(violations("t.sql", sql).len(), 1, "{sql}");
    }
    let allowed = [
        "CREATE TABLE IF NOT EXISTS things (id INTEGER PRIMARY KEY);",
        "CREATE INDEX IF NOT EXISTS idx_things ON things(id);",
        "ALTER TABLE users ADD COLUMN locale TEXT;",
        "ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';",
        "-- DROP TABLE users; (a comment)\nINSERT INTO settings (key, value) VALUES ('a', 'b');",
        "-- contract: users\nDROP TABLE IF EXISTS users;",
    ];
    for sql in allowed {
        assert_eq!(violations("t.sql", sql), Vec::<String>::new(), "{sql}");
    }
}
