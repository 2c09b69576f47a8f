//! API and behaviour tests: the real gateway over real HTTP on a real PostgreSQL.
//!
//! - `on_postgres::*`: the contract suite (`tests/contract/`), the behaviour scenarios written
//!   once for every database, run here on a fresh PostgreSQL database each; `tests/oracle_live.rs`
//!   runs the same functions on Oracle.
//! - The modules below: what is PostgreSQL's own (its sessions, notifications, SQL files, types
//!   and procedures, killed processes) and the HTTP edge (auth, the request parser), each file
//!   saying why it is not in the contract suite.

mod auth;
mod cli;
mod durability;
mod engine;
mod errors;
mod faults;
mod helpers;
mod http_errors;
mod injection;
mod legacy;
mod limits;
mod openapi;
mod output;
mod params;
mod processes;
mod progress;
mod routines;
#[path = "../common/settings.rs"]
mod settings;
mod sql_files;
mod stats;
mod tls;
mod ui;
mod verbs;
mod webhooks;

#[path = "../contract/mod.rs"]
mod contract;
#[path = "../contract/postgres.rs"]
mod postgres;

/// The contract suite on PostgreSQL.
mod on_postgres {
    crate::contract::contract_suite!(crate::postgres::open);
}

/// The audit trail (issue 14).
mod audit;

/// Per-client access: the clients file (issue 14).
mod clients;

/// The README's quick start, run as written.
mod readme;

/// Optional JWT authentication (issue 14 §6).
mod jwt;

/// Instance roles: API-only (`WORKERS=0`) and worker-only (`procgate work`) instances (issue 13).
mod roles;

/// `GET /jobs` at scale: keyset cursor, capped totals, bounded offset (issue 13 §4).
mod listing;

/// A `GET /events` subscriber that falls behind catches up from the table (issue 13 §5's feeds).
mod feed_lag;

/// The plans of the claim and of the writes by job id do not depend on the job table's
/// statistics (issue 13 §3).
mod plans;
