//! Every service's loop: a service is its [`Handler`] (what it does before receiving, with each
//! record, and after them), and [`Inbox::drive`] is the one loop around it — stop, receive
//! (draining what the broker has), handle, turn. The [`Inbox`] keeps the lag gauges fresh and
//! waits out a failing broker, and a [`Backoff`] serves any operation retried until it
//! succeeds or the service stops (inserts). Failures are logged and counted
//! (`zeal_retries_total{op}`), and consecutive ones are spaced out exponentially up to
//! [`Backoff::MAX`], so an outage is neither polled in a tight loop nor waited out a fixed
//! second at a time.

use crate::metrics::Metrics;
use crate::{ServiceError, Shutdown, stopping};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use zeal_connectors::kafka::{AssignedConsumer, GroupConsumer, KafkaError, Record};
use zeal_tables::{Destination, TableRow};

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

    /// Writes `rows` of `table` to `store` (none: nothing to do), retrying with this backoff
    /// until it succeeds or `shutdown` is asked (then the error); counts the rows written.
    pub async fn write<D: Destination, R: TableRow>(
        &mut self,
        store: &D,
        rows: &[R],
        table: &str,
        metrics: &Metrics,
        shutdown: &Shutdown,
    ) -> Result<u64, ServiceError> {
        if rows.is_empty() {
            return Ok(0);
        }
        loop {
            match store.write(rows).await {
                Ok(n) => {
                    self.succeeded();
                    metrics.rows_written(table, n);
                    return Ok(n);
                }
                Err(e) if !stopping(shutdown) => self.failed(metrics, &e).await,
                Err(e) => return Err(e.into()),
            }
        }
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
    /// gauges and the readiness (`/readyz`: partitions assigned, broker answering) every
    /// [`LAG_EVERY`] (the first time [`LAG_EVERY`] after the inbox is made).
    pub async fn recv(&mut self, wait: Duration) -> Option<Record> {
        if self.lag_at.elapsed() >= LAG_EVERY {
            match blocking(|| self.consumer.lag()) {
                Ok(lag) => {
                    self.metrics.consumer_state(Ok(lag.len()));
                    for (topic, partition, n) in lag {
                        self.metrics.lag(&topic, partition, n);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "consumer lag unavailable");
                    self.metrics.consumer_state(Err(e.to_string()));
                }
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

/// Once a record arrived, a turn keeps reading until the broker is quiet this long (up to
/// [`Handler::DRAIN`] records), then turns.
pub const DRAIN_GAP: Duration = Duration::from_millis(50);

/// What a service's turn decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Loop on.
    Continue,
    /// The service is done (its expected rounds decided, its input idle, a drilled crash).
    Done,
}

/// A service as its handlers; [`Inbox::drive`] is the loop around them.
pub trait Handler: Send {
    /// Records handled in one turn at most.
    const DRAIN: usize = 1;

    /// Work before a turn's receive (a node sets its day up and deals; a job follows the
    /// registry); [`Turn::Done`] ends the loop at once.
    fn before(&mut self) -> impl Future<Output = Result<Turn, ServiceError>> + Send {
        async { Ok(Turn::Continue) }
    }

    /// How long the turn waits for its first record.
    fn wait(&self) -> Duration;

    /// One received record (decoded, judged, buffered or dead-lettered by the service).
    fn record(&mut self, r: Record) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// After the turn's records: flush, commit, act on what changed or fell due. `stopping`
    /// once shutdown was asked (nothing was received then, and the loop ends after it).
    fn turn(&mut self, stopping: bool) -> impl Future<Output = Result<Turn, ServiceError>> + Send;
}

impl<C: Consume + Sync> Inbox<'_, C> {
    /// The service loop: until `shutdown` (one last stopping turn) or [`Turn::Done`], each turn
    /// runs `before`, receives up to [`Handler::DRAIN`] records (the first within
    /// [`Handler::wait`], the next ones [`DRAIN_GAP`] apart) into `record`, then `turn`.
    pub async fn drive<H: Handler>(
        &mut self,
        shutdown: &Shutdown,
        h: &mut H,
    ) -> Result<(), ServiceError> {
        loop {
            self.metrics.turned();
            let stop = stopping(shutdown);
            if !stop {
                if h.before().await? == Turn::Done {
                    return Ok(());
                }
                let mut next = self.recv(h.wait()).await;
                let mut n = 0;
                while let Some(r) = next {
                    h.record(r).await?;
                    n += 1;
                    if n >= H::DRAIN {
                        break;
                    }
                    next = self.recv(DRAIN_GAP).await;
                }
            }
            if h.turn(stop).await? == Turn::Done || stop {
                return Ok(());
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

    /// Records each turn's records, ends after `turns` turns.
    struct Counting {
        seen: Vec<Vec<i64>>,
        before: usize,
        turns: usize,
        stopping_turns: usize,
    }

    impl Handler for Counting {
        const DRAIN: usize = 2;
        async fn before(&mut self) -> Result<Turn, ServiceError> {
            self.before += 1;
            self.seen.push(Vec::new());
            Ok(Turn::Continue)
        }
        fn wait(&self) -> Duration {
            Duration::from_millis(10)
        }
        async fn record(&mut self, r: Record) -> Result<(), ServiceError> {
            self.seen.last_mut().unwrap().push(r.offset);
            Ok(())
        }
        async fn turn(&mut self, stopping: bool) -> Result<Turn, ServiceError> {
            self.stopping_turns += usize::from(stopping);
            Ok(if self.seen.len() >= self.turns {
                Turn::Done
            } else {
                Turn::Continue
            })
        }
    }

    fn scripted(offsets: &[i64]) -> Scripted {
        let record = |offset| Record {
            topic: "t".into(),
            partition: 0,
            offset,
            key: None,
            payload: vec![],
            timestamp_ms: None,
        };
        Scripted {
            answers: std::sync::Mutex::new(
                offsets
                    .iter()
                    .map(|o| Ok((*o >= 0).then(|| record(*o))))
                    .collect(),
            ),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_drains_up_to_its_batch_per_turn_and_ends_when_the_service_is_done() {
        // 1, 2, 3 arrive back to back, then nothing (-1), then 4.
        let c = scripted(&[1, 2, 3, -1, 4]);
        let (_tx, shutdown) = tokio::sync::watch::channel(false);
        let mut h = Counting {
            seen: Vec::new(),
            before: 0,
            turns: 4,
            stopping_turns: 0,
        };
        Inbox::new(&c, Metrics::new(Role::Sink))
            .drive(&shutdown, &mut h)
            .await
            .unwrap();
        assert_eq!(h.seen, [vec![1, 2], vec![3], vec![4], vec![]]);
        assert_eq!((h.before, h.stopping_turns), (4, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_gets_one_stopping_turn_and_nothing_more_is_received() {
        let c = scripted(&[1, 2, 3]);
        let (tx, shutdown) = tokio::sync::watch::channel(false);
        tx.send(true).unwrap();
        let mut h = Counting {
            seen: Vec::new(),
            before: 0,
            turns: usize::MAX,
            stopping_turns: 0,
        };
        Inbox::new(&c, Metrics::new(Role::Sink))
            .drive(&shutdown, &mut h)
            .await
            .unwrap();
        assert_eq!((h.before, h.stopping_turns), (0, 1));
        assert!(h.seen.is_empty());
        assert_eq!(c.answers.lock().unwrap().len(), 3, "nothing received");
    }

    /// A consumer whose partition reports (what `lag` answers) follow a script.
    struct Reporting(std::sync::Mutex<std::collections::VecDeque<Result<usize, String>>>);

    impl Consume for Reporting {
        async fn recv(&self, _: Duration) -> Result<Option<Record>, KafkaError> {
            Ok(None)
        }
        fn lag(&self) -> Result<Vec<(String, i32, i64)>, KafkaError> {
            match self.0.lock().unwrap().pop_front().unwrap() {
                Ok(n) => Ok((0..n as i32).map(|p| ("t".to_string(), p, 0)).collect()),
                Err(e) => Err(KafkaError::CreateTopic {
                    topic: "t".into(),
                    code: e,
                }),
            }
        }
    }

    /// `/readyz` follows the consumer: not ready before its first report, ready with partitions,
    /// not ready when the broker stops answering or no partition is assigned, ready again after.
    #[tokio::test(start_paused = true)]
    async fn readiness_follows_the_brokers_answers_and_the_assignment() {
        let c = Reporting(std::sync::Mutex::new(
            [Ok(2), Err("BrokerNotAvailable".to_string()), Ok(0), Ok(1)].into(),
        ));
        let m = Metrics::new(Role::Sink);
        let mut inbox = Inbox::new(&c, m.clone());
        assert_eq!(m.readiness().0, 503, "{}", m.readiness().1);
        let mut answers = Vec::new();
        for _ in 0..4 {
            tokio::time::advance(LAG_EVERY).await;
            inbox.recv(Duration::from_millis(10)).await;
            answers.push(m.readiness());
        }
        assert_eq!(answers[0], (200, "ready\n".to_string()));
        assert_eq!(answers[1].0, 503);
        assert!(
            answers[1].1.contains("broker unreachable"),
            "{}",
            answers[1].1
        );
        assert_eq!(
            answers[2],
            (503, "not ready: no partitions assigned\n".to_string())
        );
        assert_eq!(answers[3].0, 200);
    }
}
