//! The Kafka connectors against the real broker (tansu): topic administration, keyed idempotent
//! produce with the murmur2 partitioner, consumer groups with commits, and time-range replay.

use std::collections::BTreeSet;
use std::time::Duration;
use zeal_connectors::kafka::consumer::StartAt;
use zeal_connectors::kafka::{
    AssignedConsumer, GroupConsumer, KafkaError, KeyedProducer, Replay, TopicSpec, TopicStatus,
    ensure_topics, partition_for_key,
};
use zeal_schemas::{HouseholdReading, decode, encode};
use zeal_tests::fault_proxy::{PrivateBroker, free_addr};
use zeal_tests::region::TinyDisk;
use zeal_tests::{kafka, unique};

const T0: i64 = 1_593_561_600_000;

fn reading(household: &str, i: i64) -> HouseholdReading {
    HouseholdReading {
        household_id: household.into(),
        region: "NL-UT-01".into(),
        interval_start: T0 + i * 900_000,
        interval_seconds: 900,
        import_wh: 100 + i,
        export_wh: i % 3,
        generation_wh: None,
        signature: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_once_and_checked() {
    let cfg = kafka();
    let name = unique("zt.admin");
    let spec = vec![TopicSpec::new(&name, 3, 1).config("cleanup.policy", "compact")];
    let first = ensure_topics(&cfg, &spec).await.unwrap();
    assert_eq!(first, vec![(name.clone(), TopicStatus::Created)]);
    let second = ensure_topics(&cfg, &spec).await.unwrap();
    assert_eq!(second, vec![(name.clone(), TopicStatus::AlreadyExisted)]);
    let wrong = vec![TopicSpec::new(&name, 4, 1)];
    match ensure_topics(&cfg, &wrong).await {
        Err(KafkaError::PartitionMismatch {
            expected: 4,
            found: 3,
            ..
        }) => {}
        other => panic!("expected a partition mismatch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_avro_messages_flow_through_a_consumer_group() {
    let cfg = kafka();
    let topic = unique("zt.readings");
    ensure_topics(&cfg, &[TopicSpec::new(&topic, 6, 1)])
        .await
        .unwrap();
    let producer = KeyedProducer::new(&cfg).unwrap();
    let households = ["h-001", "h-002", "h-003", "h-004", "h-005"];
    let mut sent = BTreeSet::new();
    for i in 0..8 {
        for h in households {
            let msg = reading(h, i);
            let d = producer
                .send_message(&topic, h.as_bytes(), &msg)
                .await
                .unwrap();
            assert_eq!(
                d.partition,
                partition_for_key(h.as_bytes(), 6),
                "the producer must use Kafka's murmur2 partitioner"
            );
            sent.insert((h.to_string(), msg.interval_start));
        }
    }

    let group = unique("zt.group");
    let consumer = GroupConsumer::subscribe(&cfg, &group, &[&topic]).unwrap();
    let mut received = BTreeSet::new();
    let mut last = None;
    while received.len() < sent.len() {
        let record = consumer
            .recv(Duration::from_secs(30))
            .await
            .unwrap()
            .expect("all messages arrive within 30 s");
        let msg: HouseholdReading = decode(&record.payload).unwrap();
        assert_eq!(record.key.as_deref(), Some(msg.household_id.as_bytes()));
        assert!(
            received.insert((msg.household_id.clone(), msg.interval_start)),
            "duplicate delivery of {msg:?}"
        );
        // Commit the newest record of each partition.
        last = Some(record);
        consumer.commit(last.as_ref().unwrap()).await.unwrap();
    }
    assert_eq!(received, sent);
    let last = last.unwrap();
    assert_eq!(
        consumer
            .committed_offset(&last.topic, last.partition)
            .unwrap(),
        Some(last.offset + 1)
    );
    drop(consumer);

    // A new member of the same group resumes after the committed offsets: it sees only what
    // was produced after them. (Offsets of every partition were committed as records arrived.)
    let extra = reading("h-001", 100);
    producer
        .send_message(&topic, b"h-001", &extra)
        .await
        .unwrap();
    let again = GroupConsumer::subscribe(&cfg, &group, &[&topic]).unwrap();
    let record = again
        .recv(Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the new message arrives");
    assert_eq!(decode::<HouseholdReading>(&record.payload).unwrap(), extra);
    assert!(
        again.recv(Duration::from_secs(3)).await.unwrap().is_none(),
        "committed messages were delivered again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_returns_exactly_a_time_range() {
    let cfg = kafka();
    let topic = unique("zt.replay");
    ensure_topics(&cfg, &[TopicSpec::new(&topic, 2, 1)])
        .await
        .unwrap();
    let producer = KeyedProducer::new(&cfg).unwrap();
    // Ten messages one second apart (producer timestamps), over two partitions.
    for i in 0..10i64 {
        let key = if i % 2 == 0 { "NL-UT-01" } else { "NL-UT-02" };
        let payload = encode(&reading(key, i)).unwrap();
        producer
            .send(&topic, key.as_bytes(), &payload, Some(T0 + i * 1000))
            .await
            .unwrap();
    }
    let mut replay = Replay::start(&cfg, &unique("zt.audit"), &[&topic], T0 + 3000, T0 + 6000)
        .await
        .unwrap();
    let total = replay.progress().total;
    let mut stamps = Vec::new();
    while let Some(r) = replay.next().await.unwrap() {
        stamps.extend(r.timestamp_ms);
    }
    stamps.sort();
    assert_eq!(stamps, vec![T0 + 3000, T0 + 4000, T0 + 5000, T0 + 6000]);
    // The replay seeks to the range and stops at its end: it reads the range's 4 messages, not
    // the log's 10.
    assert_eq!(total, 4, "what is left to read when the replay starts");
    assert_eq!(replay.progress().read, 4, "{:?}", replay.progress());

    // A range past the log's end reads nothing (tansu 0.6 answers such a time query with the
    // partition's first offset, where Kafka answers "none": a replay of everything, filtered,
    // until that answer was checked).
    let none = Replay::start(
        &cfg,
        &unique("zt.audit"),
        &[&topic],
        T0 + 60_000,
        T0 + 70_000,
    )
    .await
    .unwrap();
    assert_eq!(none.progress().total, 0);
    assert!(none.collect().await.unwrap().is_empty());
    // A range that ends past the log reads its tail and no more; one before it, nothing.
    let mut tail = Replay::start(&cfg, &unique("zt.audit"), &[&topic], T0 + 7000, T0 + 99_000)
        .await
        .unwrap();
    assert_eq!(tail.progress().total, 3);
    let mut n = 0;
    while tail.next().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!((n, tail.progress().read), (3, 3));
    let before = Replay::start(&cfg, &unique("zt.audit"), &[&topic], T0 - 9000, T0 - 1)
        .await
        .unwrap();
    assert_eq!(before.progress().total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_consumer_reads_its_partition_and_seeks() {
    let cfg = kafka();
    let topic = unique("zt.assigned");
    ensure_topics(&cfg, &[TopicSpec::new(&topic, 4, 1)])
        .await
        .unwrap();
    let producer = KeyedProducer::new(&cfg).unwrap();
    let key = b"NL-GR-07";
    let partition = partition_for_key(key, 4);
    for i in 0..5 {
        producer
            .send(&topic, key, format!("m{i}").as_bytes(), None)
            .await
            .unwrap();
    }
    let consumer = AssignedConsumer::new(&cfg, &unique("zt.gw")).unwrap();
    let (low, high) =
        tokio::task::block_in_place(|| consumer.watermarks(&topic, partition)).unwrap();
    assert_eq!(high - low, 5);
    // A topic nobody created (a deployment upgraded without `zeal topics create`) is named.
    let never = unique("zt.never-created");
    match tokio::task::block_in_place(|| consumer.watermarks(&never, 0)) {
        Err(zeal_connectors::kafka::KafkaError::MissingTopic { topic }) => assert_eq!(topic, never),
        other => panic!("{other:?}"),
    }
    consumer
        .assign(&[(topic.as_str(), partition, StartAt::Beginning)])
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = consumer
            .recv(Duration::from_secs(30))
            .await
            .unwrap()
            .expect("message");
        assert_eq!(r.partition, partition);
        seen.push(String::from_utf8(r.payload).unwrap());
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);
    tokio::task::block_in_place(|| consumer.seek(&topic, partition, low + 3)).unwrap();
    let r = consumer
        .recv(Duration::from_secs(30))
        .await
        .unwrap()
        .expect("message after seek");
    assert_eq!(r.payload, b"m3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_reports_every_delivery_and_sleeps_when_idle() {
    let cfg = kafka();
    let topic = unique("zt.deliveries");
    ensure_topics(&cfg, &[TopicSpec::new(&topic, 1, 1)])
        .await
        .unwrap();
    let producer = KeyedProducer::new(&cfg).unwrap();
    let payloads: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    let sends = payloads
        .iter()
        .map(|p| producer.send(&topic, b"NL-UT-01", p.as_bytes(), None));
    let mut offsets: Vec<i64> = futures::future::try_join_all(sends)
        .await
        .unwrap()
        .iter()
        .map(|d| d.offset)
        .collect();
    offsets.sort();
    let first = offsets[0];
    assert_eq!(offsets, (first..first + 40).collect::<Vec<_>>());
    // Idle, the delivery thread sleeps until librdkafka signals an event; a poller on a short
    // timer (rdkafka's own polls in 100 ms slices) would wake 30 times here.
    let before = producer.wakeups();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = producer.wakeups() - before;
    assert!(
        idle <= 6,
        "the delivery thread woke {idle} times in 3 idle seconds"
    );
    // A burst after the idle spell is still reported.
    let d = producer.send(&topic, b"NL-UT-01", b"late", None).await;
    assert_eq!(d.unwrap().offset, first + 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_reaches_the_sender() {
    let mut cfg = zeal_connectors::kafka::KafkaConfig::new("127.0.0.1:1", unique("zt.nobroker"));
    cfg.extra.push(("message.timeout.ms".into(), "1500".into()));
    let producer = KeyedProducer::new(&cfg).unwrap();
    let sent = tokio::time::timeout(
        Duration::from_secs(30),
        producer.send("zt.nowhere", b"k", b"v", None),
    )
    .await
    .expect("the failure is reported, not left waiting");
    match sent {
        Err(KafkaError::Delivery { topic, .. }) => assert_eq!(topic, "zt.nowhere"),
        other => panic!("expected a delivery failure, got {other:?}"),
    }
}

/// The broker's disk fills while a send is in flight. tansu then answers UNKNOWN_SERVER_ERROR,
/// which librdkafka does not retry, and its storage panics, which leaves it answering errors
/// for ever; a send that passed the error on would stop every gateway and aggregator for a disk
/// that has room again seconds later (the nemesis soak's broker disk full episodes). The send
/// resends through a new client until the broker, restarted by `zeal broker`, takes the
/// message, which is then on the topic once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_rides_out_a_full_broker_disk() {
    let dir = PrivateBroker::fresh_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // Declared before the broker, so dropped after it.
    let Some(disk) = TinyDisk::mount_sized(&dir, "32m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
        return;
    };
    let listen = free_addr();
    let _broker = PrivateBroker::start_in(dir, listen, listen);
    let cfg = zeal_connectors::kafka::KafkaConfig::new(listen.to_string(), unique("zt.full"));
    let topic = unique("zt.full");
    ensure_topics(&cfg, &[TopicSpec::new(&topic, 1, 1)])
        .await
        .unwrap();
    let producer = KeyedProducer::new(&cfg).unwrap();
    let first = producer.send(&topic, b"k", b"before", None).await.unwrap();

    tokio::task::block_in_place(|| disk.fill());
    let sending = {
        let (p, t) = (producer.clone(), topic.clone());
        tokio::spawn(async move { p.send(&t, b"k", b"during", None).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while producer.resends() == 0 {
        assert!(
            !sending.is_finished(),
            "the send ended while the disk was full: {:?}",
            sending.await.unwrap()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the broker never refused a delivery"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::task::block_in_place(|| disk.free());
    let during = tokio::time::timeout(Duration::from_secs(120), sending)
        .await
        .expect("the send completes once the disk has room")
        .unwrap()
        .expect("delivered");
    let last = producer.send(&topic, b"k", b"after", None).await.unwrap();
    assert!(first.offset < during.offset && during.offset < last.offset);

    let consumer = AssignedConsumer::new(&cfg, &unique("zt.full")).unwrap();
    consumer
        .assign(&[(topic.as_str(), 0, StartAt::Beginning)])
        .unwrap();
    let mut seen = Vec::new();
    while seen.last().is_none_or(|p| p != "after") {
        let r = consumer
            .recv(Duration::from_secs(30))
            .await
            .unwrap()
            .expect("the topic holds every acknowledged message");
        seen.push(String::from_utf8(r.payload).unwrap());
    }
    assert_eq!(seen, ["before", "during", "after"]);
}
