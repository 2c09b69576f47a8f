//! The catalog: resolves a client's procedure name to the routine's signatures through the
//! backend (cached for `CATALOG_CACHE_TTL`), checks it against the allowlist, and plans the call.
//! The same checks run before a job is accepted and again when a worker runs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::{DbError, ProcedureBackend};
use crate::procedure::allowlist::Allowlist;
use crate::procedure::name::{NameError, ProcedureName};
use crate::procedure::plan::{plan_call, CallPlan, ParamRequest, PlanError};
use crate::procedure::signature::Signature;
use crate::procedure::{quote, ranges};

/// Why a call cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error("procedure {} is not on the allowlist (PROCEDURE_ALLOWLIST)", quote::quoted(.0))]
    NotAllowed(String),
    #[error("procedure {} does not exist or is not visible to the gateway's database user", quote::quoted(.0))]
    NotFound(String),
    #[error(transparent)]
    Invalid(#[from] PlanError),
    #[error(transparent)]
    Database(#[from] DbError),
    /// Refused by the calling client's own list (`procedures` in `API_CLIENTS_FILE`).
    #[error("procedure {} is not on this client's procedures list (API_CLIENTS_FILE)", quote::quoted(.0))]
    NotAllowedForClient(String),
}

type Signatures = Arc<Vec<Arc<Signature>>>;

/// Resolves and plans calls; owns the signature cache.
pub struct Catalog {
    backend: Arc<dyn ProcedureBackend>,
    allowlist: Allowlist,
    ttl: Duration,
    cache: Mutex<HashMap<ProcedureName, (Instant, Signatures)>>,
}

/// A call ready to run, and the name as the job row records it.
pub struct PreparedCall {
    pub name: ProcedureName,
    pub plan: CallPlan,
}

impl Catalog {
    pub fn new(backend: Arc<dyn ProcedureBackend>, allowlist: Allowlist, ttl: Duration) -> Self {
        Self { backend, allowlist, ttl, cache: Mutex::new(HashMap::new()) }
    }

    pub fn backend(&self) -> &Arc<dyn ProcedureBackend> {
        &self.backend
    }

    /// Parse → allowlist → catalog → system schemas → plan. Nothing reaches SQL before all pass.
    pub async fn prepare(
        &self,
        name: &str,
        schema: Option<&str>,
        params: &[ParamRequest],
        is_function: bool,
    ) -> Result<PreparedCall, CallError> {
        self.prepare_within(None, name, schema, params, is_function).await
    }

    /// [`Catalog::prepare`] for a client with a list of its own (`client`): the name must pass
    /// both lists, checked on the parsed name before the catalog is asked, so a refusal is the
    /// same whether or not the routine exists; a system routine needs both lists to name it.
    pub async fn prepare_within(
        &self,
        client: Option<&Allowlist>,
        name: &str,
        schema: Option<&str>,
        params: &[ParamRequest],
        is_function: bool,
    ) -> Result<PreparedCall, CallError> {
        let name = ProcedureName::parse(name, schema)?;
        if !self.allowlist.allows(&name) {
            return Err(CallError::NotAllowed(name.to_string()));
        }
        if client.is_some_and(|list| !list.allows(&name)) {
            return Err(CallError::NotAllowedForClient(name.to_string()));
        }
        let candidates = self.signatures(&name).await?;
        if candidates.is_empty() {
            return Err(CallError::NotFound(name.to_string()));
        }
        // The written name passed the allowlist; the routine it resolved to must too when it is
        // the database's own (`pg_sleep` through the search path, `DBMS_LOCK.SLEEP` through its
        // public synonym): only a pattern naming its schema allows it. Overloads share a schema.
        let lists = || std::iter::once(&self.allowlist).chain(client);
        if let Some(sig) = candidates
            .iter()
            .find(|s| self.backend.is_system_routine(s) && !lists().all(|list| list.allows_system_routine(s)))
        {
            return Err(CallError::NotAllowed(format!("{name} (resolved to {}, a system schema)", sig.plain_name())));
        }
        let plan = plan_call(&candidates, params, is_function)?;
        self.check_ranges(&plan, params)?;
        Ok(PreparedCall { name, plan })
    }

    /// Every value fits its argument's declared type in this database ([`ranges`]).
    fn check_ranges(&self, plan: &CallPlan, params: &[ParamRequest]) -> Result<(), PlanError> {
        let dialect = ranges::Dialect::of(self.backend.identifier_case());
        for bound in &plan.args {
            if let Err(why) = ranges::check(&bound.value, &bound.arg.db_type, dialect) {
                // Named as the request wrote it, like every other parameter error.
                let name = params.iter().find(|p| p.name.eq_ignore_ascii_case(&bound.arg.name)).map(|p| &p.name);
                let name = name.unwrap_or(&bound.arg.name);
                return Err(PlanError::value(name, format!("parameter {}: {why}", quote::quoted(name))));
            }
        }
        Ok(())
    }

    async fn signatures(&self, name: &ProcedureName) -> Result<Signatures, DbError> {
        if let Some((at, sigs)) = self.cache.lock().expect("cache lock").get(name) {
            if at.elapsed() < self.ttl {
                return Ok(sigs.clone());
            }
        }
        let sigs: Signatures = Arc::new(self.backend.describe(name).await?.into_iter().map(Arc::new).collect());
        // Unknown names are not cached: a procedure created a moment later is found at once.
        if !sigs.is_empty() {
            let mut cache = self.cache.lock().expect("cache lock");
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(name.clone(), (Instant::now(), sigs.clone()));
        }
        Ok(sigs)
    }
}
