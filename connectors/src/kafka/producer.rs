//! The keyed producer: idempotent (no duplicates or reordering on retry), acks from all
//! replicas, and the murmur2 partitioner so keys land where [`super::partition_for_key`] says.
//!
//! A delivery the broker refuses with an error librdkafka treats as final although it passes
//! (tansu answers UNKNOWN_SERVER_ERROR while its disk is full) is sent again, with backoff, for
//! up to [`RESEND_FOR`]: a full disk freed seconds later must not stop every gateway and
//! aggregator. The resend goes through a new client: the refused one's idempotence state (its
//! producer id and sequence numbers) no longer matches what the broker stored, and tansu 0.6
//! panics on its next request. A resent message can appear twice on the topic only if the
//! broker stored it and still answered an error; every consumer of ours takes redelivered
//! messages.
//!
//! Delivery reports are served by a thread of ours that sleeps until librdkafka says an event
//! arrived (`rd_kafka_queue_cb_event_enable`). rdkafka's `FutureProducer` polls in 100 ms slices
//! and, because its deadline rounds the last sub-millisecond down to a 0 ms wait, spins for up
//! to 1 ms at the end of every slice: about 1 % of a core in every idle process (aggregators,
//! and gateways in households). README "Dependencies" has the measurement.

use super::{KafkaConfig, KafkaError, client_err};
use rdkafka::bindings as rdsys;
use rdkafka::error::KafkaError as ClientError;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use zeal_schemas::{WireMessage, encode};

/// How long a send may wait for room in librdkafka's queue before it fails.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a send keeps resending a delivery the broker refused with a passing error.
pub const RESEND_FOR: Duration = Duration::from_secs(300);
/// The first pause before a resend; it doubles up to [`RESEND_PAUSE_MAX`].
const RESEND_PAUSE: Duration = Duration::from_millis(100);
const RESEND_PAUSE_MAX: Duration = Duration::from_secs(5);
/// The delivery thread also wakes this often when nothing signals it (a safety net only).
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// Where a message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

type Report = Result<Delivered, ClientError>;

/// Hands each delivery report to the send waiting for it.
struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<oneshot::Sender<Report>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Self::DeliveryOpaque) {
        let report = match result {
            Ok(m) => Ok(Delivered {
                partition: m.partition(),
                offset: m.offset(),
            }),
            Err((e, _)) => Err(e.clone()),
        };
        // The send may have been dropped (its caller gave up): nobody to tell.
        let _ = waiting.send(report);
    }
}

/// Raised by librdkafka when an event lands on the empty main queue; lowered by the thread.
#[derive(Default)]
struct Signal {
    state: Mutex<(bool, bool)>, // (raised, stop)
    changed: Condvar,
}

impl Signal {
    fn raise(&self, stop: bool) {
        let mut s = self.state.lock().expect("signal lock");
        s.0 = true;
        s.1 |= stop;
        self.changed.notify_one();
    }

    /// Waits until raised (or `timeout`), lowers it, and says whether to stop.
    fn wait(&self, timeout: Duration) -> bool {
        let mut s = self.state.lock().expect("signal lock");
        if !s.0 {
            s = self
                .changed
                .wait_timeout(s, timeout)
                .expect("signal lock")
                .0;
        }
        s.0 = false;
        s.1
    }
}

unsafe extern "C" fn queue_nonempty(_rk: *mut rdsys::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Signal` inside `Shared`, registered by `Handle::start` and
    // unregistered by `Handle::drop` before `Shared` can be freed.
    let signal = unsafe { &*(opaque as *const Signal) };
    signal.raise(false);
}

/// What the delivery thread shares with the sends. Fields drop in order: the queue handle
/// before the client it belongs to.
struct Shared {
    queue: Queue,
    producer: BaseProducer<Deliveries>,
    signal: Signal,
    wakeups: AtomicU64,
}

/// A handle on librdkafka's main queue (where delivery reports, errors and logs arrive).
struct Queue(*mut rdsys::rd_kafka_queue_t);
// SAFETY: librdkafka queue handles may be used from any thread.
unsafe impl Send for Queue {}
unsafe impl Sync for Queue {}

impl Queue {
    fn len(&self) -> usize {
        // SAFETY: the handle is valid until `Queue::drop`.
        unsafe { rdsys::rd_kafka_queue_length(self.0) }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: the handle came from `rd_kafka_queue_get_main` and is released once.
        unsafe { rdsys::rd_kafka_queue_destroy(self.0) };
    }
}

/// A client and its delivery thread; the last send or [`KeyedProducer`] holding it stops it.
struct Handle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    fn start(producer: BaseProducer<Deliveries>) -> Result<Handle, KafkaError> {
        // SAFETY: a new reference to the client's main queue, released by `Queue::drop`.
        let queue =
            Queue(unsafe { rdsys::rd_kafka_queue_get_main(producer.client().native_ptr()) });
        let shared = Arc::new(Shared {
            queue,
            producer,
            signal: Signal::default(),
            wakeups: AtomicU64::new(0),
        });
        // SAFETY: the opaque pointer is the `Signal` in `shared`, which outlives the
        // registration (removed in `Handle::drop` before `shared` is released).
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(
                shared.queue.0,
                Some(queue_nonempty),
                &shared.signal as *const Signal as *mut c_void,
            )
        };
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("kafka-deliveries".into())
                .spawn(move || serve(&shared))
                .map_err(KafkaError::Thread)?
        };
        Ok(Handle {
            shared,
            thread: Some(thread),
        })
    }
}

/// Serves every waiting event, then sleeps until the queue turns non-empty again.
fn serve(shared: &Shared) {
    loop {
        // An event landing on the queue once it is empty raises the signal again, so nothing
        // is missed between this drain and the wait.
        while shared.queue.len() > 0 {
            shared.producer.poll(Duration::ZERO);
        }
        let stop = shared.signal.wait(IDLE_WAKE);
        shared.wakeups.fetch_add(1, Ordering::Relaxed);
        if stop {
            return;
        }
    }
}

impl Handle {
    /// One delivery: queued (waiting for room) and its report awaited.
    async fn send_once(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        timestamp_ms: Option<i64>,
    ) -> Result<Delivered, ClientError> {
        let (tx, rx) = oneshot::channel();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(tx))
            .key(key)
            .payload(payload);
        if let Some(ts) = timestamp_ms {
            record = record.timestamp(ts);
        }
        let start = Instant::now();
        loop {
            match self.shared.producer.send(record) {
                Ok(()) => break,
                Err((ClientError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                    if start.elapsed() < QUEUE_TIMEOUT =>
                {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err((source, _)) => return Err(source),
            }
        }
        // A dropped report went unanswered: the client is shutting down.
        rx.await.unwrap_or(Err(ClientError::Canceled))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: unregisters the callback whose opaque pointer points into `shared`.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.shared.queue.0, None, std::ptr::null_mut())
        };
        self.shared.signal.raise(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Dropping `shared` then releases the queue handle and purges what is still queued
        // (BaseProducer's drop).
    }
}

/// An idempotent producer of keyed messages.
#[derive(Clone)]
pub struct KeyedProducer {
    inner: Arc<Inner>,
}

/// What every clone shares: the client in use, and how to make another.
struct Inner {
    config: rdkafka::ClientConfig,
    current: Mutex<Arc<Handle>>,
    resends: AtomicU64,
}

impl KeyedProducer {
    /// Creates the producer; no connection is made until the first send.
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let c = config.client_config_with(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("partitioner", "murmur2_random"),
            ("linger.ms", "5"),
            ("message.timeout.ms", "60000"),
        ]);
        let handle = Self::client(&c)?;
        Ok(KeyedProducer {
            inner: Arc::new(Inner {
                config: c,
                current: Mutex::new(handle),
                resends: AtomicU64::new(0),
            }),
        })
    }

    fn client(config: &rdkafka::ClientConfig) -> Result<Arc<Handle>, KafkaError> {
        let producer = config
            .create_with_context(Deliveries)
            .map_err(client_err("create producer"))?;
        Ok(Arc::new(Handle::start(producer)?))
    }

    fn current(&self) -> Arc<Handle> {
        Arc::clone(&self.inner.current.lock().expect("producer lock"))
    }

    /// Puts a new client in place of `refused` (unless another send already has) and purges
    /// what `refused` still holds, so its sends end now and are resent through the new one.
    fn replace(&self, refused: &Arc<Handle>) -> Result<(), KafkaError> {
        let mut current = self.inner.current.lock().expect("producer lock");
        if Arc::ptr_eq(&current, refused) {
            *current = Self::client(&self.inner.config)?;
            refused
                .shared
                .producer
                .purge(PurgeConfig::default().queue().inflight());
        }
        Ok(())
    }

    /// Sends raw bytes and waits for the broker's acknowledgement, sending again (for up to
    /// [`RESEND_FOR`]) while the broker refuses it with a passing error.
    pub async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        timestamp_ms: Option<i64>,
    ) -> Result<Delivered, KafkaError> {
        let failed = |source| KafkaError::Delivery {
            topic: topic.to_string(),
            source,
        };
        let start = Instant::now();
        let mut pause = RESEND_PAUSE;
        loop {
            let handle = self.current();
            match handle.send_once(topic, key, payload, timestamp_ms).await {
                Err(ClientError::MessageProduction(code))
                    if passing(code) && start.elapsed() < RESEND_FOR =>
                {
                    self.replace(&handle)?;
                    self.inner.resends.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(topic, error = %code, pause_ms = pause.as_millis() as u64,
                        "the broker refused a delivery; sending it again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RESEND_PAUSE_MAX);
                }
                result => return result.map_err(failed),
            }
        }
    }

    /// Encodes a wire message (Avro single object) and sends it.
    pub async fn send_message<T: WireMessage>(
        &self,
        topic: &str,
        key: &[u8],
        message: &T,
    ) -> Result<Delivered, KafkaError> {
        let payload = encode(message)?;
        self.send(topic, key, &payload, None).await
    }

    /// Waits until every queued message is delivered (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.current()
            .shared
            .producer
            .flush(timeout)
            .map_err(client_err("flush"))
    }

    /// How often the delivery thread has woken so far: about once per event burst, and once a
    /// second when idle (it never polls on a timer shorter than that).
    pub fn wakeups(&self) -> u64 {
        self.current().shared.wakeups.load(Ordering::Relaxed)
    }

    /// How many deliveries the broker refused with a passing error and this producer sent again.
    pub fn resends(&self) -> u64 {
        self.inner.resends.load(Ordering::Relaxed)
    }
}

/// Errors a delivery report ends with that pass (the broker could not store the message now),
/// though librdkafka does not retry them itself.
fn passing(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Unknown
            | RDKafkaErrorCode::KafkaStorageError
            | RDKafkaErrorCode::NotEnoughReplicas
            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            // Ended by `replace`, to be resent through the new client.
            | RDKafkaErrorCode::PurgeQueue
            | RDKafkaErrorCode::PurgeInflight
    )
}
