//! Webhook deliveries: each instance runs one deliverer (`deliverer.rs`) on the engine's task
//! tree. The deliveries themselves are rows of `ASYNC_JOB_DELIVERIES`, written by the job table's
//! triggers with the events they announce, so none is lost to a restart or a crash; the deliverer
//! claims due rows with a lease, POSTs them signed (`signature.rs`) over its own HTTP client
//! (`sender.rs`) with bounded concurrency, and records every attempt. Nothing here runs on a job's
//! path: a slow receiver holds only a delivery slot.

mod deliverer;
pub mod sender;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::db::JobStore;
use crate::model::callback::{AllowedHosts, SigningSecrets};
use crate::model::event::JobEvent;
use crate::model::Job;

use super::events::EventHub;

/// What a delivery's body says about its event and its job (`None`: the job is gone). The API
/// layer owns the JSON shapes, so the engine is handed the function.
pub type BodyFn = fn(&JobEvent, Option<&Job>) -> Json;

/// What the deliverer needs from the configuration.
#[derive(Debug, Clone)]
pub struct DelivererSettings {
    /// Checked again before each attempt: nothing is called outside it.
    pub allowed_hosts: AllowedHosts,
    pub secrets: SigningSecrets,
    pub max_attempts: u32,
    pub retry_delay: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    /// How often it looks for due deliveries when no event wakes it.
    pub poll_interval: Duration,
    pub body: BodyFn,
}

/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// Starts this instance's deliverer on `tasks`; it stops when `stop` fires (an attempt in flight
/// is abandoned: its lease runs out and an instance attempts it again).
pub fn start(
    store: Arc<dyn JobStore>,
    hub: &EventHub,
    instance_id: String,
    settings: DelivererSettings,
    tasks: &TaskTracker,
    stop: CancellationToken,
) {
    let woken_by = hub.subscribe();
    match sender::Sender::new(settings.timeout) {
        Ok(sender) => {
            let deliverer = deliverer::Deliverer::new(store, instance_id, settings, sender, tasks.clone());
            tasks.spawn(deliverer.run(woken_by, stop));
        }
        Err(e) => tracing::error!(error = %e, "cannot build the webhook HTTP client: no deliveries from this instance"),
    }
}
