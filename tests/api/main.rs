//! API and behaviour tests: the real gateway over real HTTP on a real PostgreSQL.
//! Every scenario goes through the HTTP API or the backend traits, so the same scenarios can
//! run against any backend.

mod auth;
mod cli;
mod durability;
mod engine;
mod errors;
mod faults;
mod helpers;
mod http_errors;
mod injection;
mod jobs;
mod limits;
mod output;
mod params;
mod predecessor;
mod processes;
mod progress;
mod routines;
#[path = "../common/settings.rs"]
mod settings;
mod shutdown;
mod sql_files;
