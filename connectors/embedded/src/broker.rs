//! An in-process tansu broker on a loopback port, storing its log in sqlite under a data
//! directory. It speaks the Kafka protocol: the pipeline's rdkafka clients connect to it like to
//! any broker.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
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

/// Names the threads of [`serve`]'s broker runtime: a panic on one of them is a broker task
/// dying.
const BROKER_THREADS: &str = "tansu-broker";
/// Panics seen on the broker's threads, and the signal that one happened.
static PANICS: AtomicU64 = AtomicU64::new(0);
static PANICKED: Notify = Notify::const_new();
/// The first pause before a restart; it doubles up to ten seconds while restarts fail.
const RESTART_PAUSE: Duration = Duration::from_millis(500);
const RESTART_PAUSE_MAX: Duration = Duration::from_secs(10);

/// A first broker failing sooner than this is an error (a bad address or storage), not a
/// reason to restart.
const FIRST_START: Duration = Duration::from_secs(5);

/// How one broker incarnation ended.
enum Ended {
    /// It could not be built or stopped serving with an error.
    Failed(BrokerError),
    /// One of its tasks panicked: tansu cannot serve again without a restart.
    Panicked,
}

/// Runs a tansu broker (see [`build`] for the arguments) on a runtime of its own until it
/// fails, restarting it on the same storage whenever one of its tasks panics: what
/// `zeal broker` runs as its own process, and the test suite's broker.
///
/// tansu 0.6 panics in its sqlite storage actor when a write fails on a full disk; the broker
/// then keeps its connections and answers every request with an error, for ever. A fresh
/// broker on the same file (sqlite rolled the failed write back) serves again as soon as the
/// disk has room, and clients reconnect and resend. tansu's serve loop also ends with an error
/// when its storage fails; that too restarts the broker. A first broker that fails within
/// [`FIRST_START`] is an error; later failures restart it, with backoff.
pub fn serve(
    listener: Url,
    advertised: Url,
    storage: Url,
    silent: bool,
) -> Result<(), BrokerError> {
    watch_broker_panics();
    let mut pause = RESTART_PAUSE;
    for incarnation in 0u64.. {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(BROKER_THREADS)
            .build()
            .map_err(|e| BrokerError::Start(e.to_string()))?;
        let started = std::time::Instant::now();
        let ended = runtime.block_on(incarnation_of(
            listener.clone(),
            advertised.clone(),
            storage.clone(),
            silent,
        ));
        // Drops every task of this incarnation: its listener and client connections close.
        runtime.shutdown_timeout(Duration::from_secs(5));
        match ended {
            Ended::Failed(e) if incarnation == 0 && started.elapsed() < FIRST_START => {
                return Err(e);
            }
            Ended::Failed(e) => {
                tracing::error!(error = %e, incarnation, "the broker failed; restarting it");
            }
            Ended::Panicked => {
                tracing::error!(incarnation, "a broker task panicked; restarting the broker");
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            pause = RESTART_PAUSE;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(RESTART_PAUSE_MAX);
    }
    unreachable!("the incarnations never run out")
}

/// Builds and serves one broker until it fails or one of its tasks panics.
async fn incarnation_of(listener: Url, advertised: Url, storage: Url, silent: bool) -> Ended {
    let seen = PANICS.load(Ordering::SeqCst);
    let mut broker = match build(listener, advertised, storage, silent).await {
        Ok(b) => b,
        Err(e) => return Ended::Failed(e),
    };
    let serving = tokio::spawn(async move { broker.serve(Instant::now()).await });
    let panicked = async {
        // A permit left by an earlier incarnation's panic wakes this once, and is ignored.
        while PANICS.load(Ordering::SeqCst) == seen {
            PANICKED.notified().await;
        }
    };
    tokio::select! {
        served = serving => match served {
            Ok(Ok(())) => Ended::Failed(BrokerError::Start("the broker stopped serving".into())),
            Ok(Err(e)) => Ended::Failed(BrokerError::Start(format!("{e:?}"))),
            Err(_) => Ended::Panicked,
        },
        () = panicked => Ended::Panicked,
    }
}

/// Installs (once) a panic hook that, after the default report, counts and signals panics on
/// the broker's threads.
fn watch_broker_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            if std::thread::current().name() == Some(BROKER_THREADS) {
                PANICS.fetch_add(1, Ordering::SeqCst);
                PANICKED.notify_one();
            }
        }));
    });
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
