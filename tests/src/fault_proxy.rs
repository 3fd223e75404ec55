//! Network faults between the services and the broker: a TCP proxy that delays every chunk
//! and drops every connection on demand, in front of a broker of the test's own that
//! advertises the proxy's address (Kafka clients connect to the advertised address after the
//! bootstrap, so a proxy in front of the shared broker would be bypassed).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// A free loopback address (bound and released: the next process binds it).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[derive(Default)]
struct Counters {
    latency_ms: AtomicU64,
    connections: AtomicU64,
    drops: AtomicU64,
}

/// A TCP proxy to `upstream` with adjustable latency and connection drops. Its own thread and
/// runtime; stops accepting and closes every connection when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    /// Bumped to drop every open connection; `u64::MAX` stops the proxy.
    generation: watch::Sender<u64>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards each connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        let (generation, _) = watch::channel(0u64);
        let (c, g) = (counters.clone(), generation.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(accept(listener, upstream, c, g));
        });
        FaultProxy {
            addr,
            counters,
            generation,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delays every chunk, each way, by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.counters
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// Closes every open connection (clients see the broker connection reset).
    pub fn drop_connections(&self) {
        self.counters.drops.fetch_add(1, Ordering::Relaxed);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Times every connection was dropped.
    pub fn drops(&self) -> u64 {
        self.counters.drops.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.generation.send_replace(u64::MAX);
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    counters: Arc<Counters>,
    generation: watch::Sender<u64>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let mut stop = generation.subscribe();
    loop {
        let client = tokio::select! {
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = stop.wait_for(|g| *g == u64::MAX) => return,
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let (counters, mut changed) = (counters.clone(), generation.subscribe());
        changed.mark_unchanged();
        tokio::spawn(async move {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                return;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::select! {
                _ = pump(cr, sw, &counters) => {}
                _ = pump(sr, cw, &counters) => {}
                _ = changed.changed() => {}
            }
        });
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counters: &Counters,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let latency = counters.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A tansu broker of one test's own (same binary and flags as tests/run.sh's) that advertises
/// `advertised` (a [`FaultProxy`]'s address, or `listen` itself) and listens on `listen`; killed
/// and its data removed when dropped.
pub struct PrivateBroker {
    child: Child,
    dir: PathBuf,
    listen: SocketAddr,
    advertised: SocketAddr,
}

impl PrivateBroker {
    /// Starts it and waits until it accepts connections on `listen`.
    pub fn start(listen: SocketAddr, advertised: SocketAddr) -> Self {
        let dir = Self::fresh_dir();
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_in(dir, listen, advertised)
    }

    /// A directory for a broker's data no other broker has used (under the test services'
    /// directory); not created.
    pub fn fresh_dir() -> PathBuf {
        let services = std::env::var("ZEAL_TEST_SERVICES_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        services.join(crate::unique("tansu-private"))
    }

    /// [`PrivateBroker::start`] with its data in `dir` (which exists).
    pub fn start_in(dir: PathBuf, listen: SocketAddr, advertised: SocketAddr) -> Self {
        let child = Self::spawn(&dir, listen, advertised);
        PrivateBroker {
            child,
            dir,
            listen,
            advertised,
        }
    }

    fn spawn(dir: &std::path::Path, listen: SocketAddr, advertised: SocketAddr) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("tansu.log"))
            .unwrap();
        let child = std::process::Command::new(crate::required("ZEAL_TEST_TANSU_BIN"))
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://{listen}"),
                "--advertised-listener-url",
                &format!("tcp://{advertised}"),
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .current_dir(dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(listen).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private broker does not answer"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    }

    /// SIGKILLs it (a crash: whatever it had not stored is lost) and starts it again on the same
    /// address and storage after `down`, waiting until it answers.
    pub fn crash_and_restart(&mut self, down: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.child = Self::spawn(&self.dir, self.listen, self.advertised);
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
