//! An in-process tansu broker on a loopback port, storing its log in sqlite under a data
//! directory. It speaks the Kafka protocol: the pipeline's rdkafka clients connect to it like to
//! any broker.

use std::path::Path;
use tokio::time::Instant;
pub use url::Url;

/// Errors starting the embedded broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("embedded broker: {0}")]
    Start(String),
    #[error("the broker's data directory must lie under the working directory ({0})")]
    DataDir(String),
}

type Tansu = tansu_broker::broker::Broker<
    tansu_broker::coordinator::group::administrator::Controller<tansu_storage::StorageContainer>,
    tansu_storage::StorageContainer,
>;

/// A tansu broker (not yet serving): Kafka clients connect to `listener` and are told
/// `advertised` in metadata; the log is kept in `storage` (`sqlite://<path>`, resolved against
/// the working directory). `silent` turns off tansu's own request logging.
async fn build(
    listener: Url,
    advertised: Url,
    storage: Url,
    silent: bool,
) -> Result<Tansu, BrokerError> {
    Tansu::builder()
        .node_id(tansu_broker::NODE_ID)
        .cluster_id("zebra-zeal-embedded")
        .incarnation_id(uuid::Uuid::new_v4())
        .advertised_listener(advertised)
        .listener(listener)
        .storage(storage)
        .silent(silent)
        .build()
        .await
        .map_err(|e| BrokerError::Start(format!("{e:?}")))
}

/// Runs a tansu broker in this task until it fails (see [`build`] for the arguments): what
/// `zeal broker` runs as its own process, and the test suite's broker.
pub async fn serve(
    listener: Url,
    advertised: Url,
    storage: Url,
    silent: bool,
) -> Result<(), BrokerError> {
    let mut broker = build(listener, advertised, storage, silent).await?;
    broker
        .serve(Instant::now())
        .await
        .map_err(|e| BrokerError::Start(format!("{e:?}")))
}

/// A running in-process broker.
pub struct EmbeddedBroker {
    bootstrap: String,
    task: tokio::task::JoinHandle<()>,
}

impl EmbeddedBroker {
    /// `data_dir` relative to the working directory, or why the broker cannot store there:
    /// commands that work for minutes before starting a broker check this first.
    pub fn storage_dir(data_dir: &Path) -> Result<std::path::PathBuf, BrokerError> {
        let cwd = std::env::current_dir().map_err(|e| BrokerError::Start(e.to_string()))?;
        let abs = if data_dir.is_absolute() {
            data_dir.to_path_buf()
        } else {
            cwd.join(data_dir)
        };
        abs.strip_prefix(&cwd)
            .map(Path::to_path_buf)
            .map_err(|_| BrokerError::DataDir(abs.display().to_string()))
    }

    /// Starts a broker on a free loopback port with sqlite storage in `data_dir` (created if
    /// needed). tansu resolves sqlite paths against the working directory (an absolute path
    /// is doubled), so `data_dir` must be under it.
    pub async fn start(data_dir: &Path) -> Result<Self, BrokerError> {
        let relative = Self::storage_dir(data_dir)?;
        std::fs::create_dir_all(data_dir).map_err(|e| BrokerError::Start(e.to_string()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| BrokerError::Start(e.to_string()))?
            .port();
        let listener: Url = format!("tcp://127.0.0.1:{port}")
            .parse()
            .expect("valid url");
        let storage: Url = format!("sqlite://{}", relative.join("broker.db").display())
            .parse()
            .map_err(|e| BrokerError::Start(format!("storage url: {e}")))?;
        let mut broker = build(listener.clone(), listener, storage, true).await?;
        let task = tokio::spawn(async move {
            if let Err(e) = broker.serve(Instant::now()).await {
                tracing::error!(error = ?e, "embedded broker stopped");
            }
        });
        let bootstrap = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(&bootstrap).await.is_ok() {
                return Ok(EmbeddedBroker { bootstrap, task });
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(BrokerError::Start(
            "the broker did not start listening".into(),
        ))
    }

    /// `host:port` for Kafka clients.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}
