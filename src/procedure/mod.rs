//! Procedures as values: names as clients write them, the allowlist, types, values,
//! signatures and call plans. Pure: nothing here talks to a database (the catalog, `crate::catalog`,
//! resolves names through the backend and plans calls with these).

pub mod allowlist;
pub mod name;
pub mod plan;
pub mod quote;
pub mod ranges;
pub mod signature;
pub mod types;
pub mod value;
