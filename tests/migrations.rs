//! The SQLite and Postgres migrations (`migrations/sqlite/`, `migrations/postgres/`)
//! describe one schema and must not drift apart: both directories hold the same files,
//! and each pair holds the same statements once comments, layout and the case of keywords
//! and names are set aside and the known type differences ([`TYPE_DIFFERENCES`]) are
//! mapped. A column, index or table added to one side only fails here.
//!
//! When the dialects truly need different SQL (a type, a function), add the pair to
//! [`TYPE_DIFFERENCES`] with the reason, rather than loosening the comparison.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Postgres spelling → SQLite spelling of the words that differ between the two dialects.
const TYPE_DIFFERENCES: &[(&str, &str)] = &[
    // Binary columns (shopper states, bundles): Postgres has no BLOB type.
    ("BYTEA", "BLOB"),
];

fn migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

/// The `*.sql` file names of a migrations directory, sorted.
fn sql_files(dialect: &str) -> BTreeSet<String> {
    let dir = migrations().join(dialect);
    let names: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let stray: Vec<&String> = names.iter().filter(|n| !n.ends_with(".sql")).collect();
    assert!(stray.is_empty(), "{}: not migrations: {stray:?}", dir.display());
    assert!(!names.is_empty(), "no migrations in {}", dir.display());
    names
}

/// SQL as statements of tokens: comments and layout dropped, keywords and unquoted names
/// upper-cased (both dialects fold them), string literals and quoted names kept as written.
fn statements(sql: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = sql.chars().collect();
    let mut statements = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let end = (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == '*' && chars[j + 1] == '/');
            i = end.map_or(chars.len(), |j| j + 2);
        } else if c == '\'' || c == '"' {
            // A quoted string or name; a doubled quote inside is one quote.
            let start = i;
            i += 1;
            while i < chars.len() {
                if chars[i] == c && chars.get(i + 1) == Some(&c) {
                    i += 2;
                } else if chars[i] == c {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            current.push(chars[start..i].iter().collect());
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            current.push(chars[start..i].iter().collect::<String>().to_uppercase());
        } else if c == ';' {
            if !current.is_empty() {
                statements.push(std::mem::take(&mut current));
            }
            i += 1;
        } else {
            current.push(c.to_string());
            i += 1;
        }
    }
    if !current.is_empty() {
        statements.push(current);
    }
    statements
}

/// A Postgres statement in SQLite's words ([`TYPE_DIFFERENCES`]).
fn as_sqlite(statement: &[String]) -> Vec<String> {
    statement
        .iter()
        .map(|t| {
            TYPE_DIFFERENCES.iter().find(|(pg, _)| t == pg).map_or_else(|| t.clone(), |(_, lite)| (*lite).to_owned())
        })
        .collect()
}

/// Where the two versions of one migration differ, one line per difference; empty when
/// they describe the same schema.
fn drift(name: &str, sqlite: &str, postgres: &str) -> Vec<String> {
    let lite = statements(sqlite);
    let pg: Vec<Vec<String>> = statements(postgres).iter().map(|s| as_sqlite(s)).collect();
    let mut out = Vec::new();
    for n in 0..lite.len().max(pg.len()) {
        match (lite.get(n), pg.get(n)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                out.push(format!(
                    "{name}, statement {}: they differ at token {at} ({:?} in sqlite, {:?} in postgres)\n  sqlite:   {}\n  postgres: {}",
                    n + 1,
                    a.get(at).map_or("end", String::as_str),
                    b.get(at).map_or("end", String::as_str),
                    a.join(" "),
                    b.join(" ")
                ));
            }
            (Some(a), None) => out.push(format!("{name}, statement {}: in sqlite only: {}", n + 1, a.join(" "))),
            (None, Some(b)) => out.push(format!("{name}, statement {}: in postgres only: {}", n + 1, b.join(" "))),
            (None, None) => {}
        }
    }
    out
}

#[test]
fn sqlite_and_postgres_migrations_describe_the_same_schema() {
    let lite = sql_files("sqlite");
    let pg = sql_files("postgres");
    assert_eq!(lite, pg, "migrations/sqlite and migrations/postgres must hold the same files");
    let mut differences = Vec::new();
    for name in &lite {
        let read = |dialect: &str| std::fs::read_to_string(migrations().join(dialect).join(name)).unwrap();
        let (sqlite, postgres) = (read("sqlite"), read("postgres"));
        assert!(!statements(&sqlite).is_empty(), "{name}: no statement");
        differences.extend(drift(name, &sqlite, &postgres));
    }
    assert!(
        differences.is_empty(),
        "the SQLite and Postgres migrations drifted apart (known type differences: {TYPE_DIFFERENCES:?}):\n{}",
        differences.join("\n")
    );
}

/// The comparison sees what matters and nothing else: a column on one side only, a
/// different type, a missing index are drift; comments, layout and case are not.
#[test]
fn drift_is_caught_and_layout_is_not() {
    let base = "-- t (SQLite)\nCREATE TABLE t (\n    id TEXT PRIMARY KEY,\n    body BLOB NOT NULL\n);\nCREATE INDEX t_id ON t (id);\n";
    let same = "/* t (Postgres) */ create table T (id text primary key, body bytea not null); -- x\ncreate index t_id on t (id)";
    assert_eq!(drift("same", base, same), Vec::<String>::new());

    let extra_column =
        "CREATE TABLE t (id TEXT PRIMARY KEY, body BYTEA NOT NULL, extra TEXT); CREATE INDEX t_id ON t (id);";
    let found = drift("extra", base, extra_column);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("EXTRA"), "{}", found[0]);

    let other_type = "CREATE TABLE t (id BIGINT PRIMARY KEY, body BYTEA NOT NULL); CREATE INDEX t_id ON t (id);";
    assert_eq!(drift("type", base, other_type).len(), 1);

    let no_index = "CREATE TABLE t (id TEXT PRIMARY KEY, body BYTEA NOT NULL);";
    let found = drift("index", base, no_index);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("in sqlite only: CREATE INDEX"), "{}", found[0]);

    // A default that differs only inside a string literal is drift too.
    assert_eq!(drift("literal", "SELECT 'a';", "SELECT 'A';").len(), 1);
}
