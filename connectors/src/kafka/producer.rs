//! The keyed producer: idempotent (no duplicates or reordering on retry), acks from all
//! replicas, and the murmur2 partitioner so keys land where [`super::partition_for_key`] says.
//!
//! Delivery reports are served by a thread of ours that sleeps until librdkafka says an event
//! arrived (`rd_kafka_queue_cb_event_enable`). rdkafka's `FutureProducer` polls in 100 ms slices
//! and, because its deadline rounds the last sub-millisecond down to a 0 ms wait, spins for up
//! to 1 ms at the end of every slice: about 1 % of a core in every idle process (aggregators,
//! and gateways in households). README "Dependencies" has the measurement.

use super::{KafkaConfig, KafkaError, client_err};
use rdkafka::bindings as rdsys;
use rdkafka::error::KafkaError as ClientError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
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

/// Owns the delivery thread; the last clone of a [`KeyedProducer`] stops it.
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
    handle: Arc<Handle>,
}

impl KeyedProducer {
    /// Creates the producer; no connection is made until the first send.
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let mut c = config.client_config();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000");
        for (k, v) in &config.extra {
            c.set(k, v);
        }
        let producer = c
            .create_with_context(Deliveries)
            .map_err(client_err("create producer"))?;
        Ok(KeyedProducer {
            handle: Arc::new(Handle::start(producer)?),
        })
    }

    /// Sends raw bytes and waits for the broker's acknowledgement.
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
        let (tx, rx) = oneshot::channel();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(tx))
            .key(key)
            .payload(payload);
        if let Some(ts) = timestamp_ms {
            record = record.timestamp(ts);
        }
        let start = Instant::now();
        loop {
            match self.handle.shared.producer.send(record) {
                Ok(()) => break,
                Err((ClientError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                    if start.elapsed() < QUEUE_TIMEOUT =>
                {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err((source, _)) => return Err(failed(source)),
            }
        }
        match rx.await {
            Ok(report) => report.map_err(failed),
            // The report was dropped unanswered (the client is shutting down).
            Err(_) => Err(failed(ClientError::Canceled)),
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
        self.handle
            .shared
            .producer
            .flush(timeout)
            .map_err(client_err("flush"))
    }

    /// How often the delivery thread has woken so far: about once per event burst, and once a
    /// second when idle (it never polls on a timer shorter than that).
    pub fn wakeups(&self) -> u64 {
        self.handle.shared.wakeups.load(Ordering::Relaxed)
    }
}
