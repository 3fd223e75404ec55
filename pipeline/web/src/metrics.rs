//! The web app's own metrics, served on its `/metrics`: requests by route pattern and status
//! class (a failed store query answers 503: `status="5xx"`) and their latency. Labels carry the
//! route's pattern (`/household/{id}`), never a household id.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    seconds: Family<RouteLabel, Histogram>,
}

/// The app's metrics (cheap to clone: shared).
#[derive(Clone)]
pub struct WebMetrics(Arc<Inner>);

impl Default for WebMetrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let seconds = Family::<RouteLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 14))) as fn() -> Histogram,
        );
        let mut registry = Registry::with_prefix("zeal_web");
        registry.register(
            "requests",
            "HTTP requests answered, by route pattern and status class",
            requests.clone(),
        );
        registry.register(
            "request_seconds",
            "Time to answer a request, by route pattern",
            seconds.clone(),
        );
        WebMetrics(Arc::new(Inner {
            registry,
            requests,
            seconds,
        }))
    }
}

impl WebMetrics {
    /// Counts one answered request.
    pub fn answered(&self, route: &str, status: u16, took: Duration) {
        let class = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.0
            .requests
            .get_or_create(&RequestLabels {
                route: route.into(),
                status: class.into(),
            })
            .inc();
        self.0
            .seconds
            .get_or_create(&RouteLabel {
                route: route.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_pattern_and_status_class() {
        let m = WebMetrics::default();
        m.answered("/household/{id}", 200, Duration::from_millis(3));
        m.answered("/household/{id}", 404, Duration::from_millis(1));
        m.answered("/household/{id}", 200, Duration::from_millis(2));
        m.answered("/leaderboard", 503, Duration::from_millis(2));
        let text = m.render();
        assert!(
            text.contains(r#"zeal_web_requests_total{route="/household/{id}",status="2xx"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"zeal_web_requests_total{route="/household/{id}",status="4xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"zeal_web_request_seconds_count{route="/household/{id}"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"zeal_web_requests_total{route="/leaderboard",status="5xx"} 1"#),
            "{text}"
        );
    }
}
