//! One instance's deliverer: claims due deliveries (as many as it has free slots, leased so a
//! crash hands them to another instance), attempts each on its own task, records the attempt.
//! It looks when an event is written anywhere it hears of, and every poll interval.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::db::{DbError, JobStore};
use crate::model::delivery::{backoff, DeliveryAttempt, DeliveryResult, DeliveryStatus, DueDelivery};
use crate::model::event::JobEvent;

use super::sender::{Sender, Signed};
use super::signature::sign;
use super::{DelivererSettings, MAX_RETRY_DELAY};

pub(super) struct Deliverer {
    store: Arc<dyn JobStore>,
    instance_id: String,
    settings: DelivererSettings,
    sender: Arc<Sender>,
    slots: Arc<Semaphore>,
    /// An attempt ended: a slot is free.
    freed: Notify,
    tasks: TaskTracker,
}

impl Deliverer {
    pub(super) fn new(
        store: Arc<dyn JobStore>,
        instance_id: String,
        settings: DelivererSettings,
        sender: Sender,
        tasks: TaskTracker,
    ) -> Arc<Deliverer> {
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        Arc::new(Deliverer {
            store,
            instance_id,
            settings,
            sender: Arc::new(sender),
            slots,
            freed: Notify::new(),
            tasks,
        })
    }

    /// A claim holds a delivery for longer than any attempt takes.
    fn lease(&self) -> Duration {
        self.settings.timeout * 2 + Duration::from_secs(5)
    }

    pub(super) async fn run(self: Arc<Self>, mut events: broadcast::Receiver<Arc<JobEvent>>, stop: CancellationToken) {
        let mut backoff_on_error = Duration::from_millis(100);
        loop {
            // Every slot busy: more may be due as soon as one is free.
            let saturated = match self.claim_and_start(&stop).await {
                Ok(saturated) => {
                    backoff_on_error = Duration::from_millis(100);
                    saturated
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff_on_error, "claiming webhook deliveries failed");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff_on_error) => {}
                    }
                    backoff_on_error = (backoff_on_error * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                // Any event may have written a delivery; a lagging receiver just looks again.
                _ = events.recv() => {}
                _ = self.freed.notified(), if saturated => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
            // A burst of events is one look.
            while events.try_recv().is_ok() {}
        }
    }

    /// Claims as many due deliveries as there are free slots and starts an attempt for each;
    /// answers whether every slot is now busy.
    async fn claim_and_start(self: &Arc<Self>, stop: &CancellationToken) -> Result<bool, DbError> {
        loop {
            let free = self.slots.available_permits();
            if free == 0 {
                return Ok(true);
            }
            let due = self.store.claim_deliveries(&self.instance_id, free, self.lease()).await?;
            let claimed = due.len();
            for delivery in due {
                let Ok(slot) = self.slots.clone().try_acquire_owned() else { break };
                let (me, stop) = (self.clone(), stop.clone());
                self.tasks.spawn(async move {
                    tokio::select! {
                        // Abandoned at shutdown: its lease runs out and it is attempted again.
                        _ = stop.cancelled() => {}
                        _ = me.attempt(delivery) => {}
                    }
                    drop(slot);
                    me.freed.notify_one();
                });
            }
            if claimed < free {
                return Ok(false);
            }
        }
    }

    /// One attempt: the body (built once), the checks, the POST, the record.
    async fn attempt(&self, delivery: DueDelivery) {
        let body = match &delivery.body {
            Some(body) => body.clone(),
            None => match self.build_body(&delivery).await {
                Ok(Some(body)) => body,
                // The job is gone, and its deliveries with it.
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, delivery = delivery.webhook_id(), "cannot build a webhook body; retried after its lease");
                    return;
                }
            },
        };
        let number = delivery.attempts + 1;
        let at = Utc::now();
        let (status_code, error, took) = match self.checked_send(&delivery, body.clone()).await {
            Ok(sent) => (sent.status, sent.error, sent.took),
            Err(refused) => (None, Some(refused), Duration::ZERO),
        };
        let delivered = status_code.is_some_and(|s| (200..300).contains(&s));
        let status = if delivered {
            DeliveryStatus::Delivered
        } else if number >= self.settings.max_attempts as i32 {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Pending
        };
        let retry_in = backoff(self.settings.retry_delay, number.max(1) as u32, MAX_RETRY_DELAY);
        let attempt = DeliveryAttempt { attempt: number, at, status_code, error, duration_ms: took.as_millis() as u64 };
        if !delivered {
            tracing::info!(delivery = delivery.webhook_id(), url = %delivery.url, ?status, attempt = ?attempt, "webhook attempt failed");
        }
        let result = DeliveryResult { event_id: delivery.event_id, status, retry_in, body, attempt };
        match self.store.record_delivery(&self.instance_id, &result).await {
            Ok(true) => {}
            Ok(false) => tracing::debug!(delivery = delivery.webhook_id(), "delivery no longer held here"),
            Err(e) => {
                tracing::warn!(error = %e, delivery = delivery.webhook_id(), "recording a webhook attempt failed; it is attempted again after its lease")
            }
        }
    }

    /// The checks before a call (the URL is still allowed, a secret signs it), then the call.
    async fn checked_send(&self, delivery: &DueDelivery, body: String) -> Result<super::sender::Sent, String> {
        let url = self.settings.allowed_hosts.check(&delivery.url).map_err(|e| e.message)?;
        let secret = self
            .settings
            .secrets
            .for_owner(&delivery.owner)
            .ok_or_else(|| format!("no WEBHOOK_SECRETS entry signs the deliveries of {:?}", delivery.owner))?;
        let id = delivery.webhook_id();
        let timestamp = Utc::now().timestamp();
        let signature = sign(secret, &id, timestamp, &body);
        Ok(self.sender.post(url, &Signed { id: &id, timestamp, signature: &signature }, body).await)
    }

    /// `{"type": "job.<event>", "timestamp", "data": {"event", "job"}}`; `None` once the job and
    /// its event are gone.
    async fn build_body(&self, delivery: &DueDelivery) -> Result<Option<String>, DbError> {
        let events = self.store.job_events(&delivery.job_id, delivery.event_id - 1, 1).await?;
        let Some(event) = events.into_iter().find(|e| e.event_id == delivery.event_id) else { return Ok(None) };
        let job = self.store.get(&delivery.job_id, None).await?;
        let payload = json!({
            "type": format!("job.{}", event.event_type),
            "timestamp": event.at,
            "data": (self.settings.body)(&event, job.as_ref()),
        });
        Ok(Some(payload.to_string()))
    }
}
