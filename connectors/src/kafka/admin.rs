//! Topic administration: create the pipeline's topics idempotently and check their layout.

use super::{KafkaConfig, KafkaError, REQUEST_TIMEOUT, client_err};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

/// Each topic's configs as the broker reports them (`retention.ms`, ...; secret ones left
/// out), in one request for all of them.
pub async fn topic_configs(
    config: &KafkaConfig,
    topics: &[&str],
) -> Result<
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    KafkaError,
> {
    use rdkafka::admin::ResourceSpecifier;
    let admin: AdminClient<DefaultClientContext> = config
        .client_config()
        .create()
        .map_err(client_err("create admin client"))?;
    let opts = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
    let specifiers: Vec<ResourceSpecifier<'_>> =
        topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let results = admin
        .describe_configs(&specifiers, &opts)
        .await
        .map_err(client_err("describe configs"))?;
    let mut out = std::collections::BTreeMap::new();
    // One result per resource, in the order asked.
    for (topic, result) in topics.iter().zip(results) {
        let resource = result.map_err(|code| KafkaError::DescribeConfigs {
            topic: topic.to_string(),
            code: code.to_string(),
        })?;
        let mut configs = std::collections::BTreeMap::new();
        for e in resource.entries {
            if let (Some(value), false) = (e.value, e.is_sensitive) {
                configs.insert(e.name, value);
            }
        }
        out.insert(topic.to_string(), configs);
    }
    Ok(out)
}

/// A topic the pipeline needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication: i32,
    /// Topic-level configs, e.g. `cleanup.policy=compact`.
    pub configs: Vec<(String, String)>,
}

impl TopicSpec {
    /// A topic with default configs.
    pub fn new(name: impl Into<String>, partitions: i32, replication: i32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication,
            configs: Vec::new(),
        }
    }

    /// Adds a topic-level config.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// What [`ensure_topics`] found or did for one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicStatus {
    Created,
    AlreadyExisted,
}

/// The pipeline's topics (DESIGN §3) under their standard names: region-keyed topics share
/// `partitions`; the registry is compacted so the latest enrolment of every meter is kept.
pub fn zeal_topics(partitions: i32, replication: i32) -> Vec<TopicSpec> {
    super::TopicNames::default().specs(partitions, replication)
}

/// Creates every missing topic and checks that existing ones have the expected partition count.
/// Safe to run any number of times, from several processes at once.
pub async fn ensure_topics(
    config: &KafkaConfig,
    specs: &[TopicSpec],
) -> Result<Vec<(String, TopicStatus)>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config
        .client_config()
        .create()
        .map_err(client_err("create admin client"))?;
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|s| {
            let mut t = NewTopic::new(
                &s.name,
                s.partitions,
                TopicReplication::Fixed(s.replication),
            );
            for (k, v) in &s.configs {
                t = t.set(k, v);
            }
            t
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .create_topics(new_topics.iter(), &opts)
        .await
        .map_err(client_err("create topics"))?;
    let mut out = Vec::with_capacity(specs.len());
    for result in results {
        match result {
            Ok(name) => out.push((name, TopicStatus::Created)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                out.push((name, TopicStatus::AlreadyExisted))
            }
            Err((name, code)) => {
                return Err(KafkaError::CreateTopic {
                    topic: name,
                    code: code.to_string(),
                });
            }
        }
    }
    for spec in specs {
        let found = partition_count(config, &spec.name).await?;
        if found != spec.partitions {
            return Err(KafkaError::PartitionMismatch {
                topic: spec.name.clone(),
                expected: spec.partitions,
                found,
            });
        }
    }
    Ok(out)
}

/// Number of partitions of a topic, from broker metadata.
pub async fn partition_count(config: &KafkaConfig, topic: &str) -> Result<i32, KafkaError> {
    let config = config.clone();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = config
            .client_config()
            .create()
            .map_err(client_err("create metadata client"))?;
        // A freshly created topic can take a moment to appear in metadata.
        let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
        loop {
            let md = consumer
                .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
                .map_err(client_err("fetch metadata"))?;
            let t = md.topics().iter().find(|t| t.name() == topic);
            match t {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                    return Ok(t.partitions().len() as i32);
                }
                _ if std::time::Instant::now() >= deadline => {
                    return Err(KafkaError::MissingTopic { topic });
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(200)),
            }
        }
    })
    .await
    .expect("metadata task panicked")
}
