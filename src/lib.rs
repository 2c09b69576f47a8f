//! procgate: runs database stored procedures as durable asynchronous jobs over HTTP.
//!
//! Data flows one way: request → validated domain values (`procedure`) → job row (`jobs`, via
//! the backend's `JobStore`) → claimer → runner (the backend's call) → the writer (terminal
//! state). `api` is the only HTTP-aware module; `db` the only database-aware one.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod clients;
pub mod config;
pub mod db;
pub mod instruments;
pub mod jobs;
pub mod model;
pub mod pgcluster;
pub mod procedure;
pub mod startup;
pub mod telemetry;
