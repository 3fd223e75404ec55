//! What every service's loop shares: an [`Inbox`] that receives records, keeps the lag gauges
//! fresh and waits out a failing broker, and a [`Backoff`] for any operation retried until it
//! succeeds or the service stops (inserts). Failures are logged and counted
//! (`zeal_retries_total{op}`), and consecutive ones are spaced out exponentially up to
//! [`Backoff::MAX`], so an outage is neither polled in a tight loop nor waited out a fixed
//! second at a time.

use crate::metrics::Metrics;
use std::time::Duration;
use tokio::time::Instant;
use zeal_connectors::kafka::{AssignedConsumer, GroupConsumer, KafkaError, Record};

/// How often the consumer-lag gauges are refreshed (a watermark request per partition).
pub const LAG_EVERY: Duration = Duration::from_secs(5);

/// Bounded exponential backoff for one operation, counted in the service's metrics.
#[derive(Debug)]
pub struct Backoff {
    op: &'static str,
    next: Duration,
}

impl Backoff {
    /// The pause after a first failure.
    pub const FIRST: Duration = Duration::from_millis(100);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(5);

    /// Backoff for `op` (the metric's label: `consume`, `insert`, …).
    pub fn new(op: &'static str) -> Self {
        Backoff {
            op,
            next: Self::FIRST,
        }
    }

    /// The pause the next failure will cause.
    pub fn pause(&self) -> Duration {
        self.next
    }

    /// Logs and counts a failure; the returned pause (to await) is twice as long as after the
    /// previous consecutive failure, at most [`Backoff::MAX`].
    pub fn failed(
        &mut self,
        metrics: &Metrics,
        error: &dyn std::fmt::Display,
    ) -> tokio::time::Sleep {
        metrics.retried(self.op);
        let pause = self.next;
        // The message names the operation ("insert failed; retrying"): operators and the outage
        // test grep for it.
        tracing::warn!(error = %error, pause_ms = pause.as_millis() as u64, "{} failed; retrying", self.op);
        self.next = (self.next * 2).min(Self::MAX);
        tokio::time::sleep(pause)
    }

    /// The operation succeeded: the next failure pauses [`Backoff::FIRST`] again.
    pub fn succeeded(&mut self) {
        self.next = Self::FIRST;
    }
}

/// A consumer a service reads from.
pub trait Consume {
    /// The next record within `timeout`, if any.
    fn recv(
        &self,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Option<Record>, KafkaError>> + Send;
    /// Messages behind the end, per assigned (topic, partition).
    fn lag(&self) -> Result<Vec<(String, i32, i64)>, KafkaError>;
}

impl Consume for GroupConsumer {
    async fn recv(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        GroupConsumer::recv(self, timeout).await
    }
    fn lag(&self) -> Result<Vec<(String, i32, i64)>, KafkaError> {
        GroupConsumer::lag(self)
    }
}

impl Consume for AssignedConsumer {
    async fn recv(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        AssignedConsumer::recv(self, timeout).await
    }
    fn lag(&self) -> Result<Vec<(String, i32, i64)>, KafkaError> {
        AssignedConsumer::lag(self)
    }
}

/// A service's receiving side.
pub struct Inbox<'c, C> {
    consumer: &'c C,
    metrics: Metrics,
    lag_at: Instant,
    backoff: Backoff,
}

impl<'c, C: Consume> Inbox<'c, C> {
    /// Receives from `consumer`, counting into `metrics`.
    pub fn new(consumer: &'c C, metrics: Metrics) -> Self {
        Inbox {
            consumer,
            metrics,
            // The first refresh after LAG_EVERY, as the services did before the inbox: a node
            // starting a round does not wait on watermark requests first.
            lag_at: Instant::now(),
            backoff: Backoff::new("consume"),
        }
    }

    /// The next record within `wait`, or none: nothing arrived, or the receive failed (logged,
    /// counted and waited out with backoff; a broker that is down or restarting is never a
    /// reason to stop, the client reconnects and reads on from its position). Refreshes the lag
    /// gauges every [`LAG_EVERY`] (the first time [`LAG_EVERY`] after the inbox is made).
    pub async fn recv(&mut self, wait: Duration) -> Option<Record> {
        if self.lag_at.elapsed() >= LAG_EVERY {
            match blocking(|| self.consumer.lag()) {
                Ok(lag) => {
                    for (topic, partition, n) in lag {
                        self.metrics.lag(&topic, partition, n);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "consumer lag unavailable"),
            }
            self.lag_at = Instant::now();
        }
        match self.consumer.recv(wait).await {
            Ok(r) => {
                self.backoff.succeeded();
                r
            }
            Err(e) => {
                self.backoff.failed(&self.metrics, &e).await;
                None
            }
        }
    }
}

/// Runs blocking client work (librdkafka metadata calls) without stalling a multi-threaded
/// runtime's other tasks; inline on a current-thread runtime, where that is the only choice.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => f(),
        _ => tokio::task::block_in_place(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Role;

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_pause_twice_as_long_up_to_the_bound_and_are_counted() {
        let m = Metrics::new(Role::Sink);
        let mut b = Backoff::new("insert");
        let mut pauses = Vec::new();
        for _ in 0..8 {
            let t = tokio::time::Instant::now();
            b.failed(&m, &"down").await;
            pauses.push(t.elapsed().as_millis());
        }
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.succeeded();
        assert_eq!(b.pause(), Backoff::FIRST);
        assert!(
            m.render().contains("zeal_retries_total{op=\"insert\"} 8"),
            "{}",
            m.render()
        );
    }

    /// A consumer that answers from a script: each receive takes the next answer.
    struct Scripted {
        answers: std::sync::Mutex<std::collections::VecDeque<Result<Option<Record>, KafkaError>>>,
    }

    impl Consume for Scripted {
        async fn recv(&self, _: Duration) -> Result<Option<Record>, KafkaError> {
            self.answers.lock().unwrap().pop_front().unwrap_or(Ok(None))
        }
        fn lag(&self) -> Result<Vec<(String, i32, i64)>, KafkaError> {
            Ok(vec![("t".into(), 0, 7)])
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_inbox_waits_out_a_failing_broker_and_reads_on() {
        let down = || {
            Err(KafkaError::CreateTopic {
                topic: "t".into(),
                code: "BrokerNotAvailable".into(),
            })
        };
        let record = Record {
            topic: "t".into(),
            partition: 0,
            offset: 41,
            key: None,
            payload: vec![1],
            timestamp_ms: None,
        };
        let c = Scripted {
            answers: std::sync::Mutex::new(
                [down(), down(), down(), Ok(Some(record.clone())), down()].into(),
            ),
        };
        let m = Metrics::new(Role::Sink);
        let mut inbox = Inbox::new(&c, m.clone());
        let t = tokio::time::Instant::now();
        for _ in 0..3 {
            assert_eq!(inbox.recv(Duration::from_millis(10)).await, None);
        }
        assert_eq!(t.elapsed(), Duration::from_millis(100 + 200 + 400));
        assert_eq!(inbox.recv(Duration::from_millis(10)).await, Some(record));
        // A success resets the pause.
        let t = tokio::time::Instant::now();
        assert_eq!(inbox.recv(Duration::from_millis(10)).await, None);
        assert_eq!(t.elapsed(), Backoff::FIRST);
        let text = m.render();
        assert!(
            text.contains("zeal_retries_total{op=\"consume\"} 4"),
            "{text}"
        );
        assert!(!text.contains("zeal_consumer_lag_messages{"), "{text}");
        // The lag gauges are refreshed once LAG_EVERY has passed.
        tokio::time::advance(LAG_EVERY).await;
        assert_eq!(inbox.recv(Duration::from_millis(10)).await, None);
        let text = m.render();
        assert!(
            text.contains("zeal_consumer_lag_messages{topic=\"t\",partition=\"0\"} 7"),
            "{text}"
        );
    }
}
