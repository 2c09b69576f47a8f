//! Periodic duties of every instance, safe to run in several at once:
//! - the heartbeat renews the lease of the jobs running here and picks up cancellation requests
//!   (the fallback for NOTIFY, so a request reaches the right instance within one interval);
//! - the rescuer ends running jobs whose instance stopped renewing their lease (killed, or cut
//!   off from the database), retrying them where their policy allows.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::db::JobStore;

use super::control::{RunningJobs, StopReason};
use crate::model::JobId;

pub async fn heartbeat(
    store: Arc<dyn JobStore>,
    instance_id: String,
    running: RunningJobs,
    interval: Duration,
    mut notified_cancels: mpsc::UnboundedReceiver<JobId>,
    stop: CancellationToken,
) {
    // A fixed beat: notifications in between must never postpone a lease renewal.
    let mut beat = tokio::time::interval(interval);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_renewed = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            Some(id) = notified_cancels.recv() => {
                if running.stop(&id, StopReason::Requested) {
                    tracing::info!(job_id = %id, "cancellation requested: interrupting the call");
                }
                continue;
            }
            _ = beat.tick() => {}
        }
        let ids = running.ids();
        if ids.is_empty() {
            continue;
        }
        let started = Instant::now();
        let renewed = store.heartbeat(&instance_id, &ids).await;
        // A lease renewed late is a lease about to be lost: say so while it can still be helped.
        let took = started.elapsed();
        if took > interval {
            tracing::warn!(took = ?took, since_last_renewal = ?last_renewed.elapsed(), jobs = ids.len(), "heartbeat delayed: running jobs' leases were renewed late");
        }
        match renewed {
            Ok(to_stop) => {
                last_renewed = Instant::now();
                for id in to_stop {
                    // Cancelled on request, or no longer ours: either way the call must end here
                    // (an outcome for a job that is no longer ours is refused by the store).
                    if running.stop(&id, StopReason::Requested) {
                        tracing::info!(job_id = %id, "job cancelled or no longer held here: interrupting the call");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, jobs = ids.len(), "heartbeat failed"),
        }
    }
}

pub async fn rescuer(
    store: Arc<dyn JobStore>,
    lease: Duration,
    retry_orphans: bool,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        match store.rescue(lease, retry_orphans).await {
            Ok(rescued) => {
                for job in rescued {
                    tracing::warn!(job_id = %job.id, now = %job.status, "rescued a job whose instance stopped");
                }
            }
            Err(e) => tracing::warn!(error = %e, "rescuing orphaned jobs failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
