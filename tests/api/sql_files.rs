//! Every statement procgate runs on PostgreSQL is a file under `sql/postgres/queries/`, runnable
//! from psql: each one here is prepared (parsed, its tables and columns resolved) on a real
//! database holding the job table, and each is used by the code.

use crate::helpers::*;

fn statement_files() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/postgres/queries");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("sql/postgres/queries")
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
