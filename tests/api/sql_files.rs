//! Every statement procgate runs on PostgreSQL is a file under `sql/postgres/queries/`, runnable
//! from psql as it is: each one here is prepared (parsed, its tables and columns resolved) on a real
//! database holding the job table, also the way sql/postgres/queries/README.md tells a reader to
//! run it (`PREPARE name AS <file>`), and each is used by the code. The statement files of both
//! drivers end with the terminator psql or SQL*Plus needs to run them.
//! Not in the contract suite: it prepares PostgreSQL's statement files on PostgreSQL.

use crate::helpers::*;

fn statement_files() -> Vec<(String, String)> {
    statement_files_in(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/postgres/queries"))
}

/// The `.sql` files of `dir`: (file name, text), by name.
fn statement_files_in(dir: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn every_statement_file_prepares_on_postgresql() {
    let db = TestDatabase::create().await;
    let mut client = db.client().await;
    let files = statement_files();
    assert!(files.len() >= 20, "only {} statement files", files.len());
    for (name, text) in &files {
        let body: String = text.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        let first = body.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        if ["SELECT", "WITH", "UPDATE", "INSERT", "DELETE"].contains(&first.as_str()) {
            // One statement: a prepared statement cannot hold more.
            client.prepare(text).await.unwrap_or_else(|e| panic!("{name} does not prepare: {e}"));
            // What psql sends for `\set q `cat FILE`` + `PREPARE q AS :q` (header and `;` included).
            client
                .batch_execute(&format!("PREPARE psql_check AS {text}\nDEALLOCATE psql_check;"))
                .await
                .unwrap_or_else(|e| panic!("{name} does not run as PREPARE ... AS <file>: {e}"));
        } else if first == "EXPLAIN" {
            // A plan (estimate_jobs.sql): prepared as procgate sends it; PREPARE cannot hold an
            // EXPLAIN (its header says how to run it from psql).
            client.prepare(text).await.unwrap_or_else(|e| panic!("{name} does not prepare: {e}"));
        } else {
            // Session statements (SET, LISTEN): run them, then undo.
            let tx = client.transaction().await.unwrap();
            tx.batch_execute(text).await.unwrap_or_else(|e| panic!("{name} does not run: {e}"));
            tx.rollback().await.unwrap();
        }
    }
}

#[test]
fn every_statement_file_is_used_by_the_code() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/postgres");
    let code: String = std::fs::read_dir(src)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    for (name, _) in statement_files() {
        assert!(code.contains(&format!("queries/{name}\")")), "sql/postgres/queries/{name} is not used");
    }
}

/// psql runs a file's statement at its `;`, SQL*Plus at the `;` ending a SQL statement's last line
/// or at the `/` line after a PL/SQL block: every statement file ends with its terminator and one
/// newline, so `\i file` / `@file` runs it as it is.
#[test]
fn every_statement_file_ends_with_its_terminator() {
    let postgres = statement_files();
    assert!(postgres.len() >= 20, "only {} PostgreSQL statement files", postgres.len());
    for (name, text) in &postgres {
        assert!(text.ends_with(";\n"), "sql/postgres/queries/{name} does not end with `;` and one newline");
    }
    let oracle = statement_files_in(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/oracle/queries"));
    assert!(oracle.len() >= 20, "only {} Oracle statement files", oracle.len());
    for (name, text) in &oracle {
        let first = text.lines().find(|l| !l.starts_with("--") && !l.trim().is_empty()).unwrap_or_default();
        let word = first.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        if word == "BEGIN" || word == "DECLARE" {
            assert!(text.ends_with("END;\n/\n"), "sql/oracle/queries/{name}: a block ends with `END;` and a `/` line");
        } else {
            assert!(
                text.ends_with(";\n") && !text.ends_with("\n;\n"),
                "sql/oracle/queries/{name}: SQL ends with `;` on its last line"
            );
        }
    }
}
