//! What every long-running process shares beside its I/O: the wall clock and the shutdown
//! signal (services, the web app and the commands all stop on the same watch channel).

/// Milliseconds since the Unix epoch, from the wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A shutdown signal shared by a process's tasks (true: stop).
pub type Shutdown = tokio::sync::watch::Receiver<bool>;

/// Resolves once `shutdown` turns true (or its sender is gone).
pub async fn stopped(mut shutdown: Shutdown) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopped_resolves_on_the_signal_and_when_the_sender_is_gone() {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let waiting = tokio::spawn(stopped(rx.clone()));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "resolved before the signal");
        tx.send(true).unwrap();
        waiting.await.unwrap();
        let (tx, rx) = tokio::sync::watch::channel(false);
        drop(tx);
        stopped(rx).await;
    }
}
