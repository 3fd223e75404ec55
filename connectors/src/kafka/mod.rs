//! Kafka connectors on rdkafka (librdkafka).
//!
//! All region-keyed topics share one partition count and the Java-compatible murmur2 partitioner
//! ([`partitioner`]), so the partition of a region is the same on every topic and a gateway can
//! compute it to assign itself the partitions of its regions.

pub mod admin;
pub mod consumer;
pub mod names;
pub mod partitioner;
pub mod producer;
pub mod replay;

use rdkafka::ClientConfig;
use std::time::Duration;

pub use admin::{TopicSpec, TopicStatus, ensure_topics, topic_configs, zeal_topics};
pub use consumer::{AssignedConsumer, GroupConsumer, StartAt};
pub use names::{TopicNames, TopicPolicy};
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{Delivered, KeyedProducer};
pub use replay::{Replay, ReplayProgress};

/// How long metadata, offset and commit requests may take before they fail.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Connection settings shared by every Kafka client of a process.
#[derive(Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// Reported to the broker; shows up in its logs and metrics.
    pub client_id: String,
    /// Extra librdkafka properties (security, tuning), applied last.
    pub extra: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Settings for a broker at `bootstrap`.
    pub fn new(bootstrap: impl Into<String>, client_id: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap: bootstrap.into(),
            client_id: client_id.into(),
            extra: Vec::new(),
        }
    }

    /// The bootstrap servers the clients will use: a `bootstrap.servers` among the `extra`
    /// properties wins over `bootstrap`, as it does in [`Self::client_config`].
    pub fn servers(&self) -> &str {
        let extra = self
            .extra
            .iter()
            .rev()
            .find(|(k, _)| k == "bootstrap.servers");
        extra.map_or(&self.bootstrap, |(_, v)| v)
    }

    /// The librdkafka configuration these settings describe.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config_with(&[])
    }

    /// [`Self::client_config`] with a client kind's own settings (a consumer's, a producer's);
    /// the `extra` settings still apply last, so an operator can override any of them.
    pub fn client_config_with(&self, kind: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", &self.client_id)
            // Keep librdkafka from logging through stderr on its own; errors surface as values.
            .set("log.connection.close", "false")
            .set("socket.timeout.ms", "10000")
            // After a dropped connection, try again within a second, not librdkafka's 10 s: with
            // connections dropped every 2 s, clients were offline most of the time and a third of
            // the rounds missed a phase (nemesis soak, docs/decisions.md).
            .set("reconnect.backoff.max.ms", "1000");
        for (k, v) in kind {
            c.set(*k, *v);
        }
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }
}

/// Shows the `extra` properties with the values of secret ones (passwords, keys, tokens)
/// replaced, so settings can be logged.
impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra: Vec<String> = self
            .extra
            .iter()
            .map(|(k, v)| match is_secret(k) {
                true => format!("{k}=<redacted>"),
                false => format!("{k}={v}"),
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("bootstrap", &self.bootstrap)
            .field("client_id", &self.client_id)
            .field("extra", &extra)
            .finish()
    }
}

/// Whether a librdkafka property holds a secret (its value is never shown).
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        ".pem",
        "jaas",
        "oauthbearer.config",
        "token",
    ]
    .iter()
    .any(|s| key.contains(s))
}

/// A librdkafka property that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}: {text:?} is not a librdkafka property: use key=value (as kcat -X takes it)")]
pub struct BadProperty {
    /// Line number (1-based) in a properties file; 0 for a single `-X` value.
    pub line: usize,
    /// The offending text (a secret's value elided).
    pub text: String,
}

/// One `key=value` librdkafka property (`-X security.protocol=SASL_SSL`).
pub fn parse_property(text: &str) -> Result<(String, String), BadProperty> {
    property_at(text, 0)
}

fn property_at(text: &str, line: usize) -> Result<(String, String), BadProperty> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !k.trim().contains(char::is_whitespace) => {
            Ok((k.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(BadProperty {
            line,
            text: match is_secret(text) {
                true => {
                    let key = text.split(['=', ' ', '\t']).next().unwrap_or_default();
                    format!("{key} <redacted>")
                }
                false => text.to_string(),
            },
        }),
    }
}

/// A properties file as Java clients and kcat's `-F` read it: `key=value` lines; blank lines
/// and lines starting with `#` or `!` are skipped.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, BadProperty> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !matches!(l.trim_start().chars().next(), None | Some('#' | '!')))
        .map(|(i, l)| property_at(l, i + 1))
        .collect()
}

/// One consumed message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// Producer (create) time in milliseconds since the epoch, when the broker reports one.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    pub(crate) fn from_message<M: rdkafka::Message>(m: &M) -> Record {
        Record {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            timestamp_ms: m.timestamp().to_millis(),
        }
    }
}

/// What an operator should check when no broker answered: printed by the binaries under an
/// error for which [`unreachable_hint`] holds.
pub const UNREACHABLE_HINT: &str = "no broker answered in time. Check that --bootstrap names a \
    running broker and that this client speaks its listener's protocol: plaintext unless -X \
    security.protocol=ssl, sasl_ssl or sasl_plaintext says otherwise (a TLS client at a plaintext \
    listener, or the other way round, only ever times out), with -X ssl.ca.location=CA when the \
    broker's certificate is not signed by a CA this machine trusts.";

/// Whether `err`, or an error it wraps, says no broker answered in time or the connection
/// failed (a time-out, every broker down, a transport, TLS or authentication failure). A TLS
/// client at a plaintext listener gets no answer at all (the broker waits for the rest of what
/// it takes for a request), so a time-out is all librdkafka reports: the binaries add
/// [`UNREACHABLE_HINT`].
pub fn unreachable_hint(err: &(dyn std::error::Error + 'static)) -> bool {
    use rdkafka::error::KafkaError as K;
    use rdkafka::types::RDKafkaErrorCode as C;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(k) = e.downcast_ref::<K>() {
            let code = match k {
                K::AdminOp(c) => Some(*c),
                k => k.rdkafka_error_code(),
            };
            if matches!(
                code,
                Some(
                    C::OperationTimedOut
                        | C::MessageTimedOut
                        | C::AllBrokersDown
                        | C::BrokerTransportFailure
                        | C::SSL
                        | C::Authentication
                )
            ) {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// Errors of the Kafka connectors.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// An error reported by librdkafka.
    #[error("kafka {op}: {source}")]
    Client {
        op: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The broker refused to create a topic.
    #[error("cannot create topic {topic}: {code}")]
    CreateTopic { topic: String, code: String },
    /// The broker could not describe a topic's configs.
    #[error("cannot read the configs of topic {topic}: {code}")]
    DescribeConfigs { topic: String, code: String },
    /// An existing topic does not have the layout the pipeline relies on.
    #[error(
        "topic {topic} has {found} partitions, expected {expected}: region-keyed topics must \
         share one partition count (recreate it or change --partitions)"
    )]
    PartitionMismatch {
        topic: String,
        expected: i32,
        found: i32,
    },
    /// A topic the operation needs does not exist.
    #[error("topic {topic} does not exist (run `zeal topics create`)")]
    MissingTopic { topic: String },
    /// A message could not be delivered.
    #[error("delivery to {topic} failed: {source}")]
    Delivery {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A replay stopped receiving before reaching the end offsets it started with.
    #[error("replay received nothing for {seconds} s with partitions left: {}", pending.join(", "))]
    ReplayStalled { seconds: u64, pending: Vec<String> },
    /// The producer's delivery thread could not be started.
    #[error("cannot start the producer's delivery thread: {0}")]
    Thread(#[source] std::io::Error),
    /// An encode error on the way out.
    #[error(transparent)]
    Encode(#[from] zeal_schemas::EncodeError),
}

pub(crate) fn client_err(
    op: &'static str,
) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaError {
    move |source| KafkaError::Client {
        op,
        source: redacted(source),
    }
}

/// librdkafka's configuration errors quote the property's value: a secret's is replaced.
fn redacted(e: rdkafka::error::KafkaError) -> rdkafka::error::KafkaError {
    use rdkafka::error::KafkaError::ClientConfig;
    match e {
        ClientConfig(code, desc, key, value) if is_secret(&key) && !value.is_empty() => {
            let desc = desc.replace(&value, "<redacted>");
            ClientConfig(code, desc, key, "<redacted>".into())
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_broker_that_never_answers_gets_the_hint_and_nothing_else_does() {
        use rdkafka::error::KafkaError as K;
        use rdkafka::types::RDKafkaErrorCode as C;
        let wrapped = super::KafkaError::Client {
            op: "create topics",
            source: K::AdminOp(C::OperationTimedOut),
        };
        assert!(super::unreachable_hint(&wrapped));
        assert!(super::unreachable_hint(&K::MetadataFetch(
            C::AllBrokersDown
        )));
        assert!(!super::unreachable_hint(&K::AdminOp(C::TopicAlreadyExists)));
        let missing = super::KafkaError::MissingTopic { topic: "t".into() };
        assert!(!super::unreachable_hint(&missing));
    }

    use super::*;

    #[test]
    fn a_clients_own_settings_apply_and_the_operators_extra_overrides_them() {
        let mut k = KafkaConfig::new("broker:9092", "zeal-test");
        k.extra = vec![("acks".into(), "1".into())];
        let c = k.client_config_with(&[("acks", "all"), ("linger.ms", "5")]);
        assert_eq!(c.get("acks"), Some("1"), "the operator's setting wins");
        assert_eq!(c.get("linger.ms"), Some("5"));
        assert_eq!(c.get("bootstrap.servers"), Some("broker:9092"));
        assert_eq!(k.client_config().get("linger.ms"), None);
    }

    #[test]
    fn properties_are_read_as_kcat_reads_them_and_secrets_never_shown() {
        assert_eq!(
            parse_property("security.protocol=SASL_SSL").unwrap(),
            ("security.protocol".into(), "SASL_SSL".into())
        );
        // A value may itself hold '=' (a JAAS line, a base64 key).
        assert_eq!(parse_property("sasl.password=a=b=").unwrap().1, "a=b=");
        for bad in ["novalue", "=x", "two words=x", ""] {
            assert!(parse_property(bad).is_err(), "{bad:?}");
        }
        let file = "# the utility's cluster\n\nsecurity.protocol = SASL_SSL\n! legacy comment\n\
                    sasl.mechanism=SCRAM-SHA-256\nsasl.password=hunter2\n";
        let props = parse_properties(file).unwrap();
        assert_eq!(props.len(), 3);
        assert_eq!(props[0], ("security.protocol".into(), "SASL_SSL".into()));
        let err = parse_properties("a=1\nsasl.password hunter2\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let mut k = KafkaConfig::new("broker:9092", "zeal-test");
        k.extra = props;
        let shown = format!("{k:?}");
        assert!(shown.contains("sasl.mechanism=SCRAM-SHA-256"), "{shown}");
        assert!(shown.contains("sasl.password=<redacted>"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(k.client_config().get("sasl.password"), Some("hunter2"));
        assert_eq!(k.servers(), "broker:9092");
        k.extra
            .push(("bootstrap.servers".into(), "tls-broker:9093".into()));
        assert_eq!(k.servers(), "tls-broker:9093");
        // librdkafka quotes a refused value in its error: never a secret's.
        let refused = rdkafka::error::KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"hunter2\" for configuration property \"sasl.password\"".into(),
            "sasl.password".into(),
            "hunter2".into(),
        );
        let shown = client_err("create producer")(refused).to_string();
        assert!(
            shown.contains("sasl.password") && !shown.contains("hunter2"),
            "{shown}"
        );
        let plain = rdkafka::error::KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"9\"".into(),
            "linger.ms".into(),
            "9".into(),
        );
        assert!(client_err("x")(plain).to_string().contains("\"9\""));
    }
}
